"""Coalescing and budget decisions for retrain requests: pure functions of ledger data.

Many triggers (uploads, alerts, schedules, operators, redeliveries) ask for a retrain of the
same model. The coordinator turns them into at most one lifecycle at a time: whatever is
pending when it may start a run is consumed by that run, all of it, unless the model's
training budget for the day is spent, in which case every request is held with the reason
and the time the budget opens again. Each decision carries its reasons and numbers so the
ledger (and an operator) can see why nothing started.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from core.intake.payloads import LifecycleInput
from core.kernel.payload import BlobRef
from core.kernel.ports import RetrainRequest, RunRecord

# A run counts against the budget once it reached training (a run rejected at ingest, e.g.
# quarantined data, used no compute).
# A burst may extend its debounce window up to this many windows after its first request.
MAX_DEBOUNCE_FACTOR = 10

TRAINING_STAGES = frozenset({"train", "evaluate", "register", "deploy", "smoke", "mirror", "ramp", "promote"})


@dataclass(frozen=True)
class ClaimDecision:
    consume: tuple[str, ...] = ()  # request ids the next run consumes (all pending, oldest first)
    held: tuple[str, ...] = ()  # request ids left pending, with held_reason
    held_reason: str | None = None
    retry_at: datetime | None = None  # when a held request may be claimed again (None: never by itself)
    wait_until: datetime | None = None  # the debounce window is still open: claim again then
    reasons: tuple[str, ...] = ()
    numbers: dict[str, Any] = field(default_factory=dict)

    @property
    def start_run(self) -> bool:
        return bool(self.consume)


def day_start(now: datetime) -> datetime:
    """Budgets count per UTC day."""
    now = now.astimezone(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def counts_as_training(run: RunRecord) -> bool:
    return run.job_name is not None or run.stage in TRAINING_STAGES


def trainings_today(runs: Iterable[RunRecord], now: datetime) -> int:
    start = day_start(now)
    return sum(
        1
        for run in runs
        if run.created_at is not None and run.created_at >= start and counts_as_training(run)
    )


def claim(
    pending: Sequence[RetrainRequest],
    *,
    trainings_today: int,
    max_trainings_per_day: int,
    now: datetime,
    debounce_seconds: int = 0,
) -> ClaimDecision:
    """Decide what the next run consumes: every pending request, or none yet (the burst is
    still settling: wait until the debounce window after the oldest request closes), or none
    at all (budget spent: hold them, with the reason and when the budget reopens)."""
    ordered = sorted(pending, key=lambda r: (r.received_at, r.request_id))
    ids = tuple(r.request_id for r in ordered)
    numbers = {
        "pending": len(ids),
        "trainings_today": trainings_today,
        "max_trainings_per_day": max_trainings_per_day,
        "sources": sorted({r.source for r in ordered}),
        "debounce_seconds": debounce_seconds,
    }
    if not ids:
        return ClaimDecision(reasons=("no pending requests",), numbers=numbers)
    settles = debounce_until(ordered[0].received_at, debounce_seconds, newest=ordered[-1].received_at)
    if settles > now:
        reason = f"debounce: {len(ids)} request(s) pending; the burst settles at {settles.isoformat()}"
        return ClaimDecision(wait_until=settles, reasons=(reason,), numbers=numbers)
    if max_trainings_per_day <= 0:
        reason = "budget.max_trainings_per_day is 0: retraining is disabled for this model"
        return ClaimDecision(held=ids, held_reason=reason, reasons=(reason,), numbers=numbers)
    if trainings_today >= max_trainings_per_day:
        reopens = day_start(now) + timedelta(days=1)
        reason = (
            f"budget: {trainings_today} of {max_trainings_per_day} trainings used today (UTC); "
            f"held until {reopens.isoformat()}"
        )
        return ClaimDecision(
            held=ids, held_reason=reason, retry_at=reopens, reasons=(reason,), numbers=numbers
        )
    reason = (
        f"{len(ids)} pending request(s) coalesced into one run "
        f"(training {trainings_today + 1} of {max_trainings_per_day} today)"
    )
    return ClaimDecision(consume=ids, reasons=(reason,), numbers=numbers)


def debounce_until(first_seen: datetime, debounce_seconds: int, newest: datetime | None = None) -> datetime:
    """A burst (a multi-file upload, an alert storm) settles before a run starts: the window
    closes `debounce_seconds` after the newest request (quiet period), but never later than
    MAX_DEBOUNCE_FACTOR windows after the oldest, so a steady trickle cannot starve the model."""
    window = timedelta(seconds=max(0, debounce_seconds))
    quiet = (newest or first_seen) + window
    return min(max(quiet, first_seen + window), first_seen + MAX_DEBOUNCE_FACTOR * window)


def run_input(model: str, requests: Sequence[RetrainRequest]) -> LifecycleInput:
    """The lifecycle's input for the requests one run consumes: which blobs arrived (ingest reads
    the whole data prefix when none did), which deliveries asked, and why, in one line."""
    ordered = sorted(requests, key=lambda r: (r.received_at, r.request_id))
    sources = sorted({r.source for r in ordered})
    blobs: list[BlobRef] = []
    seen: set[tuple[str, str]] = set()
    for request in ordered:
        container, path = request.details.get("container"), request.details.get("path")
        if request.source == "blob" and isinstance(container, str) and isinstance(path, str):
            if (container, path) in seen:
                continue
            seen.add((container, path))
            etag = request.details.get("etag")
            blobs.append(
                BlobRef(container=container, path=path, etag=etag if isinstance(etag, str) else None)
            )
    event_ids = [str(r.details["event_id"]) for r in ordered if r.details.get("event_id")]
    counts = ", ".join(f"{sum(1 for r in ordered if r.source == s)} {s}" for s in sources)
    return LifecycleInput(
        model=model,
        source=sources[0] if len(sources) == 1 else ("mixed" if sources else "operator"),
        request_ids=[r.request_id for r in ordered],
        event_ids=event_ids,
        blobs=blobs,
        reason=f"{len(ordered)} request(s): {counts}" if ordered else "",
    )
