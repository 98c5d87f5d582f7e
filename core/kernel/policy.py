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
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
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


TRANSFORM_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")
BATCH_ENDPOINT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]$")


def _check_ncrontab(value: str | None) -> str | None:
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


# --------------------------------------------------------------------------- sections


class SplitPolicy(_Strict):
    eval_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.2
    seed: int = 42


class DataFactoryIngestion(_Strict):
    """Ingest with an Azure Data Factory pipeline instead of in the app (infra/app/datafactory.bicep).

    The lifecycle starts a run of `pipeline` with the batch's blobs and the data version as parameters
    (plus `parameters`), waits on durable timers, and checks what the pipeline wrote to
    features/{model}/{data version}/ against the data contract before anything is trained on it."""

    pipeline: Annotated[str, Field(min_length=1, max_length=260, pattern=r"^[A-Za-z0-9_][^<>*#.%&:\\+?/]*$")]
    parameters: dict[str, str] = Field(default_factory=dict)  # more pipeline parameters, passed as given
    poll_seconds: Annotated[int, Field(gt=0)] = 30
    deadline_seconds: Annotated[int, Field(gt=0)] = 3600


class DataPolicy(_Strict):
    container: str = "raw"
    prefix: str  # blobs under raw/{prefix} belong to this model
    contract: Path  # data contract YAML, relative to the policy file
    split: SplitPolicy = SplitPolicy()
    # None: the app ingests (core/training/ingest.py); set: a Data Factory pipeline does
    data_factory: DataFactoryIngestion | None = None


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
    min_increase_ms: Annotated[float, Field(ge=0)] = Field(
        default=2.0,
        description="a green whose p95 (p99) is less than this many ms above blue's is never failed on "
        "latency, however certain the test (a process a few percent slower on a busy machine)",
    )


class SloGate(_Strict):
    p99_ms: Annotated[float, Field(gt=0)] | None = None


class ShadowGate(_Strict):
    """Green's answers vs blue's on the SAME requests (mirror phase and ramp steps): core/rollout/shadow_gate.py."""

    max_disagreement: Annotated[float, Field(gt=0, lt=1)] | None = Field(
        default=0.05,
        description="fail when the share of paired requests whose predicted class differs is proven above this",
    )
    decision_threshold: Annotated[float, Field(gt=0, lt=1)] = Field(
        default=0.5, description="a score at or above this predicts the positive class"
    )
    max_mean_shift: Annotated[float, Field(gt=0, lt=1)] | None = Field(
        default=0.05,
        description="fail when |mean(green score - blue score)| on the same inputs is proven above this",
    )
    max_psi: Annotated[float, Field(gt=0)] | None = Field(
        default=0.2,
        description="population stability index of green's scores vs blue's (point-estimate guardrail)",
    )
    psi_bins: Annotated[int, Field(ge=2, le=100)] = Field(
        default=10, description="quantile bins of blue's scores for PSI"
    )
    min_pairs: Annotated[int, Field(ge=1)] = Field(
        default=200, description="paired requests before a shadow pass"
    )


class OnlineAccuracyGate(_Strict):
    """Green's live metric on delayed labels vs blue's on the same period: core/rollout/accuracy_gate.py."""

    metric: Literal["auc", "accuracy"] = Field(
        default="auc", description="live metric compared (the evaluation's, if it is one of these)"
    )
    margin: Annotated[float, Field(gt=0, lt=1)] = Field(
        default=0.02,
        description="non-inferiority margin: green may be worse than blue by less than this (absolute)",
    )
    labels_container: str = Field(default="raw", description="container of the label files")
    labels_prefix: str = Field(
        description="label files (CSV: entity id, label, time) land under labels_container/labels_prefix"
    )
    min_labels: Annotated[int, Field(ge=1)] = Field(
        default=200, description="labelled predictions per deployment before a pass"
    )
    required_before_last_step: bool = Field(
        default=True, description="the ramp waits for this gate's pass before the last step (100%)"
    )
    label_wait_seconds: Annotated[int, Field(gt=0)] = Field(
        default=86400,
        description="deadline for enough labels, from the start of the step that waits for them",
    )
    on_label_deadline: Literal["rollback", "promote", "hold"] = Field(
        default="rollback", description="what happens when the labels have not decided by the deadline"
    )


class GatesPolicy(_Strict):
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05  # false-rollback rate under continuous monitoring
    error_rate: ErrorRateGate = ErrorRateGate()
    latency: LatencyGate = LatencyGate()
    slo: SloGate = SloGate()
    entity_id_column: str | None = Field(
        default=None,
        description="input column that identifies the entity scored (joins predictions to labels)",
    )
    shadow: ShadowGate | None = Field(default=None, description="shadow gates on paired requests; None: off")
    online_accuracy: OnlineAccuracyGate | None = Field(
        default=None, description="online accuracy on delayed labels; None: off (needs entity_id_column)"
    )

    @model_validator(mode="after")
    def _labels_need_an_entity_id(self) -> GatesPolicy:
        if self.online_accuracy is not None and not self.entity_id_column:
            raise ValueError(
                "gates.online_accuracy needs gates.entity_id_column: name the input column that labels are "
                "joined on, e.g. customer_id"
            )
        return self

    @property
    def gate_kinds(self) -> int:
        """Gate kinds that share the rollout's alpha (each evaluated at every gated step)."""
        return 1 + (self.shadow is not None) + (self.online_accuracy is not None)


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
        return _check_ncrontab(value)


class BatchAbPolicy(_Strict):
    """Score a share of each input on a second deployment (the newest non-default one).

    Rows are assigned by a hash of `key` (a column of the input), so the same row goes to the
    same arm in every run and the two arms see the same mix of rows."""

    key: str  # input column whose value decides the arm, e.g. customer_id
    percent: Annotated[int, Field(gt=0, lt=100)] = 20  # share of rows scored by the challenger arm
    salt: str = "ab"  # change it to reshuffle which rows go to which arm


class BatchPolicy(_Strict):
    """Batch scoring on the model's batch endpoint (optional: no section, no batch scoring).

    When a model becomes champion it gets a batch deployment on `endpoint`; `smoke_rows` rows are
    scored with it before it becomes the endpoint's default (a failed smoke keeps the previous
    default). Blobs landing under `scoring_prefix` (in the data container) or the `schedule` start
    a scoring run; predictions go to `output_prefix` ({model} is replaced), one folder per run."""

    endpoint: str  # AML batch endpoint name (3-32 chars, unique in the Azure region)
    scoring_prefix: str | None = None  # blobs under {data.container}/{scoring_prefix} are scored
    schedule: str | None = None  # NCRONTAB, six fields, e.g. '0 0 4 * * *'
    smoke_rows: Annotated[int, Field(gt=0)] = 20
    keep_last: Annotated[int, Field(ge=1)] = (
        3  # deployments kept besides the default and the previous default
    )
    ab: BatchAbPolicy | None = None
    output_prefix: str = "predictions/{model}/"  # container/prefix of the predictions
    compute: str | None = None  # AML compute cluster of the batch deployments (ignored locally)
    instance_count: Annotated[int, Field(gt=0)] = 1
    mini_batch_size: Annotated[int, Field(gt=0)] = 10  # files per mini-batch (AML's default is 10)
    poll_seconds: Annotated[int, Field(gt=0)] = 30
    deadline_seconds: Annotated[int, Field(gt=0)] = 3600
    # "package.module:function" turning validated contract rows (label dropped) into what the
    # model's signature takes, e.g. the churn sample's encoding; none: the rows as they are
    transform: str | None = None

    @field_validator("transform")
    @classmethod
    def _transform(cls, value: str | None) -> str | None:
        if value is not None and not TRANSFORM_RE.match(value):
            raise ValueError(f"{value!r} must name a function as 'package.module:function'")
        return value

    @field_validator("endpoint")
    @classmethod
    def _endpoint_name(cls, value: str) -> str:
        if not BATCH_ENDPOINT_RE.match(value):
            raise ValueError(
                f"{value!r} is not a valid batch endpoint name: use 3-32 letters, digits and hyphens, "
                "starting with a letter (Azure ML's rule)"
            )
        return value

    @field_validator("schedule")
    @classmethod
    def _ncrontab(cls, value: str | None) -> str | None:
        return _check_ncrontab(value)

    @field_validator("scoring_prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip("/") or value.startswith("/")):
            raise ValueError(f"{value!r} must be a relative blob prefix such as 'churn-scoring/'")
        return value

    @field_validator("output_prefix")
    @classmethod
    def _output(cls, value: str) -> str:
        container, _, rest = value.partition("/")
        if not container or not rest or "{model}" not in value:
            raise ValueError(
                f"{value!r} must be 'container/prefix' containing {{model}}, e.g. 'predictions/{{model}}/'"
            )
        return value

    @model_validator(mode="after")
    def _triggered(self) -> BatchPolicy:
        if self.scoring_prefix is None and self.schedule is None:
            raise ValueError(
                "batch needs scoring_prefix or schedule (or both): otherwise nothing ever starts a scoring run"
            )
        return self


class ReleasePolicy(_Strict):
    """Share each new champion into an Azure ML registry (locally: a second MLflow store), with its
    lineage, so that another environment (a deploy-only policy) can deploy the exact artifact."""

    registry: str  # the shared registry's name


class SourcePolicy(_Strict):
    """Where a deploy-only policy's models come from: a shared registry, fed by another
    environment's `promoted` CloudEvents."""

    registry: str
    registry_model: str | None = None  # the model's name in the registry; default: the policy's model
    # CloudEvent `source` values accepted; default ['/mllifecycle/models/{model}']
    accept_sources: list[str] = Field(default_factory=list)
    event_type: str = "mllifecycle.promoted"


class BudgetPolicy(_Strict):
    max_trainings_per_day: Annotated[int, Field(ge=0)] = 4


class OnlineFeaturesPolicy(_Strict):
    """Serve by entity id (issue 22): after each ingest the latest feature vector of every entity (the
    contract's id_column) is materialized into the online feature store (Cosmos DB), as feature set
    `feature_set` at version = the data version; a request may then carry only the entity id and the
    deployment fills in the features of the version its model was trained on."""

    feature_set: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")] | None = (
        None  # default: the model
    )
    ttl_seconds: Annotated[int, Field(gt=0)] = 30 * 86400  # an entity not refreshed for this long expires
    # "package.module:function" turning contract rows (label and id dropped) into what the model's
    # signature takes, as batch.transform does (the churn sample: samples.churn.features:to_features);
    # none: the rows as they are
    transform: str | None = None

    @field_validator("transform")
    @classmethod
    def _transform(cls, value: str | None) -> str | None:
        if value is not None and not TRANSFORM_RE.match(value):
            raise ValueError(f"{value!r} must name a function as 'package.module:function'")
        return value

    def name(self, model: str) -> str:
        return self.feature_set or model


class MonitoringPolicy(_Strict):
    """The model's drift monitor (core/monitoring/): the inputs the endpoint logged against the
    champion's training data, checked on a schedule; a drift alert starts a lifecycle like any other
    alert (the rule names the model in its customProperties, so routing needs no more).

    The false-alarm budget is the expected number of alerts per 30 days on traffic that has not
    drifted, across all features and all checks (core/monitoring/drift.py says how it is kept)."""

    features: list[str] = Field(
        default_factory=list, description="input columns watched; empty: the data contract's features"
    )
    # "package.module:function" turning training rows (label and id dropped) into the columns the
    # endpoint receives, e.g. the churn sample's encoding; none: the rows as they are
    transform: str | None = None
    schedule: str = Field(default="0 0 * * * *", description="NCRONTAB of the checks (default hourly)")
    window_seconds: Annotated[int, Field(gt=0)] = Field(
        default=3600, description="each check judges the rows logged in this trailing window ..."
    )
    max_window_seconds: Annotated[int, Field(gt=0)] = Field(
        default=3600 * 6, description="... reaching back up to this far while it holds fewer than min_rows"
    )
    min_rows: Annotated[int, Field(ge=20)] = Field(
        default=200, description="rows in the window before a check can alert"
    )
    bins: Annotated[int, Field(ge=2, le=50)] = Field(
        default=10, description="quantile bins of the reference for numeric columns"
    )
    false_alarms_per_30_days: Annotated[float, Field(gt=0, le=30)] = Field(
        default=1.0, description="expected alerts per 30 days on traffic that has not drifted"
    )
    min_psi: Annotated[float, Field(ge=0)] = Field(
        default=0.05, description="drift smaller than this PSI never alerts, however certain"
    )
    cooldown_seconds: Annotated[int, Field(ge=0)] = Field(
        default=86400, description="no second alert this soon after one (the retrain needs time)"
    )
    score: bool = Field(
        default=True,
        description="also watch the champion's score (prediction drift), against its own first scored window",
    )

    @field_validator("schedule")
    @classmethod
    def _ncrontab(cls, value: str) -> str:
        checked = _check_ncrontab(value)
        assert checked is not None
        return checked

    @field_validator("transform")
    @classmethod
    def _transform(cls, value: str | None) -> str | None:
        if value is not None and not TRANSFORM_RE.match(value):
            raise ValueError(f"{value!r} must name a function as 'package.module:function'")
        return value

    @model_validator(mode="after")
    def _windows(self) -> MonitoringPolicy:
        if self.max_window_seconds < self.window_seconds:
            raise ValueError(
                f"monitoring.max_window_seconds ({self.max_window_seconds}) is shorter than window_seconds "
                f"({self.window_seconds}); make it at least as long, e.g. {self.window_seconds * 6}"
            )
        return self


class Policy(_Strict):
    model: str
    description: str = ""
    data: DataPolicy
    training: TrainingPolicy
    evaluation: EvaluationPolicy = EvaluationPolicy()
    rollout: RolloutPolicy = RolloutPolicy()
    triggers: TriggersPolicy = TriggersPolicy()
    budget: BudgetPolicy = BudgetPolicy()
    batch: BatchPolicy | None = None  # optional batch scoring on a batch endpoint
    promotion: ReleasePolicy | None = None  # optional: share champions into a registry
    online_features: OnlineFeaturesPolicy | None = (
        None  # optional: an online feature store keyed by entity id
    )
    monitoring: MonitoringPolicy | None = None  # optional: the drift monitor (core/monitoring/)
    # where the file was loaded from; relative paths in it resolve against its directory
    base_dir: Path | None = Field(default=None, exclude=True)

    @field_validator("model")
    @classmethod
    def _model_name(cls, value: str) -> str:
        return _check_model_name(value)

    @model_validator(mode="after")
    def _scoring_is_not_training_data(self) -> Policy:
        if self.batch is None or self.batch.scoring_prefix is None:
            return self
        scoring = self.batch.scoring_prefix
        for training in {self.data.prefix, *self.triggers.blob_prefixes}:
            if scoring.startswith(training) or training.startswith(scoring):
                raise ValueError(
                    f"batch.scoring_prefix {scoring!r} overlaps the training prefix {training!r}: a blob "
                    "would both retrain and be scored; use a separate prefix, e.g. 'churn-scoring/'"
                )
        return self

    def path(self, relative: Path) -> Path:
        """A path from the policy, resolved against the policy file's directory."""
        if relative.is_absolute() or self.base_dir is None:
            return relative
        return self.base_dir / relative

    @property
    def hash(self) -> str:
        return policy_hash(self)


def _check_model_name(value: str) -> str:
    if not NAME_RE.match(value):
        raise ValueError(
            f"{value!r} is not a valid model name: use 2-32 lowercase letters, digits and hyphens "
            "(it names AML models, jobs and endpoints)"
        )
    return value


# Optional sections added after policies were first hashed: left out of the hash while unset, so
# the hash of a policy that does not use them is unchanged (run lineage stays comparable).
_OPTIONAL_SECTIONS = ("batch", "promotion", "online_features")


class DeployOnlyPolicy(_Strict):
    """A model this environment only deploys: its versions come from a shared registry (another
    environment trained, evaluated and promoted them), announced by `promoted` CloudEvents.

    No data, training, evaluation, triggers or budget: production deploys exactly the artifact
    that was evaluated, with its own smoke test, approval, gated ramp and rollback."""

    model: str
    description: str = ""
    source: SourcePolicy
    rollout: RolloutPolicy
    batch: BatchPolicy | None = None
    base_dir: Path | None = Field(default=None, exclude=True)

    @field_validator("model")
    @classmethod
    def _model_name(cls, value: str) -> str:
        return _check_model_name(value)

    @model_validator(mode="after")
    def _deploys(self) -> DeployOnlyPolicy:
        if not (self.rollout.enabled and self.rollout.endpoint):
            raise ValueError(
                "a deploy-only policy exists to deploy: set rollout.enabled: true and rollout.endpoint"
            )
        return self

    @property
    def registry_model(self) -> str:
        return self.source.registry_model or self.model

    @property
    def accepted_sources(self) -> list[str]:
        return self.source.accept_sources or [f"/mllifecycle/models/{self.model}"]

    @property
    def hash(self) -> str:
        return policy_hash(self)


def policy_hash(policy: Policy | DeployOnlyPolicy) -> str:
    """sha256 of the normalised policy (defaults filled in, keys sorted), so formatting and
    comments do not change it but any rule change does."""
    dumped = policy.model_dump(mode="json")
    for key in _OPTIONAL_SECTIONS:
        if dumped.get(key, 0) is None:
            del dumped[key]
    if dumped.get("data", {}).get("data_factory", 0) is None:  # added later, like the sections above
        del dumped["data"]["data_factory"]
    normalised = json.dumps(dumped, sort_keys=True, separators=(",", ":"))
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


def _allowed_fields(loc: tuple[Any, ...], root: type[BaseModel] = Policy) -> list[str]:
    """Field names valid at the parent of `loc`, for 'did you mean' hints."""
    model: Any = root
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


def _format_errors(source: Path, exc: ValidationError, root: type[BaseModel] = Policy) -> str:
    lines = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        path = ".".join(str(p) for p in loc) or "(top level)"
        fix = _fix_for(
            dict(error), _allowed_fields(loc, root) if error["type"] == "extra_forbidden" else None
        )
        if root is Policy and loc in (("data",), ("training",)) and error["type"] == "missing":
            fix += " (or, for a deploy-only model, a `source: {registry: NAME}` section instead)"
        if root is DeployOnlyPolicy and len(loc) == 1 and error["type"] == "extra_forbidden":
            fix = (
                "remove it: a deploy-only policy (with `source:`) trains nothing; "
                f"allowed here: {', '.join(sorted(_allowed_fields(loc, root)))}"
            )
        msg = error["msg"].removeprefix("Value error, ")
        lines.append(f"  {path}: {msg}; fix: {fix}")
    return f"{source}: invalid lifecycle policy ({len(lines)} problem(s)):\n" + "\n".join(lines)


def _read_yaml(text: str, source: Path) -> dict[str, Any]:
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
    return doc


def parse_any_policy(text: str, source: Path) -> Policy | DeployOnlyPolicy:
    """A lifecycle policy, or a deploy-only policy when the file has a `source:` section."""
    doc = _read_yaml(text, source)
    root: type[Policy] | type[DeployOnlyPolicy] = DeployOnlyPolicy if "source" in doc else Policy
    try:
        policy = root.model_validate({**doc, "base_dir": None})
    except ValidationError as exc:
        raise PolicyError(_format_errors(source, exc, root)) from None
    return policy.model_copy(update={"base_dir": source.parent})


def parse_policy(text: str, source: Path) -> Policy:
    """Parse lifecycle policy YAML text; `source` is used in errors and to resolve relative paths."""
    policy = parse_any_policy(text, source)
    if not isinstance(policy, Policy):
        raise PolicyError(
            f"{source}: this is a deploy-only policy (it has `source:`), not a training lifecycle policy; "
            "load it with load_policy_set / parse_any_policy"
        )
    return policy


def _check_files(path: Path, policy: Policy) -> None:
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


def _read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"{path}: policy file not found; check LIFECYCLE_POLICY_DIR") from None


def load_any_policy(path: Path) -> Policy | DeployOnlyPolicy:
    path = Path(path)
    policy = parse_any_policy(_read_file(path), path)
    if isinstance(policy, Policy):
        _check_files(path, policy)
    return policy


def load_policy(path: Path) -> Policy:
    path = Path(path)
    policy = parse_policy(_read_file(path), path)
    _check_files(path, policy)
    return policy


@dataclass(frozen=True)
class PolicySet:
    """The policies of one environment: models it trains and models it only deploys."""

    lifecycle: dict[str, Policy]
    deploy_only: dict[str, DeployOnlyPolicy]


def load_policy_set(policy_dir: Path) -> PolicySet:
    """Every `*/policy.yaml` under the directory (or `policy_dir/policy.yaml` itself), by model;
    a model has exactly one policy, of either kind."""
    policy_dir = Path(policy_dir)
    if not policy_dir.is_dir():
        raise PolicyError(f"{policy_dir}: policy directory not found; set LIFECYCLE_POLICY_DIR")
    files = sorted(policy_dir.glob(POLICY_GLOB))
    if (policy_dir / "policy.yaml").is_file():
        files.insert(0, policy_dir / "policy.yaml")
    lifecycle: dict[str, Policy] = {}
    deploy_only: dict[str, DeployOnlyPolicy] = {}
    for file in files:
        policy = load_any_policy(file)
        other = lifecycle.get(policy.model) or deploy_only.get(policy.model)
        if other is not None:
            raise PolicyError(
                f"{file}: model {policy.model!r} is already defined by {other.base_dir}/policy.yaml; "
                "fix: give each model exactly one policy"
            )
        if isinstance(policy, Policy):
            lifecycle[policy.model] = policy
        else:
            deploy_only[policy.model] = policy
    return PolicySet(lifecycle=lifecycle, deploy_only=deploy_only)


def load_policies(policy_dir: Path) -> dict[str, Policy]:
    """The lifecycle (training) policies under the directory, by model; deploy-only policies are
    in load_policy_set(policy_dir).deploy_only."""
    return load_policy_set(policy_dir).lifecycle


# --------------------------------------------------------------------------- the live policies


@runtime_checkable
class Policies(Protocol):
    """The policies as they are now (a run follows its snapshot instead, see core.run.runs)."""

    def all(self) -> dict[str, Policy]: ...

    def get(self, model: str) -> Policy:
        """The model's policy; PolicyError naming the known models if it has none."""
        ...

    def deploy_only(self) -> dict[str, DeployOnlyPolicy]:
        """The models this environment only deploys (from a shared registry), by model."""
        ...


def _unknown(model: str, where: object, known: Iterable[str]) -> PolicyError:
    return PolicyError(
        f"no lifecycle policy for model {model!r} under {where} "
        f"(known: {sorted(known)}); add {{dir}}/policy.yaml with `model: {model}`"
    )


class StaticPolicies:
    """Policies given as objects (tests, tools); a mapping that changes later is seen as it is."""

    def __init__(
        self,
        policies: Mapping[str, Policy],
        where: object = "the given policies",
        deploy_only: Mapping[str, DeployOnlyPolicy] | None = None,
    ) -> None:
        self._policies = policies
        self._where = where
        self._deploy_only = deploy_only or {}

    def deploy_only(self) -> dict[str, DeployOnlyPolicy]:
        return dict(self._deploy_only)

    def all(self) -> dict[str, Policy]:
        return dict(self._policies)

    def get(self, model: str) -> Policy:
        if model not in self._policies:
            raise _unknown(model, self._where, self._policies)
        return self._policies[model]


class PolicyDirectory:
    """The policy files under a directory, read again when one of them changes: an edited policy
    applies to the next run without a restart, and a running run keeps the snapshot it started
    with (core.run.runs)."""

    def __init__(self, policy_dir: Path) -> None:
        self.policy_dir = Path(policy_dir)
        self._lock = threading.Lock()
        self._seen: str | None = None
        self._stats_seen: tuple[tuple[str, int, int, int], ...] | None = None
        self._policies: dict[str, Policy] = {}
        self._deploy_only: dict[str, DeployOnlyPolicy] = {}

    def _files(self) -> list[Path]:
        """policy.yaml and */policy.yaml (POLICY_GLOB), listed with os.scandir: pathlib's glob
        cost more than everything else an event does."""
        try:
            with os.scandir(self.policy_dir) as entries:
                names = sorted(e.name for e in entries if e.is_dir())
        except OSError:
            return []
        candidates = [self.policy_dir / "policy.yaml", *(self.policy_dir / n / "policy.yaml" for n in names)]
        return sorted(p for p in candidates if p.is_file())

    def _signature(self, files: list[Path]) -> str:
        """A digest of the policy files' names and content (an edit within the file system's
        timestamp resolution still counts)."""
        digest = hashlib.sha256()
        for file in files:
            with contextlib.suppress(OSError):
                digest.update(str(file).encode() + b"\0" + file.read_bytes() + b"\0")
        return digest.hexdigest()

    # Every event routes with the live policies: reading every file on each call cost the edge
    # most of its time (issue 17); unchanged files at rest are recognised by their stat.
    RECENT_SECONDS = 2.0

    def _stats(self, files: list[Path]) -> tuple[tuple[str, int, int, int], ...] | None:
        """The files' (name, mtime, size, inode), or None while any was written in the last
        RECENT_SECONDS: a second edit within the file system's timestamp resolution could keep
        all of them, so only files at rest are trusted by their stat; the rest are read."""
        out = []
        now = time.time_ns()
        for file in files:
            try:
                st = file.stat()
            except OSError:
                continue
            if now - max(st.st_mtime_ns, st.st_ctime_ns) < self.RECENT_SECONDS * 1e9:
                return None
            out.append((str(file), st.st_mtime_ns, st.st_size, st.st_ino))
        return tuple(out)

    def _load(self) -> None:
        with self._lock:
            files = self._files()
            stats = self._stats(files)
            if stats is not None and stats == self._stats_seen:
                return
            signature = self._signature(files)
            if signature != self._seen:
                found = load_policy_set(self.policy_dir)
                self._policies, self._deploy_only = found.lifecycle, found.deploy_only
                self._seen = signature
            self._stats_seen = stats

    def all(self) -> dict[str, Policy]:
        self._load()
        return dict(self._policies)

    def deploy_only(self) -> dict[str, DeployOnlyPolicy]:
        self._load()
        return dict(self._deploy_only)

    def get(self, model: str) -> Policy:
        found = self.all()
        if model not in found:
            raise _unknown(model, self.policy_dir, found)
        return found[model]


class RecentPolicies:
    """A policy store read at most once per `seconds`: the trigger side routes every delivery with
    the live policies, and even a stat of every file per event cost the edge more than the rest of
    its work (issue 17). An edit reaches routing within `seconds`; runs are unaffected (they read
    the store itself and keep their snapshot, core.run.runs)."""

    def __init__(
        self, store: Policies, seconds: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store = store
        self.seconds = seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._read_at: float | None = None
        self._all: dict[str, Policy] = {}
        self._deploy_only: dict[str, DeployOnlyPolicy] = {}

    def _fresh(self) -> None:
        now = self._clock()
        with self._lock:
            if self._read_at is None or now - self._read_at >= self.seconds:
                self._all, self._deploy_only = self.store.all(), self.store.deploy_only()
                self._read_at = now

    def all(self) -> dict[str, Policy]:
        self._fresh()
        return dict(self._all)

    def deploy_only(self) -> dict[str, DeployOnlyPolicy]:
        self._fresh()
        return dict(self._deploy_only)

    def get(self, model: str) -> Policy:
        found = self.all()
        if model not in found:
            return self.store.get(model)  # a policy added since the last read, or the store's error
        return found[model]
