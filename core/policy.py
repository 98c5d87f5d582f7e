"""Lifecycle policy as code: one YAML file per model, validated into a typed model on load.

A bad policy must never reach an orchestration, and the person who wrote it must be able to fix
it from the error alone: every PolicyError names the file, the field path and what to write.
The policy hash (sha256 of the validated, normalised content) goes into every run's lineage so a
decision can always be traced back to the exact rules that produced it.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

import yaml
from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}[a-z0-9]$")
POLICY_GLOB = "*/policy.yaml"


class PolicyError(ValueError):
    """A policy file that cannot be used; the message says where and how to fix it."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------- sections


class SplitPolicy(_Strict):
    eval_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.2
    seed: int = 42


class DataPolicy(_Strict):
    container: str = "raw"
    prefix: str  # blobs under raw/{prefix} belong to this model
    contract: Path  # data contract YAML, relative to the policy file
    split: SplitPolicy = SplitPolicy()


class TrainingPolicy(_Strict):
    job: Path  # AML v2 job YAML, relative to the policy file
    evaluation_job: Path  # evaluation job YAML (scores challenger and champion on one split)
    compute: str | None = None  # AML compute; None keeps the job YAML's own
    experiment: str
    deadline_seconds: Annotated[int, Field(gt=0)] = 3600
    poll_seconds: Annotated[int, Field(gt=0)] = 30


class EvaluationPolicy(_Strict):
    metric: str = "auc"
    direction: Literal["max", "min"] = "max"
    min_abs_gain: Annotated[float, Field(ge=0)] = 0.0
    min_rel_gain: Annotated[float, Field(ge=0)] = 0.0


class MirrorPolicy(_Strict):
    percent: Annotated[int, Field(gt=0, le=50)] = 10  # Azure ML mirrors at most 50%
    bake_seconds: Annotated[int, Field(ge=0)] = 300


class ErrorRateGate(_Strict):
    max_abs_increase: Annotated[float, Field(ge=0, le=1)] = 0.01  # green - blue error rate


class LatencyGate(_Strict):
    p95_max_rel_increase: Annotated[float, Field(ge=0)] | None = 0.2
    p99_max_rel_increase: Annotated[float, Field(ge=0)] | None = 0.3


class SloGate(_Strict):
    p99_ms: Annotated[float, Field(gt=0)] | None = None


class GatesPolicy(_Strict):
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05  # false-rollback rate under continuous monitoring
    error_rate: ErrorRateGate = ErrorRateGate()
    latency: LatencyGate = LatencyGate()
    slo: SloGate = SloGate()


class ApprovalPolicy(_Strict):
    before_step: Annotated[int, Field(gt=0, le=100)]  # wait for an operator before ramping to this percent
    timeout_seconds: Annotated[int, Field(gt=0)] = 86400


class RolloutPolicy(_Strict):
    # The lifecycle orchestrator hands a registered challenger to the `rollout` sub-orchestrator
    # only when this is true (the seam between the lifecycle core and deployment).
    enabled: bool = False
    endpoint: str | None = None
    instance_type: str = "Standard_DS3_v2"
    instance_count: Annotated[int, Field(gt=0)] = 1
    smoke_rows: Annotated[int, Field(ge=0)] = 20
    mirror: MirrorPolicy | None = None
    steps: list[Annotated[int, Field(gt=0, le=100)]] = Field(default_factory=lambda: [10, 50, 100])
    min_bake_seconds: Annotated[int, Field(ge=0)] = 300
    min_samples: Annotated[int, Field(ge=0)] = 200
    step_deadline_seconds: Annotated[int, Field(gt=0)] = 3600
    gates: GatesPolicy = GatesPolicy()
    on_inconclusive: Literal["rollback", "promote", "hold"] = "rollback"
    approval: ApprovalPolicy | None = None

    @field_validator("steps")
    @classmethod
    def _steps_ramp_to_100(cls, steps: list[int]) -> list[int]:
        if not steps:
            raise ValueError("needs at least one step; the last must be 100, e.g. [10, 50, 100]")
        if any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError(f"must increase strictly, got {steps}; e.g. [10, 50, 100]")
        if steps[-1] != 100:
            raise ValueError(f"must end at 100 (full traffic), got {steps}; append 100")
        return steps

    @model_validator(mode="after")
    def _consistent(self) -> RolloutPolicy:
        if self.enabled and not self.endpoint:
            raise ValueError("rollout.enabled needs rollout.endpoint: name the online endpoint")
        if self.approval and self.approval.before_step not in self.steps:
            raise ValueError(
                f"approval.before_step={self.approval.before_step} is not one of steps {self.steps}; "
                "use one of the step percents"
            )
        return self


class TriggersPolicy(_Strict):
    blob_prefixes: list[str] = Field(default_factory=list)  # under the data container
    alert_rules: list[str] = Field(default_factory=list)  # Azure Monitor alert rule names
    schedule: str | None = None  # NCRONTAB, six fields: {second} {minute} {hour} {day} {month} {day-of-week}
    debounce_seconds: Annotated[int, Field(ge=0)] = 60

    @field_validator("schedule")
    @classmethod
    def _ncrontab(cls, value: str | None) -> str | None:
        if value is None:
            return value
        fields = value.split()
        if len(fields) != 6:
            raise ValueError(
                f"{value!r} has {len(fields)} fields; NCRONTAB needs six "
                "(second minute hour day month day-of-week), e.g. '0 0 3 * * *'"
            )
        # croniter puts seconds last; NCRONTAB puts them first
        if not croniter.is_valid(" ".join([*fields[1:], fields[0]])):
            raise ValueError(f"{value!r} is not a valid NCRONTAB expression, e.g. '0 0 3 * * *'")
        return value


class BudgetPolicy(_Strict):
    max_trainings_per_day: Annotated[int, Field(ge=0)] = 4


class Policy(_Strict):
    model: str
    description: str = ""
    data: DataPolicy
    training: TrainingPolicy
    evaluation: EvaluationPolicy = EvaluationPolicy()
    rollout: RolloutPolicy = RolloutPolicy()
    triggers: TriggersPolicy = TriggersPolicy()
    budget: BudgetPolicy = BudgetPolicy()
    # where the file was loaded from; relative paths in it resolve against its directory
    base_dir: Path | None = Field(default=None, exclude=True)

    @field_validator("model")
    @classmethod
    def _model_name(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError(
                f"{value!r} is not a valid model name: use 2-32 lowercase letters, digits and hyphens "
                "(it names AML models, jobs and endpoints)"
            )
        return value

    def path(self, relative: Path) -> Path:
        """A path from the policy, resolved against the policy file's directory."""
        if relative.is_absolute() or self.base_dir is None:
            return relative
        return self.base_dir / relative

    @property
    def hash(self) -> str:
        return policy_hash(self)


def policy_hash(policy: Policy) -> str:
    """sha256 of the normalised policy (defaults filled in, keys sorted), so formatting and
    comments do not change it but any rule change does."""
    normalised = json.dumps(policy.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(normalised.encode()).hexdigest()


# --------------------------------------------------------------------------- loading


def _fix_for(error: dict[str, Any], fields: Iterable[str] | None) -> str:
    kind = error["type"]
    if kind == "missing":
        return "add this field"
    if kind == "extra_forbidden":
        allowed = ", ".join(sorted(fields or []))
        return f"remove it or fix its spelling (allowed here: {allowed})"
    if kind.startswith("literal_error"):
        return f"use {error['ctx']['expected']}"
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        return "write a whole number"
    if kind in {"float_parsing", "float_type"}:
        return "write a number"
    if kind in {"bool_parsing", "bool_type"}:
        return "write true or false"
    if kind in {"string_type"}:
        return "write a string (quote it if YAML reads it as something else)"
    if kind in {"list_type"}:
        return "write a YAML list, e.g. [a, b]"
    if kind in {"model_type", "model_attributes_type", "dict_type"}:
        return "write a mapping (key: value lines indented under it)"
    if kind.startswith(("greater_than", "less_than")):
        return "change the value to respect the bound"
    return "see the message"


def _allowed_fields(loc: tuple[Any, ...]) -> list[str]:
    """Field names valid at the parent of `loc`, for 'did you mean' hints."""
    model: Any = Policy
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        info = getattr(model, "model_fields", {}).get(part)
        if info is None:
            return []
        annotation = info.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return []
    return [n for n in getattr(model, "model_fields", {}) if n != "base_dir"]


def _format_errors(source: Path, exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        path = ".".join(str(p) for p in loc) or "(top level)"
        fix = _fix_for(dict(error), _allowed_fields(loc) if error["type"] == "extra_forbidden" else None)
        msg = error["msg"].removeprefix("Value error, ")
        lines.append(f"  {path}: {msg}; fix: {fix}")
    return f"{source}: invalid lifecycle policy ({len(lines)} problem(s)):\n" + "\n".join(lines)


def parse_policy(text: str, source: Path) -> Policy:
    """Parse policy YAML text; `source` is used in errors and to resolve relative paths."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(f"{source}: not valid YAML{where}: {problem}; fix the syntax there") from None
    if not isinstance(doc, dict):
        raise PolicyError(
            f"{source}: a lifecycle policy must be a YAML mapping with keys model, data, training, ... "
            f"(got {type(doc).__name__}); see samples/churn/policy.yaml"
        )
    try:
        policy = Policy.model_validate({**doc, "base_dir": None})
    except ValidationError as exc:
        raise PolicyError(_format_errors(source, exc)) from None
    return policy.model_copy(update={"base_dir": source.parent})


def load_policy(path: Path) -> Policy:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"{path}: policy file not found; check LIFECYCLE_POLICY_DIR") from None
    policy = parse_policy(text, path)
    missing = [
        (field, p)
        for field, p in (
            ("data.contract", policy.data.contract),
            ("training.job", policy.training.job),
            ("training.evaluation_job", policy.training.evaluation_job),
        )
        if not policy.path(p).is_file()
    ]
    if missing:
        detail = "; ".join(f"{field}: {policy.path(p)} does not exist" for field, p in missing)
        raise PolicyError(f"{path}: {detail}; fix: paths are relative to the policy file's directory")
    return policy


def load_policies(policy_dir: Path) -> dict[str, Policy]:
    """Every `*/policy.yaml` under the directory (or `policy_dir/policy.yaml` itself), by model."""
    policy_dir = Path(policy_dir)
    if not policy_dir.is_dir():
        raise PolicyError(f"{policy_dir}: policy directory not found; set LIFECYCLE_POLICY_DIR")
    files = sorted(policy_dir.glob(POLICY_GLOB))
    if (policy_dir / "policy.yaml").is_file():
        files.insert(0, policy_dir / "policy.yaml")
    policies: dict[str, Policy] = {}
    for file in files:
        policy = load_policy(file)
        if policy.model in policies:
            other = policies[policy.model].base_dir
            raise PolicyError(
                f"{file}: model {policy.model!r} is already defined by {other}/policy.yaml; "
                "fix: give each model exactly one policy"
            )
        policies[policy.model] = policy
    return policies


# --------------------------------------------------------------------------- the live policies


@runtime_checkable
class Policies(Protocol):
    """The policies as they are now (a run follows its snapshot instead, see core.runs)."""

    def all(self) -> dict[str, Policy]: ...

    def get(self, model: str) -> Policy:
        """The model's policy; PolicyError naming the known models if it has none."""
        ...


def _unknown(model: str, where: object, known: Iterable[str]) -> PolicyError:
    return PolicyError(
        f"no lifecycle policy for model {model!r} under {where} "
        f"(known: {sorted(known)}); add {{dir}}/policy.yaml with `model: {model}`"
    )


class StaticPolicies:
    """Policies given as objects (tests, tools); a mapping that changes later is seen as it is."""

    def __init__(self, policies: Mapping[str, Policy], where: object = "the given policies") -> None:
        self._policies = policies
        self._where = where

    def all(self) -> dict[str, Policy]:
        return dict(self._policies)

    def get(self, model: str) -> Policy:
        if model not in self._policies:
            raise _unknown(model, self._where, self._policies)
        return self._policies[model]


class PolicyDirectory:
    """The policy files under a directory, read again when one of them changes: an edited policy
    applies to the next run without a restart, and a running run keeps the snapshot it started
    with (core.runs)."""

    def __init__(self, policy_dir: Path) -> None:
        self.policy_dir = Path(policy_dir)
        self._lock = threading.Lock()
        self._seen: str | None = None
        self._policies: dict[str, Policy] = {}

    def _signature(self) -> str:
        """A digest of the policy files' names and content (an edit within the file system's
        timestamp resolution still counts)."""
        digest = hashlib.sha256()
        if self.policy_dir.is_dir():
            for file in sorted([self.policy_dir / "policy.yaml", *self.policy_dir.glob(POLICY_GLOB)]):
                with contextlib.suppress(OSError):
                    digest.update(str(file).encode() + b"\0" + file.read_bytes() + b"\0")
        return digest.hexdigest()

    def all(self) -> dict[str, Policy]:
        with self._lock:
            signature = self._signature()
            if signature != self._seen:
                self._policies = load_policies(self.policy_dir)
                self._seen = signature
            return dict(self._policies)

    def get(self, model: str) -> Policy:
        found = self.all()
        if model not in found:
            raise _unknown(model, self.policy_dir, found)
        return found[model]
