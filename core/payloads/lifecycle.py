"""Payloads of the lifecycle orchestration (ingest, train, evaluate, register, ledger, events)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from core.facts import AnyFact
from core.payloads import Payload
from core.policy import Policy
from core.promotion import PromotionDecision
from core.status import RunStatus, Stage

__all__ = [
    "BlobRef",
    "ChampionInput",
    "ChampionResult",
    "EvaluationInput",
    "EvaluationResult",
    "EventSpec",
    "IngestInput",
    "IngestResult",
    "JobInput",
    "JobResult",
    "LifecycleInput",
    "LifecycleResult",
    "PromotionDecision",
    "PublishInput",
    "RecordInput",
    "RegisterInput",
    "RegisterResult",
    "RunStatus",
    "Stage",
    "StartInput",
    "StartResult",
    "SubmitJobInput",
]


class BlobRef(Payload):
    container: str
    path: str
    etag: str | None = None


class LifecycleInput(Payload):
    """What starts a lifecycle: the model and the (coalesced) requests that asked for it.

    With no blobs (an alert, a schedule, an operator) ingest reads every raw blob under the
    policy's data prefix."""

    model: str
    source: str = "operator"  # blob | alert | schedule | operator | aml_monitor | mixed
    request_ids: list[str] = Field(default_factory=list)
    event_ids: list[str] = Field(default_factory=list)  # upstream delivery ids (Event Grid, alert ids)
    blobs: list[BlobRef] = Field(default_factory=list)
    reason: str = ""


# --------------------------------------------------------------------------- start


class StartInput(Payload):
    run_id: str
    trigger: LifecycleInput
    started_at: datetime


class StartResult(Payload):
    """The policy snapshot the orchestration follows (recorded in history, so replays agree)."""

    run_id: str
    model: str
    policy: Policy
    policy_hash: str
    code_version: str


# --------------------------------------------------------------------------- ingest


class IngestInput(Payload):
    run_id: str
    model: str
    blobs: list[BlobRef] = Field(default_factory=list)


class IngestResult(Payload):
    status: Literal["accepted", "rejected"]
    model: str
    rows_in: int
    rows_out: int = 0
    sources: list[BlobRef] = Field(default_factory=list)
    data_version: str | None = None
    train_uri: str | None = None  # folder URLs (uri_folder job inputs)
    eval_uri: str | None = None
    train_ref: BlobRef | None = None  # the same folders as container + prefix, for staging job inputs
    eval_ref: BlobRef | None = None
    features_uri: str | None = None
    train_rows: int = 0
    eval_rows: int = 0
    quarantine_uri: str | None = None  # folder holding the raw file(s) and report.json
    report_uri: str | None = None
    failures: list[str] = Field(default_factory=list)  # one line per failed rule


# --------------------------------------------------------------------------- jobs


class SubmitJobInput(Payload):
    run_id: str
    model: str
    kind: Literal["train", "evaluate"]
    job_name: str
    inputs: dict[str, str] = Field(default_factory=dict)  # literal values and model URIs
    data_inputs: dict[str, BlobRef] = Field(default_factory=dict)  # data lake folders, staged per mode
    tags: dict[str, str] = Field(default_factory=dict)


class JobInput(Payload):
    job_name: str


class JobResult(Payload):
    name: str
    state: Literal["queued", "running", "completed", "failed", "canceled"]
    done: bool
    message: str = ""
    studio_url: str = ""
    outputs: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)


# --------------------------------------------------------------------------- evaluate


class ChampionInput(Payload):
    model: str


class ChampionResult(Payload):
    model: str
    version: str | None = None
    source_uri: str | None = None


class EvaluationInput(Payload):
    run_id: str
    model: str
    job_name: str  # the finished evaluation job
    champion_version: str | None = None


class EvaluationResult(Payload):
    job_name: str
    challenger_metrics: dict[str, float]
    champion_metrics: dict[str, float] | None = None
    rows: int | None = None
    decision: PromotionDecision


# --------------------------------------------------------------------------- register


class RegisterInput(Payload):
    run_id: str
    model: str
    source_uri: str
    tags: dict[str, str]


class RegisterResult(Payload):
    name: str
    version: str
    source_uri: str
    tags: dict[str, str] = Field(default_factory=dict)


# --------------------------------------------------------------------------- ledger and events


class RecordInput(Payload):
    """A ledger update: changed fields of the run record, plus an optional append-only entry."""

    run_id: str
    status: RunStatus | None = None
    stage: Stage | None = None
    data_version: str | None = None
    job_name: str | None = None
    metrics: dict[str, Any] | None = None
    decision: dict[str, Any] | None = None
    lineage: dict[str, Any] | None = None
    challenger_version: str | None = None
    champion_version: str | None = None
    fact: AnyFact | None = None  # appended to the run's ledger under fact.ledger_kind

    def changes(self) -> dict[str, Any]:
        skip = {"run_id", "fact"}
        return {k: v for k, v in self.model_dump(mode="json").items() if k not in skip and v is not None}


class EventSpec(Payload):
    id: str  # from context.new_uuid(): stable across replays, so subscribers can dedupe
    kind: str  # becomes CloudEvent type mllifecycle.<kind>
    model: str
    run_id: str
    time: datetime
    data: dict[str, Any] = Field(default_factory=dict)


class PublishInput(Payload):
    events: list[EventSpec]


# --------------------------------------------------------------------------- outcome


class LifecycleResult(Payload):
    run_id: str
    model: str
    status: RunStatus
    stage: Stage
    data_version: str | None = None
    job_name: str | None = None
    decision: PromotionDecision | None = None
    challenger_version: str | None = None
    reasons: list[str] = Field(default_factory=list)
