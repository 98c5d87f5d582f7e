"""Timer trigger: the ledger is the outbox. Every model with pending requests gets its coordinator
woken or started, each minute (not at start-up: that fired on every scale-out instance).

A trigger records a request and then wakes (or starts) the model's coordinator; a host that dies
between the two leaves a recorded request that nothing will claim: an idle coordinator rechecks
only after 15 minutes, and a model's first request has no coordinator at all. The sweep closes
that gap. It is idempotent: a coordinator that will claim anyway (debouncing, running, claiming,
or held by the budget until a later time) is left alone, and a wake-up only makes a coordinator
claim from the ledger, so a request is never run twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import azure.functions as func

import wiring
from core.intake.payloads import coordinator_id
from core.run.status import CoordinatorStatus
from triggers.blueprint import bp
from triggers.intake import off_loop, wake_coordinator

log = logging.getLogger("triggers.outbox")

SWEEP = "30 * * * * *"  # every minute, half a minute after the schedule tick
ACTIVE = {"Running", "Pending"}
# A claim is due without a wake-up: it is scheduled (claiming), on a timer (debouncing) or
# follows the run that is going (running). `held` waits for the budget; see will_claim.
CLAIM_DUE = {"claiming", "debouncing", "running"}


def will_claim(status: Any, now: datetime) -> str | None:
    """Why the coordinator will claim without a wake-up (None: wake it). `status` is what the
    durable client returned for it, None if it could not be read."""
    if not status:
        return None
    runtime = getattr(status.runtime_status, "value", status.runtime_status)
    if runtime not in ACTIVE:
        return None
    custom = CoordinatorStatus.read(status.custom_status)
    if custom is None:
        return None
    if custom.phase in CLAIM_DUE:
        return custom.phase
    if custom.phase == "held" and (until := _instant(custom.until)) is not None and until > now:
        return f"held until {custom.until}"
    return None  # idle with pending requests: its wake-up was lost


def _instant(text: str | None) -> datetime | None:
    try:
        at = datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


async def nudge(client: Any, model: str, now: datetime) -> str:
    """-> busy (<why>) | signalled | started."""
    instance = coordinator_id(model)
    try:
        status = await client.get_status(instance)
    except Exception as exc:  # unknown: waking it is always safe
        log.warning("status of %s unavailable (%s); waking it", instance, exc)
        status = None
    if (why := will_claim(status, now)) is not None:
        return f"busy ({why})"
    return await wake_coordinator(client, model)


async def sweep(client: Any, now: datetime) -> dict[str, str]:
    """-> {model: what was done} for every model with pending requests. One model's failure
    (logged) does not keep the others from being woken."""
    ledger = wiring.ledger()
    done: dict[str, str] = {}
    for model in sorted(wiring.policies()):
        if not await off_loop(ledger.pending_requests, model):
            continue
        try:
            done[model] = await nudge(client, model, now)
        except Exception as exc:
            log.error("outbox: could not wake %s: %s", coordinator_id(model), exc)
            done[model] = f"failed ({str(exc)[:200]})"
    return done


# No run_on_startup: it fired on every scale-out instance's start; the minute tick covers a restart.
@bp.timer_trigger(arg_name="timer", schedule=SWEEP, run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def outbox_sweep(timer: func.TimerRequest, client) -> None:
    for model, action in (await sweep(client, datetime.now(UTC))).items():
        log.info("outbox -> %s %s", coordinator_id(model), action)
