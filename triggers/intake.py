"""What every trigger does once it knows which model an input is for: record a retrain request
in the ledger (the dedupe point) and make sure the model's coordinator will see it.

Shared by the Event Grid, alert, schedule and operator triggers; registers no functions. The
ledger calls block (azure-cosmos's sync client, SQLite locally), and an `async def` trigger runs on
the worker's event loop, so they run on a thread (`off_loop`): concurrent invocations on one
instance keep overlapping instead of queueing behind each other's I/O. The ledger is the truth: the `retrain_requested` event only wakes the coordinator, which claims
from the ledger, so a duplicate, a lost event or a crash between the two steps loses nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import azure.functions as func

import wiring
from core.intake.events import MAX_PAYLOAD_BYTES
from core.intake.facts import EventIgnored, RequestIgnored
from core.intake.payloads import RETRAIN_REQUESTED, CoordinatorInput, coordinator_id
from core.kernel.ports import RetrainRequest
from core.run.status import CoordinatorStatus
from triggers.api_models import Accepted, Error

log = logging.getLogger("triggers")
T = TypeVar("T")

# One coordinator start at a time per model in this worker: two first requests arriving
# together must not both call start_new (the second would replace a coordinator that is
# already claiming).
_start_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)


async def off_loop(call: Callable[..., T], *args: Any) -> T:
    """A blocking call (ledger, blob, registry) from an `async def` trigger, run on a worker thread."""
    return await asyncio.to_thread(call, *args)


def _record(request: RetrainRequest) -> bool:
    ledger = wiring.ledger()
    accepted = ledger.add_request(request)
    if not accepted:
        fact = RequestIgnored(dedupe_key=request.dedupe_key, source=request.source)
        ledger.append(coordinator_id(request.model), fact.ledger_kind, fact.dump())
    return accepted


@dataclass(frozen=True)
class Intake:
    request: RetrainRequest
    duplicate: bool
    coordinator: str
    coordinator_action: str  # busy (a claim is due anyway) | signalled | started

    def accepted(self) -> Accepted:
        return Accepted(
            status="duplicate" if self.duplicate else "accepted",
            model=self.request.model,
            request_id=self.request.request_id,
            dedupe_key=self.request.dedupe_key,
            coordinator=self.coordinator,
        )

    def body(self) -> dict[str, Any]:
        return self.accepted().model_dump(mode="json", exclude_none=True)


def request_id_for(dedupe_key: str) -> str:
    """Deterministic: a redelivery maps to the same request id as the original."""
    return "req-" + hashlib.sha256(dedupe_key.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def new_request(model: str, source: str, dedupe_key: str, details: dict[str, Any]) -> RetrainRequest:
    return RetrainRequest(
        request_id=request_id_for(f"{model}|{dedupe_key}"),
        model=model,
        source=source,
        dedupe_key=dedupe_key,
        received_at=datetime.now(UTC),
        details=details,
    )


def _missing(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(
        s in text for s in ("no instance", "not found", "404", "is gone", "410", "completed or failed")
    )


def _exists(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("already exists", "409", "conflict", "already running"))


# Coordinator phases after which a claim is still to come (it is scheduled in a later episode
# than the one that set the phase), so a request recorded now is seen without a wake-up. Not
# raising events then keeps a storm from flooding the coordinator's history with wake-ups.
_CLAIM_PENDING_PHASES = {"debouncing", "running"}
_ACTIVE = {"Running", "Pending"}


def _phase(status: Any) -> str | None:
    if not status:
        return None
    runtime = getattr(status.runtime_status, "value", status.runtime_status)
    if runtime not in _ACTIVE:
        return None
    custom = CoordinatorStatus.read(status.custom_status)
    return custom.phase if custom is not None else None


async def ensure_coordinator(client: Any, model: str) -> str:
    """Make sure the model's coordinator will claim what was just recorded: nothing to do when a
    claim is already due, else wake it (starting it if it is not running)."""
    instance = coordinator_id(model)
    try:
        if _phase(await client.get_status(instance)) in _CLAIM_PENDING_PHASES:
            return "busy"
    except Exception as exc:  # status unknown: waking it is always safe
        log.warning("status of %s unavailable (%s); raising the event", instance, exc)
    return await wake_coordinator(client, model)


async def wake_coordinator(client: Any, model: str) -> str:
    """Raise `retrain_requested` on the model's coordinator, starting it if it is not running
    (-> signalled | started). Safe to repeat: a wake-up only makes it claim from the ledger."""
    instance = coordinator_id(model)
    try:
        await client.raise_event(instance, RETRAIN_REQUESTED, {"model": model})
        return "signalled"
    except Exception as exc:
        if not _missing(exc):
            raise
    async with _start_locks[model]:
        try:  # another request may have started it while we waited for the lock
            await client.raise_event(instance, RETRAIN_REQUESTED, {"model": model})
            return "signalled"
        except Exception as exc:
            if not _missing(exc):
                raise
        try:
            await client.start_new(
                "coordinator", instance_id=instance, client_input=CoordinatorInput(model=model).dump()
            )
            return "started"
        except Exception as exc:
            if not _exists(exc):
                raise
        await client.raise_event(instance, RETRAIN_REQUESTED, {"model": model})
        return "signalled"


async def submit(client: Any, request: RetrainRequest) -> Intake:
    """Record the request (False from the ledger = a delivery seen before) and wake the
    coordinator either way: if the first delivery crashed after recording, its retry is what
    makes sure the recorded request is claimed (a wake-up never starts a run by itself). If the
    host dies between the two steps, the outbox sweep (triggers/outbox.py) does the waking."""
    accepted = await off_loop(_record, request)
    if pause := wiring.settings().test_intake_pause_seconds:  # test only: a crash lands here
        log.warning("LIFECYCLE_TEST_INTAKE_PAUSE_SECONDS: pausing %ss before waking", pause)
        await asyncio.sleep(pause)
    action = await ensure_coordinator(client, request.model)
    return Intake(request, not accepted, coordinator_id(request.model), action)


async def record_ignored(model: str | None, fact: EventIgnored) -> None:
    """Inputs that start nothing (resolved alerts, unmapped events, uncommitted writes) are kept
    in the ledger too, under the model's coordinator (or `unrouted`), so 'why did nothing
    happen?' has an answer."""
    run_id = coordinator_id(model) if model else "unrouted"
    await off_loop(wiring.ledger().append, run_id, fact.ledger_kind, fact.dump())


# --------------------------------------------------------------------------- HTTP helpers


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, default=str), status_code=status, mimetype="application/json", headers=headers
    )


def error(status: int, message: str) -> func.HttpResponse:
    return json_response(Error(error=message).dump(), status)


def body_too_large(req: func.HttpRequest) -> func.HttpResponse | None:
    size = len(req.get_body() or b"")
    if size > MAX_PAYLOAD_BYTES:
        return error(413, f"the body is {size} bytes; the limit is {MAX_PAYLOAD_BYTES} (256 KB)")
    return None
