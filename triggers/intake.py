"""What every trigger does once it knows which model an input is for: a retrain request with a
deterministic id, and making sure the model's coordinator will see it (recording it is
`triggers.edge.Edge.submit`, over the ledger the composition root injects).

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
import time
import weakref
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import azure.functions as func

from core.intake.events import MAX_PAYLOAD_BYTES
from core.intake.payloads import RETRAIN_REQUESTED, CoordinatorInput, coordinator_id
from core.kernel.failures import scrub_tracebacks
from core.kernel.ports import RetrainRequest
from core.run.status import CoordinatorStatus
from triggers.api_models import Accepted, Error

log = logging.getLogger("triggers")
T = TypeVar("T")
A = TypeVar("A")
R = TypeVar("R")

# One coordinator start at a time per model in this worker: two first requests arriving
# together must not both call start_new (the second would replace a coordinator that is
# already claiming).
_start_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)


async def off_loop(call: Callable[..., T], *args: Any) -> T:
    """A blocking call (ledger, blob, registry) from an `async def` trigger, run on a worker thread."""
    return await asyncio.to_thread(call, *args)


@dataclass
class _Gathering(Generic[A, R]):
    waiting: list[tuple[A, asyncio.Future[R]]] = field(default_factory=list)
    flush: asyncio.Task[None] | None = None


class Together(Generic[A, R]):
    """Hands the arguments of concurrent callers to one blocking call of them all, off the loop:
    whoever arrives while a call runs waits for the next, which takes everyone waiting. `call`
    answers each argument in order. In an Event Grid storm one thread hop and one ledger
    transaction per event cost the edge more than the rest of its work (issue 17).

    If the call fails for a group, each argument is tried alone, so one bad argument fails only
    its own caller (who gets the error, and Event Grid retries just that delivery)."""

    def __init__(self, call: Callable[[list[A]], list[R]]) -> None:
        self._call = call
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Gathering[A, R]] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, arg: A) -> R:
        loop = asyncio.get_running_loop()
        gathering = self._by_loop.setdefault(loop, _Gathering())
        answer: asyncio.Future[R] = loop.create_future()
        gathering.waiting.append((arg, answer))
        if gathering.flush is None:
            gathering.flush = loop.create_task(self._flush(gathering))
        return await answer

    async def _flush(self, gathering: _Gathering[A, R]) -> None:
        group: list[tuple[A, asyncio.Future[R]]] = []
        try:
            while gathering.waiting:
                group, gathering.waiting = gathering.waiting, []
                try:
                    answers = await off_loop(self._each, [arg for arg, _ in group])
                except Exception as exc:  # the hop itself failed (executor shut down)
                    answers = [_Failed(exc)] * len(group)
                for (_, answer), result in zip(group, answers, strict=True):
                    if answer.done():  # its caller went away; the call still happened
                        continue
                    if isinstance(result, _Failed):
                        answer.set_exception(result.error)
                    else:
                        answer.set_result(result)
                group = []
        finally:  # cancelled with its loop: nobody left waiting may hang
            leftover, gathering.waiting, gathering.flush = group + gathering.waiting, [], None
            for _, answer in leftover:
                answer.cancel()

    def _each(self, args: list[A]) -> list[R | _Failed]:
        try:
            return list(self._call(args))
        except Exception as exc:
            if len(args) == 1:
                return [_Failed(exc)]
        out: list[R | _Failed] = []
        for arg in args:
            try:
                out.extend(self._call([arg]))
            except Exception as exc:
                out.append(_Failed(exc))
        return out


@dataclass(frozen=True)
class _Failed:
    error: Exception


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


def exists_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("already exists", "409", "conflict", "already running"))


# Coordinator phases after which a claim is still to come (it is scheduled in a later episode
# than the one that set the phase), so a request recorded now is seen without a wake-up. Not
# raising events then keeps a storm from flooding the coordinator's history with wake-ups.
_CLAIM_PENDING_PHASES = {"debouncing", "running"}
_ACTIVE = {"Running", "Pending"}

# When this worker last read a model's coordinator in one of those phases. Edge.submit skips the
# status read while another request of the model waits unconsumed and the coordinator was seen
# alive with a claim due within the last CLAIM_DUE_FRESH_SECONDS (a coordinator that fails in
# that second is restarted by the next read or the outbox sweep, as one failing just after a read).
CLAIM_DUE_FRESH_SECONDS = 1.0
_claim_due_seen: dict[str, float] = {}


def claim_due_seen(model: str) -> bool:
    """This worker saw the model's coordinator with a claim due within CLAIM_DUE_FRESH_SECONDS."""
    seen = _claim_due_seen.get(model)
    return seen is not None and time.monotonic() - seen < CLAIM_DUE_FRESH_SECONDS


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
            _claim_due_seen[model] = time.monotonic()
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
            if not exists_error(exc):
                raise
        await client.raise_event(instance, RETRAIN_REQUESTED, {"model": model})
        return "signalled"


# --------------------------------------------------------------------------- HTTP helpers


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    """No answer carries a stack trace (core.kernel.failures), whatever a status or fact recorded."""
    return func.HttpResponse(
        json.dumps(scrub_tracebacks(body), default=str),
        status_code=status,
        mimetype="application/json",
        headers=headers,
    )


def error(status: int, message: str) -> func.HttpResponse:
    return json_response(Error(error=message).dump(), status)


def body_too_large(req: func.HttpRequest) -> func.HttpResponse | None:
    size = len(req.get_body() or b"")
    if size > MAX_PAYLOAD_BYTES:
        return error(413, f"the body is {size} bytes; the limit is {MAX_PAYLOAD_BYTES} (256 KB)")
    return None
