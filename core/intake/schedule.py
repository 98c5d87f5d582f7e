"""Which models' retrain schedules are due at a tick (policy `triggers.schedule`, NCRONTAB)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from core.kernel.policy import Policy
from core.kernel.schedule import due_occurrence


def due(policies: Iterable[Policy], now: datetime) -> list[tuple[str, datetime]]:
    """(model, occurrence) for every schedule that fired within the lookback, by model."""
    out = []
    for policy in policies:
        if (occurrence := due_occurrence(policy.triggers.schedule, now)) is not None:
            out.append((policy.model, occurrence))
    return sorted(out)
