"""What a run is doing now: its status and stage, and the custom status the orchestrators show.

One type per thing read elsewhere: `RunStatus` (the ledger record, the operator API's filter),
`Stage`, `RunProgress` (the custom status of a lifecycle and of its rollout: the operator API and
the demo read it) and `CoordinatorStatus` (the triggers read its `phase` to decide whether a
wake-up is needed). Writers and readers use the same models, so a renamed key fails a test, not
a dashboard.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.kernel.run_state import FINAL_STATUSES, RUN_STATUSES, RunStatus, Stage
from core.training.verdict import ChallengerVerdict

CoordinatorPhase = Literal["claiming", "debouncing", "running", "held", "idle"]


class Status(BaseModel):
    """Custom status: frozen; dumped without the fields not known yet."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def dump(self) -> dict[str, Any]:
        # top level only: a null inside a value means something (no champion, no blue)
        return {k: v for k, v in self.model_dump(mode="json").items() if v is not None}

    def evolve(self, **changes: Any) -> Any:
        """A validated copy with `changes` (model_copy would not validate them)."""
        return type(self).model_validate({**dict(self), **changes})


class GateView(Status):
    """The last gate evaluation, as the status shows it (the ledger has every number)."""

    verdict: Literal["pass", "fail", "need_more_data", "unavailable"]
    green_requests: int
    min_samples: int
    reasons: list[str] = Field(default_factory=list)


class EvidenceView(Status):
    """The last shadow or online accuracy evaluation, as the status shows it: `n` pairs or labelled
    predictions of green, `needed` before a pass (the ledger has every number)."""

    verdict: Literal["pass", "fail", "need_more_data", "unavailable"]
    n: int
    needed: int
    reasons: list[str] = Field(default_factory=list)


class RunProgress(Status):
    """Custom status of a `lifecycle` instance and of its `rollout` sub-orchestration."""

    run_id: str
    model: str
    stage: Stage = "start"
    status: RunStatus | None = None
    reason: str | None = None
    error: str | None = None
    last_event_error: str | None = None
    # lifecycle
    policy_hash: str | None = None
    data_version: str | None = None
    rows: dict[str, int] | None = None
    report: str | None = None
    failures: list[str] | None = None
    job: str | None = None
    job_state: str | None = None
    pipeline_run: str | None = None  # ingestion by a Data Factory pipeline: its run id and state
    pipeline_state: str | None = None
    feature_set: str | None = None  # the online feature set and version materialized from this run's data
    feature_set_version: str | None = None
    evaluation_job: str | None = None
    champion_version: str | None = None
    decision: ChallengerVerdict | None = None
    challenger_version: str | None = None
    rollout: dict[str, Any] | None = None  # the rollout's LifecycleResult, once it ended
    batch: dict[str, Any] | None = None  # the batch_deploy outcome (BatchProgress), once it ended
    # rollout
    endpoint: str | None = None
    green: str | None = None
    blue: str | None = None
    split: dict[str, int] | None = None
    split_before: dict[str, int] | None = None
    mirror: dict[str, int] | None = None
    deployment_state: str | None = None
    phase: int | None = None
    step: int | None = None
    kind: Literal["mirror", "live"] | None = None  # the current phase's kind
    gate: GateView | None = None
    shadow: EvidenceView | None = None
    online_accuracy: EvidenceView | None = None
    labels_deadline: str | None = None  # waiting_for "labels": the label deadline (ISO 8601)
    move: str | None = None  # the ramp's last decision in words (core.rollout.ramp.next_move)
    labels_plan: str | None = None  # the label budget and the expected time to decide, in words
    pairs_plan: str | None = None  # the shadow gate's pair budget and the expected time to decide, in words
    waiting_for: str | None = None
    approval_reason: str | None = None
    approval: str | None = None


BatchPhase = Literal[
    "endpoint", "deploy", "smoke", "default", "prune", "restore", "prepare", "score", "collect", "done"
]


class BatchProgress(Status):
    """Custom status of `batch_deploy` and `batch_score` instances (and their outcome)."""

    run_id: str
    model: str
    phase: BatchPhase = "endpoint"
    status: Literal[
        "running", "deployed", "kept", "restored", "unchanged", "failed", "scored", "rejected"
    ] = "running"
    endpoint: str | None = None
    deployment: str | None = None
    default: str | None = None
    previous_default: str | None = None
    jobs: dict[str, str] | None = None  # job name -> state
    rows: int | None = None
    predictions: str | None = None
    report: str | None = None
    reasons: list[str] | None = None
    error: str | None = None


class CoordinatorStatus(Status):
    """Custom status of a model's coordinator. It says `claiming` in the same episode that
    schedules the claim (triggers/intake.py relies on it)."""

    model: str
    generation: int
    phase: CoordinatorPhase
    runs: int | None = None
    reasons: list[str] | None = None
    until: str | None = None
    run_id: str | None = None
    consumed: list[str] | None = None
    held: list[str] | None = None

    @classmethod
    def read(cls, custom: Any) -> CoordinatorStatus | None:
        """Parse what the durable client returns (a dict, or its JSON text); None if it is not one."""
        try:
            if isinstance(custom, str | bytes):
                return cls.model_validate_json(custom)
            return cls.model_validate(custom)
        except ValidationError:
            return None


def read_progress(custom: Any) -> RunProgress | None:
    """A lifecycle's or rollout's custom status as the durable client returns it, or None."""
    try:
        if isinstance(custom, str | bytes):
            return RunProgress.model_validate_json(custom)
        return RunProgress.model_validate(custom)
    except ValidationError:
        return None


__all__ = ["FINAL_STATUSES", "RUN_STATUSES", "RunStatus", "Stage"]  # re-exported: the kernel defines them
