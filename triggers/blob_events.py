"""Event Grid trigger: data landed in the lake (BlobCreated) or a model monitor breached a
threshold (AML RunStatusChanged). Both schemas arrive here: the Event Grid schema and CloudEvents.

The trigger parses; `triggers.edge.Edge.event` routes: a blob under a policy's labels prefix
(rollout.gates.online_accuracy) is ground truth for the online accuracy gate and starts nothing,
one under a batch.scoring_prefix starts a scoring run, one under a training prefix a retrain
request. Bad or foreign events are logged and recorded, not raised: raising makes Event Grid
redeliver an event that can never succeed. Only errors that a retry can fix (ledger or host
unavailable) propagate, so Event Grid retries them and dedupe absorbs the repeats.
"""

from __future__ import annotations

import logging
from typing import Any

import azure.functions as func

from core.intake.events import EventValidationError, parse_event
from core.intake.facts import EventIgnored
from triggers.blueprint import bp
from triggers.edge import get_edge

log = logging.getLogger("triggers.blob_events")


def event_document(event: Any) -> dict[str, Any]:
    """The wire JSON of the event the worker decoded (func.EventGridEvent or func.CloudEvent)."""
    if isinstance(event, dict):
        return event
    if hasattr(event, "specversion"):
        time = getattr(event, "time", None)
        doc = {
            "specversion": event.specversion,
            "id": event.id,
            "source": event.source,
            "type": event.type,
            "subject": event.subject,
            "time": time.isoformat() if time else None,
            "data": event.get_json(),
        }
    else:
        when = event.event_time
        doc = {
            "id": event.id,
            "topic": event.topic,
            "subject": event.subject,
            "eventType": event.event_type,
            "eventTime": when.isoformat() if when else None,
            "dataVersion": event.data_version,
            "data": event.get_json(),
        }
    return {k: v for k, v in doc.items() if v is not None}


@bp.event_grid_trigger(arg_name="event")
@bp.durable_client_input(client_name="client")
async def on_blob_created(event: func.EventGridEvent, client) -> None:
    edge = get_edge()
    try:
        parsed = parse_event(event_document(event))
    except EventValidationError as exc:
        log.warning("refused event %s: %s", getattr(event, "id", "?"), exc)
        event_id = str(getattr(event, "id", ""))[:200]
        await edge.record_ignored(
            None, EventIgnored(ignored="invalid event", event_id=event_id, error=str(exc))
        )
        return
    outcome = await edge.event(client, parsed)
    if outcome is not None:
        log.info("event %s -> %s %s", parsed.event_id, outcome.body()["status"], outcome.request.request_id)
