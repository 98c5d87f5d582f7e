"""Payloads of the lifecycle orchestration (ingest, train, evaluate, register, ledger, events)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from core.intake.payloads import LifecycleInput
from core.kernel.activity import Activity
from core.kernel.payload import Payload
from core.kernel.policy import Policy
from core.run.facts import AnyFact
from core.run.status import RunStatus, Stage
from core.training.verdict import ChallengerVerdict

__all__ = [
    "PUBLISH",
    "RECORD",
    "START",
    "EventSpec",
    "LifecycleResult",
    "PublishInput",
    "PublishResult",
    "RecordInput",
    "RecordResult",
    "StartInput",
    "StartResult",
]


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


class RecordResult(Payload):
    """The run record after the update (None: the ledger has no record of the run)."""

    run_id: str
    status: str | None = None
    stage: str | None = None


class EventSpec(Payload):
    id: str  # from context.new_uuid(): stable across replays, so subscribers can dedupe
    kind: str  # becomes CloudEvent type mllifecycle.<kind>
    model: str
    run_id: str
    time: datetime
    data: dict[str, Any] = Field(default_factory=dict)


class PublishInput(Payload):
    events: list[EventSpec]


class PublishResult(Payload):
    published: int


# --------------------------------------------------------------------------- outcome


class LifecycleResult(Payload):
    run_id: str
    model: str
    status: RunStatus
    stage: Stage
    data_version: str | None = None
    job_name: str | None = None
    decision: ChallengerVerdict | None = None
    challenger_version: str | None = None
    reasons: list[str] = Field(default_factory=list)


# --------------------------------------------------------------------------- activities

START = Activity("lifecycle_start", StartInput, StartResult)
RECORD = Activity("lifecycle_record", RecordInput, RecordResult)
PUBLISH = Activity("lifecycle_publish", PublishInput, PublishResult)
