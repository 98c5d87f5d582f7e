"""Ledger facts: what happened in a run, one typed model per kind of fact.

The orchestrators and triggers build these instead of dict literals; the RunLedger port stores
`fact.model_dump(mode="json")` under the fact's `ledger_kind` (the column the operator API groups
by: step, traffic, gate, decision, error, event, request), and readers parse entries back with
`read_fact` (the same union). `kind` is the discriminator and is stored with the fact.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, TypeAdapter, ValidationError

from core.batch.facts import (
    BatchDefaultDecided,
    BatchDeployFailed,
    BatchDeploymentReady,
    BatchScored,
    BatchScoringStarted,
    BatchSmokeTested,
)
from core.environments.facts import DeployRequested, ModelShared
from core.intake.facts import EventIgnored, RequestIgnored
from core.kernel.fact import Fact, LedgerKind, SplitView
from core.monitoring.facts import DriftEvaluated, ScoreReferenceSet
from core.rollout.facts import (
    ApprovalAnswered,
    ApprovalAsked,
    EvidencePlanned,
    GateEvaluated,
    LabelsArrived,
    OnlineAccuracyEvaluated,
    Promoted,
    RolledBack,
    ShadowGateEvaluated,
    SmokeTested,
    TrafficChanged,
)
from core.run.status import Stage
from core.training.facts import DataRejected, EvaluationDecided

log = logging.getLogger("core.run.facts")


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


class RunAborted(Fact):
    ledger_kind: ClassVar[LedgerKind] = "decision"
    kind: Literal["run_aborted"] = "run_aborted"
    stage: Stage
    reason: str
    job: str | None = None
    abort: Any = None  # the operator's `abort` event data


class OperatorActed(Fact):
    """An operator raised an event on a running lifecycle (the operator API records it)."""

    ledger_kind: ClassVar[LedgerKind] = "decision"
    kind: Literal["operator_acted"] = "operator_acted"
    operator: str  # the action: approve | reject | abort | rollback
    reason: str = ""
    by: str = ""
    to: list[str]
    # who acted (core.kernel.authz.Caller.record): a signed-in person or "function-key" automation
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


AnyFact = Annotated[
    StepEntered
    | SmokeTested
    | TrafficChanged
    | GateEvaluated
    | ShadowGateEvaluated
    | OnlineAccuracyEvaluated
    | EvidencePlanned
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
    | BatchScored
    | DriftEvaluated
    | ScoreReferenceSet,
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
