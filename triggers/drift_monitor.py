"""Timer trigger: the drift checks each policy's `monitoring.schedule` asks for.

One app-wide tick every 15 seconds (schedules may be that fine in a demo; on Azure the hourly default
makes almost every tick a no-op) finds the due occurrences and runs each check
(core/monitoring/monitor.py), keyed by model and occurrence, so a late or doubled tick checks once.
The check writes the figures Azure Monitor's drift alert rule reads; it never starts a lifecycle
itself: the alert does, through /api/alerts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import azure.functions as func

import wiring
from core.kernel.policy import Policy
from core.kernel.schedule import last_occurrence
from triggers.blueprint import bp

log = logging.getLogger("triggers.drift_monitor")

TICK = "*/15 * * * * *"
LOOKBACK = timedelta(minutes=5)  # an occurrence is still checked this long after it was due


def due_checks(policies: Iterable[Policy], now: datetime) -> list[tuple[Policy, datetime, str]]:
    out = []
    for policy in policies:
        if policy.monitoring is None:
            continue
        occurrence = last_occurrence(policy.monitoring.schedule, now)
        if now - occurrence <= LOOKBACK:
            out.append((policy, occurrence, f"{policy.model}:{occurrence.isoformat()}"))
    return sorted(out, key=lambda due: due[2])


def run_due_checks(now: datetime) -> list[str]:
    """The monitor is built only when a check is due: building it imports scipy and pandas and
    every port, which on a tick with nothing to check (almost all of them) stalled the event
    edge for seconds (issue 17)."""
    checks, done = due_checks(wiring.policies().values(), now), list[str]()
    if not checks:
        return done
    monitor = wiring.drift_monitor()
    for policy, occurrence, check_id in checks:
        try:
            fact = monitor.check(policy, occurrence, check_id)
        except Exception:  # one model's broken reference must not stop the others' checks
            log.exception("drift check %s failed", check_id)
            continue
        if fact is not None:
            log.info("drift %s: %s (%s)", check_id, fact.verdict, "; ".join(fact.reasons))
            done.append(check_id)
    return done


@bp.timer_trigger(arg_name="timer", schedule=TICK, run_on_startup=False)
async def drift_tick(timer: func.TimerRequest) -> None:
    await asyncio.to_thread(run_due_checks, datetime.now(UTC))
