"""Payloads of the per-model coordinator (coalescing retrain requests into lifecycle runs)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import Field

from core.kernel.activity import Activity
from core.kernel.payload import BlobRef, Payload

RETRAIN_REQUESTED = "retrain_requested"  # the event the triggers raise on a coordinator
OPERATOR_EVENTS = ("approve", "reject", "abort", "rollback")  # events the operator API raises on a run


def coordinator_id(model: str) -> str:
    """One coordinator instance per model: the singleton that makes 'one run at a time' true."""
    return f"coordinator-{model}"


ROLLOUT_SUFFIX = "-rollout"  # a lifecycle's rollout sub-orchestration is `{run_id}-rollout`
# What follows `{model}-` in a lifecycle id: the claim time (UTC, to the second) and 6 hex
# digits of the coordinator's deterministic uuid; optionally the rollout suffix.
_RUN_ID_TAIL = re.compile(r"-([0-9]{14})-([0-9a-f]{6})(" + re.escape(ROLLOUT_SUFFIX) + r")?")


def lifecycle_id(model: str, claimed_at: datetime, uuid: str) -> str:
    """The id of a lifecycle run (and of its durable instance), made by the model's coordinator."""
    return f"{model}-{claimed_at:%Y%m%d%H%M%S}-{uuid[:6]}"


def lifecycle_model(run_id: str, models: Iterable[str]) -> str | None:
    """The model whose lifecycle (or rollout) `run_id` names, or None: the operator API refuses
    an id that is not one before it reaches the ledger or the durable API."""
    for model in models:
        if run_id.startswith(f"{model}-") and _RUN_ID_TAIL.fullmatch(run_id, len(model)):
            return model
    return None


class CoordinatorInput(Payload):
    model: str
    generation: int = Field(default=0, ge=0)  # continue_as_new count, for status and tests
    runs: int = Field(default=0, ge=0)  # lifecycles this coordinator has started


class ClaimInput(Payload):
    model: str
    run_id: str  # the id the next lifecycle gets if the claim starts one
    now: datetime
    coordinator: str  # the coordinator instance (held requests are recorded under it)


class ClaimResult(Payload):
    model: str
    run_id: str | None = None  # set when a run starts: consume them under this id
    lifecycle: LifecycleInput | None = None
    consumed: list[str] = Field(default_factory=list)
    held: list[str] = Field(default_factory=list)
    held_reason: str | None = None
    retry_at: datetime | None = None  # budget spent: claim again then
    wait_until: datetime | None = None  # debounce window still open: claim again then
    reasons: list[str] = Field(default_factory=list)
    numbers: dict[str, Any] = Field(default_factory=dict)
    # the sub-orchestrator that runs the lifecycle; `lifecycle_dry_run` when LIFECYCLE_DRY_RUN
    # is set (benchmarks and storms: coalescing is exercised, nothing is trained)
    orchestrator: str = "lifecycle"
    dry_run_seconds: int = 0


class RunFinishedInput(Payload):
    model: str
    run_id: str
    coordinator: str
    ok: bool
    error: str | None = None


DRY_RUN_ORCHESTRATOR = "lifecycle_dry_run"


class DryRunInput(Payload):
    """Input of `lifecycle_dry_run`: what the lifecycle would get, and how long to pretend."""

    trigger: LifecycleInput
    seconds: int = Field(default=0, ge=0)


class RecordDryRunInput(Payload):
    run_id: str
    trigger: LifecycleInput


class RecordDryRunResult(Payload):
    run_id: str


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


# --------------------------------------------------------------------------- activities of the coordinator

CLAIM = Activity("coordinator_claim", ClaimInput, ClaimResult)
RUN_FINISHED = Activity("coordinator_run_finished", RunFinishedInput, RunFinishedInput)
RECORD_DRY_RUN = Activity("coordinator_record_dry_run", RecordDryRunInput, RecordDryRunResult)
