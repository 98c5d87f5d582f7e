"""Timer trigger: retrain models whose policy has a schedule, and start the scoring runs of
policies with a batch.schedule (NCRONTAB, six fields).

One app-wide tick each minute checks every policy, so schedules change with the policy files,
not with a redeploy. Each due occurrence becomes one request keyed by its time: a late, doubled
or past-due tick asks once (`core/intake/schedule.py`, `core/batch/routing.py`,
`triggers.edge.Edge.schedule_tick`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import azure.functions as func

from triggers.blueprint import bp
from triggers.edge import get_edge

log = logging.getLogger("triggers.schedule")

TICK = "0 * * * * *"  # every minute, on the minute


@bp.timer_trigger(arg_name="timer", schedule=TICK, run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def schedule_tick(timer: func.TimerRequest, client) -> None:
    for intake in await get_edge().schedule_tick(client, datetime.now(UTC)):
        log.info("schedule -> %s %s", intake.request.model, intake.body()["status"])
