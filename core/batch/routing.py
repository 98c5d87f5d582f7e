"""What starts a scoring run, without pandas (the trigger side imports it): the model whose
`batch.scoring_prefix` claims a blob, and the scoring schedules due at a tick."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from core.kernel.blob_paths import within_prefix
from core.kernel.policy import Policy
from core.kernel.schedule import due_occurrence


def scoring_due(policies: Iterable[Policy], now: datetime) -> list[tuple[str, datetime]]:
    """(model, occurrence) for every scoring schedule that fired within the lookback, by model."""
    out = []
    for policy in policies:
        schedule = policy.batch.schedule if policy.batch is not None else None
        if (occurrence := due_occurrence(schedule, now)) is not None:
            out.append((policy.model, occurrence))
    return sorted(out)


def route_scoring(policies: Iterable[Policy], container: str, path: str) -> str | None:
    """The model whose batch.scoring_prefix claims container/path (the longest prefix wins).
    Policies refuse a scoring prefix that overlaps a training prefix, so a blob is either scored
    or trained on, never both."""
    best: tuple[int, str] | None = None
    for policy in policies:
        prefix = policy.batch.scoring_prefix if policy.batch is not None else None
        if prefix is None or policy.data.container != container or not within_prefix(path, prefix):
            continue
        if best is None or (len(prefix), policy.model) > best:
            best = (len(prefix), policy.model)
    return best[1] if best else None
