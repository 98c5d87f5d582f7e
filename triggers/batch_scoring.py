"""What starts a scoring run: a blob landing under a policy's batch.scoring_prefix (routed here by
triggers/blob_events.py) or a policy's batch.schedule (ticked by triggers/schedule.py).

Each delivery is recorded in the same dedupe table as retrain requests (under `batch:{model}`,
which no coordinator claims) and starts one `batch_score` orchestration whose instance id comes
from the dedupe key: a redelivered event or a doubled tick finds the run it started. Scoring runs
do not go through the model's coordinator: they never wait for (or hold up) a retrain.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import wiring
from core.batch.payloads import BatchScoreInput, batch_request_scope, batch_run_id
from core.batch.runs import route_scoring
from core.intake.events import BlobCreated, same_blob_location
from core.intake.facts import EventIgnored
from core.kernel.payload import BlobRef
from core.kernel.policy import Policy
from triggers.intake import Intake, _exists, new_request, off_loop, record_ignored
from triggers.schedule import LOOKBACK, last_occurrence

log = logging.getLogger("triggers.batch_scoring")


def scoring_model(event: BlobCreated) -> str | None:
    return route_scoring(wiring.policies().values(), event.container, event.path)


async def handle_scoring_blob(client: Any, model: str, event: BlobCreated) -> Intake | None:
    info = {"event_id": event.event_id, "container": event.container, "path": event.path, "api": event.api}
    if not same_blob_location(event.url, wiring.data_lake().url(event.container, event.path)):
        why = "url outside the configured storage account or container"
        await record_ignored(model, EventIgnored(ignored=why, url=event.url, **info))
        return None
    try:
        why = wiring.contract(model).not_data(event.path, event.content_length)
    except Exception as exc:  # the scoring run reports a contract that cannot load
        log.warning("contract of %s unavailable at the edge (%s)", model, exc)
        why = None
    if why is not None:
        await record_ignored(model, EventIgnored(ignored=f"not a data file: {why}", url=event.url, **info))
        return None
    details = {**info, "url": event.url, "etag": event.etag, "content_length": event.content_length}
    blob = BlobRef(container=event.container, path=event.path, etag=event.etag)
    return await submit_scoring(client, model, "blob", event.dedupe_keys[0], details, [blob])


async def submit_scoring(
    client: Any, model: str, source: str, dedupe_key: str, details: dict[str, Any], blobs: list[BlobRef]
) -> Intake:
    """Record the delivery, then make sure its run exists (also for a duplicate: the first
    delivery may have crashed between the two steps)."""
    request = new_request(batch_request_scope(model), source, dedupe_key, details)
    accepted = await off_loop(wiring.ledger().add_request, request)
    run_id = batch_run_id(model, dedupe_key)
    payload = BatchScoreInput(
        run_id=run_id,
        model=model,
        source=source,  # type: ignore[arg-type]
        request_id=request.request_id,
        dedupe_key=dedupe_key,
        blobs=blobs,
    )
    return Intake(request, not accepted, run_id, await ensure_run(client, payload))


async def ensure_run(client: Any, payload: BatchScoreInput) -> str:
    """Start the run unless its instance exists in any state (-> started | exists): a finished
    run is never started again, so an input is scored once."""
    if await client.get_status(payload.run_id):
        return "exists"
    try:
        await client.start_new("batch_score", instance_id=payload.run_id, client_input=payload.dump())
        return "started"
    except Exception as exc:
        if not _exists(exc):
            raise
        return "exists"


def scoring_due(policies: Iterable[Policy], now: datetime) -> list[tuple[str, datetime]]:
    out = []
    for policy in policies:
        if policy.batch is None or not policy.batch.schedule:
            continue
        occurrence = last_occurrence(policy.batch.schedule, now)
        if now - occurrence <= LOOKBACK:
            out.append((policy.model, occurrence))
    return sorted(out)


async def request_scoring_due(client: Any, now: datetime) -> list[Intake]:
    """A scheduled run scores every data file under the model's scoring prefix."""
    intakes = []
    for model, occurrence in scoring_due(wiring.policies().values(), now):
        key = f"batch-schedule:{model}:{occurrence.isoformat()}"
        details = {"schedule": wiring.policy(model).batch.schedule, "occurrence": occurrence.isoformat()}  # type: ignore[union-attr]
        intakes.append(await submit_scoring(client, model, "schedule", key, details, []))
    return intakes
