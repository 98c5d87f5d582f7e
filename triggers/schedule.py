"""Timer trigger: retrain models whose policy has a schedule (NCRONTAB, six fields).

One app-wide tick each minute checks every policy, so schedules change with the policy files,
not with a redeploy. Each due occurrence becomes one request keyed by its time: a late, doubled
or past-due tick asks once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
from croniter import croniter

import wiring
from core.kernel.policy import Policy
from triggers.blueprint import bp
from triggers.intake import Intake, new_request, submit

log = logging.getLogger("triggers.schedule")

TICK = "0 * * * * *"  # every minute, on the minute
# An occurrence is still honoured this long after it was due (a tick can be late or skipped).
LOOKBACK = timedelta(minutes=5)


def last_occurrence(ncrontab: str, now: datetime) -> datetime:
    """The latest time at or before `now` the schedule fires (NCRONTAB puts seconds first)."""
    fields = ncrontab.split()
    expr = " ".join([*fields[1:], fields[0]]) if len(fields) == 6 else ncrontab
    base = now.astimezone(UTC) + timedelta(microseconds=1)
    return croniter(expr, base).get_prev(datetime).astimezone(UTC)


def due(policies: Iterable[Policy], now: datetime) -> list[tuple[str, datetime]]:
    out = []
    for policy in policies:
        if not policy.triggers.schedule:
            continue
        occurrence = last_occurrence(policy.triggers.schedule, now)
        if now - occurrence <= LOOKBACK:
            out.append((policy.model, occurrence))
    return sorted(out)


async def request_due(client: Any, now: datetime) -> list[Intake]:
    intakes = []
    for model, occurrence in due(wiring.policies().values(), now):
        details = {
            "schedule": wiring.policy(model).triggers.schedule,
            "occurrence": occurrence.isoformat(),
        }
        key = f"schedule:{model}:{occurrence.isoformat()}"
        intakes.append(await submit(client, new_request(model, "schedule", key, details)))
    return intakes


@bp.timer_trigger(arg_name="timer", schedule=TICK, run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def schedule_tick(timer: func.TimerRequest, client) -> None:
    from triggers.batch_scoring import request_scoring_due  # it imports this module

    now = datetime.now(UTC)
    intakes = await request_due(client, now) + await request_scoring_due(client, now)
    for intake in intakes:
        log.info("schedule -> %s %s", intake.request.model, intake.body()["status"])
