"""Ledger facts: what happened in a run, one typed model per kind of fact.

The orchestrators and triggers build these instead of dict literals; the RunLedger port stores
`fact.model_dump(mode="json")` under the fact's `ledger_kind` (the column the operator API groups
by: step, traffic, gate, decision, error, event, request), and readers parse entries back with
`read_fact` (the same union). `kind` is the discriminator and is stored with the fact.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from core.gates import GateVerdict, MetricTest
from core.online_accuracy import OnlineAccuracyVerdict
from core.promotion import PromotionDecision
from core.shadow_gates import ShadowTest, ShadowVerdict
from core.status import Stage

log = logging.getLogger("core.facts")

LedgerKind = Literal["step", "traffic", "gate", "decision", "error", "event", "request"]


class Fact(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    ledger_kind: ClassVar[LedgerKind]

    def dump(self) -> dict[str, Any]:
        # top level only: a null inside a value means something (no champion, no blue)
        return {k: v for k, v in self.model_dump(mode="json").items() if v is not None}


class SplitView(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    traffic: dict[str, int]
    mirror: dict[str, int] = Field(default_factory=dict)


# --------------------------------------------------------------------------- steps


class StepEntered(Fact):
    """The run entered a stage; the fields say with what (only those the stage has)."""

    ledger_kind: ClassVar[LedgerKind] = "step"
    kind: Literal["step_entered"] = "step_entered"
    stage: Stage
    status: str | None = None  # stage done: how the run ended
    reason: str | None = None
    blobs: int | None = None  # ingest: landed blobs named by the trigger (0: the whole prefix)
    job: str | None = None
    data_version: str | None = None
    rows_in: int | None = None
    rows_out: int | None = None
    train_rows: int | None = None
    eval_rows: int | None = None
    champion_version: str | None = None
    version: str | None = None  # register: the challenger's version
    endpoint: str | None = None
    green: str | None = None
    blue: str | None = None
    before: SplitView | None = None
    phase: int | None = None
    percent: int | None = None
    split: SplitView | None = None


class SmokeTested(Fact):
    ledger_kind: ClassVar[LedgerKind] = "step"
    kind: Literal["smoke_tested"] = "smoke_tested"
    stage: Literal["smoke"] = "smoke"
    ok: bool
    rows: int
    error: str = ""


class TrafficChanged(Fact):
    ledger_kind: ClassVar[LedgerKind] = "traffic"
    kind: Literal["traffic_changed"] = "traffic_changed"
    reason: str
    traffic: dict[str, int]
    mirror: dict[str, int] = Field(default_factory=dict)
    at: datetime


class GateFact(Fact):
    """What every gate evaluation records: the phase judged, the verdict with its reasons, and the
    deployments and window compared (each gate kind adds its own numbers)."""

    ledger_kind: ClassVar[LedgerKind] = "gate"
    phase: int
    percent: int
    verdict: Literal["pass", "fail", "need_more_data"]
    reasons: list[str]
    endpoint: str
    green: str
    blue: str | None = None
    window_start: str
    window_end: str


class GateEvaluated(GateFact):
    """Every number of one gate evaluation (core.gates.GateVerdict) and the phase it judged."""

    kind: Literal["gate_evaluated"] = "gate_evaluated"
    ingested_until: str | None = None
    green_requests: int
    blue_requests: int
    min_samples: int
    tests: list[MetricTest] = Field(default_factory=list)
    slo: dict[str, Any] = Field(default_factory=dict)
    alpha: float = 0.0
    query: str = ""

    @classmethod
    def of(cls, phase: int, percent: int, verdict: GateVerdict) -> GateEvaluated:
        return cls.model_validate({"phase": phase, "percent": percent, **verdict.to_record()})

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")  # nulls are numbers here (no blue, nothing ingested)


class ShadowGateEvaluated(GateFact):
    """One shadow gate evaluation (core.shadow_gates.ShadowVerdict): green's answers vs blue's on
    the same requests of the phase's window; each test has n, statistic, threshold and outcome."""

    kind: Literal["shadow_gate_evaluated"] = "shadow_gate_evaluated"
    gate: Literal["shadow"] = "shadow"
    ingested_until: str | None = None
    pairs: int
    min_pairs: int
    alpha: float
    beta: float
    blocking: bool = True  # False: only a fail counts (a live step where Azure ML cannot pair)
    tests: list[ShadowTest] = Field(default_factory=list)

    @classmethod
    def of(
        cls,
        phase: int,
        percent: int,
        endpoint: str,
        verdict: ShadowVerdict,
        ingested_until: str | None,
        blocking: bool,
    ) -> ShadowGateEvaluated:
        record = verdict.to_record()
        return cls.model_validate(
            {
                **record,
                "phase": phase,
                "percent": percent,
                "endpoint": endpoint,
                "ingested_until": ingested_until,
                "blocking": blocking,
            }
        )

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class OnlineAccuracyEvaluated(GateFact):
    """One online accuracy evaluation (core.online_accuracy.OnlineAccuracyVerdict): green's live
    metric on delayed labels vs blue's over the same period, with the labels read."""

    kind: Literal["online_accuracy_evaluated"] = "online_accuracy_evaluated"
    gate: Literal["online_accuracy"] = "online_accuracy"
    labels: str  # container/prefix read
    label_files: int
    label_rows: int
    metric: str
    green_labelled: int
    blue_labelled: int
    green_value: float | None
    blue_value: float | None
    difference: float | None
    variance: float | None
    margin: float
    alpha: float
    beta: float
    fail_e_value: float | None
    fail_threshold: float
    pass_e_value: float | None
    pass_threshold: float
    min_labels: int
    labels_until: str | None = None
    action: str | None = None  # what the rollout did with it (label_deadline_action)
    details: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(
        cls, phase: int, percent: int, verdict: OnlineAccuracyVerdict, **context: Any
    ) -> OnlineAccuracyEvaluated:
        return cls.model_validate({**verdict.to_record(), "phase": phase, "percent": percent, **context})

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


# --------------------------------------------------------------------------- decisions


class EvaluationDecided(Fact, PromotionDecision):
    """The promotion rule's verdict on the challenger, with its numbers."""

    ledger_kind: ClassVar[LedgerKind] = "decision"
    kind: Literal["evaluation_decided"] = "evaluation_decided"
    stage: Literal["evaluate"] = "evaluate"

    @classmethod
    def of(cls, decision: PromotionDecision) -> EvaluationDecided:
        return cls.model_validate(decision.model_dump())

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")  # champion None means "no champion": keep it


class DataRejected(Fact):
    ledger_kind: ClassVar[LedgerKind] = "decision"
    kind: Literal["data_rejected"] = "data_rejected"
    verdict: Literal["rejected"] = "rejected"
    report: str | None = None
    failures: list[str]
    rows_in: int
    rows_out: int
    train_rows: int
    eval_rows: int


class RunAborted(Fact):
    ledger_kind: ClassVar[LedgerKind] = "decision"
    kind: Literal["run_aborted"] = "run_aborted"
    stage: Stage
    reason: str
    job: str | None = None
    abort: Any = None  # the operator's `abort` event data


class ApprovalAsked(Fact):
    ledger_kind: ClassVar[LedgerKind] = "step"
    kind: Literal["approval_asked"] = "approval_asked"
    stage: Literal["approval"] = "approval"
    reason: str


class ApprovalAnswered(Fact):
    ledger_kind: ClassVar[LedgerKind] = "decision"
    kind: Literal["approval_answered"] = "approval_answered"
    stage: Literal["approval"] = "approval"
    answer: str  # approve | reject | timeout | abort | rollback


class RolledBack(Fact):
    ledger_kind: ClassVar[LedgerKind] = "decision"
    kind: Literal["rolled_back"] = "rolled_back"
    verdict: Literal["rollback"] = "rollback"
    stage: Stage
    reason: str
    restored: SplitView
    deleted: str


class Promoted(Fact):
    ledger_kind: ClassVar[LedgerKind] = "decision"
    kind: Literal["promoted"] = "promoted"
    verdict: Literal["promote"] = "promote"
    deployment: str
    retired: str | None = None
    version: str
    traffic: dict[str, int]
    mirror: dict[str, int] = Field(default_factory=dict)

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")  # retired None: the first model of the endpoint


class ModelShared(Fact):
    """Dev copied the new champion into the shared registry (or could not: `error`); the
    `promoted` event carries the registry version so another environment can deploy it."""

    ledger_kind: ClassVar[LedgerKind] = "decision"
    kind: Literal["model_shared"] = "model_shared"
    registry: str
    version: str  # this environment's version that was shared
    registry_model: str | None = None
    registry_version: str | None = None
    error: str | None = None


class DeployRequested(Fact):
    """A deploy lifecycle's origin: the `promoted` CloudEvent another environment published and
    the exact registry version it names (what this run deploys)."""

    ledger_kind: ClassVar[LedgerKind] = "event"
    kind: Literal["deploy_requested"] = "deploy_requested"
    event_id: str
    event_source: str
    registry: str
    registry_model: str
    registry_version: str
    source_uri: str | None = None


class OperatorActed(Fact):
    """An operator raised an event on a running lifecycle (the operator API records it)."""

    ledger_kind: ClassVar[LedgerKind] = "decision"
    kind: Literal["operator_acted"] = "operator_acted"
    operator: str  # the action: approve | reject | abort | rollback
    reason: str = ""
    by: str = ""
    to: list[str]
    # who acted (core.authz.Caller.record): a signed-in person or "function-key" automation
    actor: str = ""
    via: str = ""
    roles: list[str] = []
    user_id: str = ""


class RunFailed(Fact):
    ledger_kind: ClassVar[LedgerKind] = "error"
    kind: Literal["run_failed"] = "run_failed"
    stage: Stage | None = None
    reason: str | None = None  # a job that failed or missed its deadline
    error: str | None = None  # an exception: type and message
    job: str | None = None


# --------------------------------------------------------------------------- batch scoring


class BatchDeploymentReady(Fact):
    """batch_deploy: the champion's batch deployment was created (or found) and its state."""

    ledger_kind: ClassVar[LedgerKind] = "step"
    kind: Literal["batch_deployment_ready"] = "batch_deployment_ready"
    endpoint: str
    deployment: str
    version: str
    state: str
    message: str = ""


class BatchSmokeTested(Fact):
    ledger_kind: ClassVar[LedgerKind] = "step"
    kind: Literal["batch_smoke_tested"] = "batch_smoke_tested"
    deployment: str
    job: str | None = None
    passed: bool
    expected_rows: int
    scored_rows: int
    reasons: list[str] = Field(default_factory=list)


class BatchDefaultDecided(Fact):
    """core.batch.choose_default's verdict (or restore_default's, after an online rollback)."""

    ledger_kind: ClassVar[LedgerKind] = "decision"
    kind: Literal["batch_default_decided"] = "batch_default_decided"
    verdict: Literal["switch", "keep", "restore"]
    endpoint: str
    candidate: str
    default: str | None
    previous_default: str | None
    reasons: list[str] = Field(default_factory=list)
    pruned: list[str] = Field(default_factory=list)

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")  # a None default means "the endpoint has none"


class BatchDeployFailed(Fact):
    """batch_deploy failed; the online rollout's outcome stands (it ended before batch began)."""

    ledger_kind: ClassVar[LedgerKind] = "error"
    kind: Literal["batch_deploy_failed"] = "batch_deploy_failed"
    error: str


class BatchScoringStarted(Fact):
    ledger_kind: ClassVar[LedgerKind] = "step"
    kind: Literal["batch_scoring_started"] = "batch_scoring_started"
    run_id: str
    model: str
    source: str
    request_id: str
    blobs: list[str] = Field(default_factory=list)
    endpoint: str
    default: str | None = None
    ab: list[str] = Field(default_factory=list)  # the arms' deployments when the run splits rows


class BatchArm(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    arm: str
    deployment: str
    model_version: str = ""
    job: str
    state: str
    rows: int = 0
    uri: str | None = None
    message: str = ""


class BatchScored(Fact):
    """How a scoring run ended: scored (predictions written), rejected (input quarantined) or failed."""

    ledger_kind: ClassVar[LedgerKind] = "decision"
    kind: Literal["batch_scored"] = "batch_scored"
    run_id: str
    model: str
    status: Literal["scored", "rejected", "failed"]
    rows_in: int = 0
    rows_scored: int = 0
    arms: list[BatchArm] = Field(default_factory=list)
    predictions: str | None = None  # the run's predictions folder
    report: str | None = None  # the quarantine report (rejected)
    reasons: list[str] = Field(default_factory=list)
    started_at: datetime | None = None
    ended_at: datetime | None = None


# --------------------------------------------------------------------------- inputs that start nothing


class RequestIgnored(Fact):
    """A retrain request seen before (same dedupe key), kept under the model's coordinator."""

    ledger_kind: ClassVar[LedgerKind] = "request"
    kind: Literal["request_ignored"] = "request_ignored"
    ignored: Literal["duplicate"] = "duplicate"
    dedupe_key: str
    source: str


class EventIgnored(Fact):
    """An input that starts nothing (resolved alert, unmapped or invalid event, foreign URL)."""

    ledger_kind: ClassVar[LedgerKind] = "event"
    kind: Literal["event_ignored"] = "event_ignored"
    ignored: str  # why, in words
    event_id: str | None = None
    error: str | None = None
    container: str | None = None
    path: str | None = None
    api: str | None = None
    url: str | None = None
    alert_id: str | None = None
    alert_rule: str | None = None
    condition: str | None = None
    run_id: str | None = None
    run_status: str | None = None
    experiment: str | None = None


class LabelsArrived(Fact):
    """A ground-truth file landed under a policy's labels prefix: it feeds the online accuracy gate
    of the model's running rollout (read at its next evaluation) and starts no retraining."""

    ledger_kind: ClassVar[LedgerKind] = "event"
    kind: Literal["labels_arrived"] = "labels_arrived"
    event_id: str
    container: str
    path: str
    url: str | None = None
    content_length: int | None = None


AnyFact = Annotated[
    StepEntered
    | SmokeTested
    | TrafficChanged
    | GateEvaluated
    | ShadowGateEvaluated
    | OnlineAccuracyEvaluated
    | EvaluationDecided
    | DataRejected
    | RunAborted
    | ApprovalAsked
    | ApprovalAnswered
    | RolledBack
    | Promoted
    | ModelShared
    | DeployRequested
    | OperatorActed
    | RunFailed
    | RequestIgnored
    | EventIgnored
    | LabelsArrived
    | BatchDeploymentReady
    | BatchSmokeTested
    | BatchDefaultDecided
    | BatchDeployFailed
    | BatchScoringStarted
    | BatchScored,
    Field(discriminator="kind"),
]
FACT: TypeAdapter[AnyFact] = TypeAdapter(AnyFact)


def read_fact(data: dict[str, Any]) -> AnyFact | None:
    """A ledger entry's data as its fact; None for an entry no fact type describes (written
    before facts were typed, or by the coordinator's activities)."""
    try:
        return FACT.validate_python(data)
    except ValidationError as exc:
        log.debug("ledger entry is not a typed fact: %s", exc)
        return None
