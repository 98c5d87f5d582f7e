"""Event Grid trigger: data landed in the lake (BlobCreated) or a model monitor breached a
threshold (AML RunStatusChanged). Both schemas arrive here: the Event Grid schema and CloudEvents.

A blob under a policy's labels prefix (rollout.gates.online_accuracy) is ground truth for the
online accuracy gate, not training data: it is recorded as a labels arrival and starts nothing
(the running rollout reads every label file at its next evaluation).

Bad or foreign events are logged and recorded, not raised: raising makes Event Grid redeliver
an event that can never succeed. Only errors that a retry can fix (ledger or host unavailable)
propagate, so Event Grid retries them and dedupe absorbs the repeats.
"""

from __future__ import annotations

import logging
from typing import Any

import azure.functions as func

import wiring
from core.intake.events import (
    AmlRunStatusChanged,
    BlobCreated,
    EventValidationError,
    InboundEvent,
    parse_event,
    route_aml_run,
    route_blob,
    same_blob_location,
)
from core.intake.facts import EventIgnored
from core.intake.payloads import coordinator_id
from core.kernel.policy import Policy
from core.rollout.facts import LabelsArrived
from triggers.batch_scoring import handle_scoring_blob, scoring_model
from triggers.blueprint import bp
from triggers.intake import Intake, new_request, off_loop, record_ignored, submit

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


def route_labels(policies: Any, container: str, path: str) -> str | None:
    """The model whose online accuracy gate reads labels from container/path (longest prefix wins)."""
    best: tuple[int, str] | None = None
    for policy in policies:
        online = policy.rollout.gates.online_accuracy if isinstance(policy, Policy) else None
        if online is None or online.labels_container != container:
            continue
        prefix = online.labels_prefix
        if path.startswith(prefix) and (best is None or (len(prefix), policy.model) > best):
            best = (len(prefix), policy.model)
    return best[1] if best else None


async def labels_arrived(model: str, event: BlobCreated) -> None:
    fact = LabelsArrived(
        event_id=event.event_id,
        container=event.container,
        path=event.path,
        url=event.url,
        content_length=event.content_length,
    )
    await off_loop(wiring.ledger().append, coordinator_id(model), fact.ledger_kind, fact.dump())
    log.info("labels for %s arrived: %s/%s", model, event.container, event.path)


async def handle_blob(client: Any, event: BlobCreated) -> Intake | None:
    info = {"event_id": event.event_id, "container": event.container, "path": event.path, "api": event.api}
    if not event.committed:
        log.info("ignored %s: api %s is not a committed write", event.event_id, event.api)
        return None
    policies = wiring.policies().values()
    labelled = route_labels(policies, event.container, event.path)
    if labelled is not None:
        if not same_blob_location(event.url, wiring.data_lake().url(event.container, event.path)):
            why = "url outside the configured storage account or container"
            await record_ignored(labelled, EventIgnored(ignored=why, url=event.url, **info))
        else:
            await labels_arrived(labelled, event)
        return None
    if (scoring := scoring_model(event)) is not None:  # batch.scoring_prefix: score, do not retrain
        return await handle_scoring_blob(client, scoring, event)
    model = route_blob(policies, event.container, event.path)
    if model is None:
        await record_ignored(None, EventIgnored(ignored="no policy claims this blob", **info))
        return None
    ours = wiring.data_lake().url(event.container, event.path)
    if not same_blob_location(event.url, ours):
        log.warning(
            "refused %s: %s is outside the configured storage account", event.event_id, event.url[:300]
        )
        why = "url outside the configured storage account or container"
        await record_ignored(model, EventIgnored(ignored=why, url=event.url, **info))
        return None
    if (why := _not_data(model, event)) is not None:
        await record_ignored(model, EventIgnored(ignored=f"not a data file: {why}", url=event.url, **info))
        return None
    details = {
        **info,
        "url": event.url,
        "etag": event.etag,
        "content_length": event.content_length,
        "sequencer": event.sequencer,
        "schema": event.schema,
    }
    return await submit(client, new_request(model, "blob", event.dedupe_keys[0], details))


def _not_data(model: str, event: BlobCreated) -> str | None:
    """Folder placeholders, `_SUCCESS` markers and empty blobs are not data (the contract says
    which names are); a contract that cannot load is left for the lifecycle to report."""
    try:
        contract = wiring.contract(model)
    except Exception as exc:
        log.warning("contract of %s unavailable at the edge (%s); the lifecycle will report it", model, exc)
        return None
    return contract.not_data(event.path, event.content_length)


async def handle_aml(client: Any, event: AmlRunStatusChanged) -> Intake | None:
    info = {"event_id": event.event_id, "run_id": event.run_id, "run_status": event.run_status}
    if not event.monitor_breach:
        await record_ignored(
            None, EventIgnored(ignored="not a model monitor breach", experiment=event.experiment_name, **info)
        )
        return None
    model = route_aml_run(wiring.policies().values(), event)
    if model is None:
        why = "no policy claims this model monitor"
        await record_ignored(None, EventIgnored(ignored=why, experiment=event.experiment_name, **info))
        return None
    details = {**info, "experiment": event.experiment_name, "tags": event.run_tags}
    return await submit(client, new_request(model, "aml_monitor", event.dedupe_key, details))


async def handle(client: Any, parsed: InboundEvent) -> Intake | None:
    if isinstance(parsed, BlobCreated):
        return await handle_blob(client, parsed)
    if isinstance(parsed, AmlRunStatusChanged):
        return await handle_aml(client, parsed)
    return None


@bp.event_grid_trigger(arg_name="event")
@bp.durable_client_input(client_name="client")
async def on_blob_created(event: func.EventGridEvent, client) -> None:
    try:
        parsed = parse_event(event_document(event))
    except EventValidationError as exc:
        log.warning("refused event %s: %s", getattr(event, "id", "?"), exc)
        event_id = str(getattr(event, "id", ""))[:200]
        await record_ignored(None, EventIgnored(ignored="invalid event", event_id=event_id, error=str(exc)))
        return
    outcome = await handle(client, parsed)
    if outcome is not None:
        log.info("event %s -> %s %s", parsed.event_id, outcome.body()["status"], outcome.request.request_id)
