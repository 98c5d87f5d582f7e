"""NCRONTAB occurrences: when a schedule in a policy last fired, and how late a tick may honour it.

Shared by the retrain schedule (core/intake/schedule.py) and the batch scoring schedule
(core/batch/schedule.py); pure, no clock of its own (the caller passes `now`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from croniter import croniter

# An occurrence is still honoured this long after it was due (a tick can be late or skipped).
LOOKBACK = timedelta(minutes=5)


def last_occurrence(ncrontab: str, now: datetime) -> datetime:
    """The latest time at or before `now` the schedule fires (NCRONTAB puts seconds first)."""
    fields = ncrontab.split()
    expr = " ".join([*fields[1:], fields[0]]) if len(fields) == 6 else ncrontab
    base = now.astimezone(UTC) + timedelta(microseconds=1)
    return croniter(expr, base).get_prev(datetime).astimezone(UTC)


def due_occurrence(ncrontab: str | None, now: datetime) -> datetime | None:
    """The occurrence a tick at `now` must honour, or None (no schedule, or none within LOOKBACK)."""
    if not ncrontab:
        return None
    occurrence = last_occurrence(ncrontab, now)
    return occurrence if now - occurrence <= LOOKBACK else None
