"""on_blob_created: committed writes in our account become one retrain request per blob write."""

from __future__ import annotations

import asyncio
import json

import azure.functions as func
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter

from core.run.status import CoordinatorStatus
from tests.triggers.durable_fakes import FakeDurableClient, Runtime, user_function
from tests.unit.core.test_events_in import aml_event, as_cloud_event, blob_event
from triggers import intake
from triggers.blob_events import on_blob_created

deliver_fn = user_function(on_blob_created)


def deliver(client, event: dict) -> None:
    """As the worker does: the event's JSON through azure.functions' own converter."""
    value = EventGridEventInConverter.decode(meta.Datum(json.dumps(event), "json"), trigger_metadata={})
    assert isinstance(value, func.EventGridEvent | func.CloudEvent)
    asyncio.run(deliver_fn(event=value, client=client))


def test_a_blob_upload_records_a_request_and_starts_the_models_coordinator(fakes, client):
    deliver(client, blob_event("churn/2024-05-01.csv"))
    [request] = fakes.ledger.pending_requests("churn")
    assert request.source == "blob"
    assert request.details["path"] == "churn/2024-05-01.csv" and request.details["etag"] == "0x8DC1"
    assert client.started("coordinator") == ["coordinator-churn"]


def test_redeliveries_and_the_other_schema_are_recorded_once_and_start_one_coordinator(fakes, client):
    deliver(client, blob_event(event_id="a"))
    deliver(client, blob_event(event_id="a"))  # Event Grid redelivery
    deliver(client, as_cloud_event(blob_event(event_id="b")))  # same write, other subscription
    assert len(fakes.ledger.pending_requests("churn")) == 1
    assert client.started("coordinator") == ["coordinator-churn"]
    ignored = [e.data for e in fakes.ledger.entries("coordinator-churn", "request")]
    assert [e["ignored"] for e in ignored] == ["duplicate", "duplicate"]


def test_a_new_etag_of_the_same_blob_is_a_new_write(fakes, client):
    deliver(client, blob_event(event_id="a", etag="0x1"))
    deliver(client, blob_event(event_id="b", etag="0x2"))
    assert len(fakes.ledger.pending_requests("churn")) == 2


def test_a_running_coordinator_is_woken_not_restarted(fakes, client):
    deliver(client, blob_event(event_id="a", etag="0x1"))
    deliver(client, blob_event(event_id="b", etag="0x2"))
    assert client.started("coordinator") == ["coordinator-churn"]
    assert [name for name, _ in client.instances["coordinator-churn"].events] == ["retrain_requested"]


def test_a_finished_coordinator_is_started_again(fakes, client):
    deliver(client, blob_event(event_id="a", etag="0x1"))
    client.instances["coordinator-churn"].runtime = Runtime.Failed
    deliver(client, blob_event(event_id="b", etag="0x2"))
    assert client.started("coordinator") == ["coordinator-churn", "coordinator-churn"]


def test_uncommitted_writes_start_nothing(fakes, client):
    deliver(client, blob_event(api="PutBlock"))
    assert fakes.ledger.requests == {} and client.starts == []


def test_a_url_outside_the_configured_account_is_refused_and_recorded(fakes, client):
    deliver(client, blob_event(base="http://127.0.0.1:10000/otheraccount"))
    deliver(client, blob_event(base="https://attacker.blob.core.windows.net"))
    assert fakes.ledger.requests == {} and client.starts == []
    refused = [e.data["ignored"] for e in fakes.ledger.entries("coordinator-churn", "event")]
    assert refused == ["url outside the configured storage account or container"] * 2
    assert fakes.data_lake.writes == []


def test_a_blob_no_policy_claims_starts_nothing(fakes, client):
    deliver(client, blob_event("other/x.csv"))
    deliver(client, blob_event("churn/x.csv", container="features"))
    assert fakes.ledger.requests == {} and client.starts == []
    assert len(fakes.ledger.entries("unrouted", "event")) == 2


def test_an_invalid_event_is_recorded_and_not_raised(fakes, client):
    broken = blob_event()
    broken["data"]["url"] = "not a url"
    deliver(client, broken)
    assert client.starts == []
    [entry] = fakes.ledger.entries("unrouted", "event")
    assert "data.url" in entry.data["error"]


def test_a_breached_model_monitor_requests_a_retrain_of_its_model(fakes, client):
    deliver(client, aml_event(tags={"model": "fraud"}))
    deliver(client, aml_event(breached="false", tags={"model": "churn"}))
    assert [r.source for r in fakes.ledger.pending_requests("fraud")] == ["aml_monitor"]
    assert fakes.ledger.pending_requests("churn") == []
    assert client.started("coordinator") == ["coordinator-fraud"]


def test_events_for_two_models_start_two_coordinators(fakes, client):
    deliver(client, blob_event("churn/a.csv"))
    deliver(client, blob_event("fraud/a.csv", event_id="f"))
    assert sorted(client.started("coordinator")) == ["coordinator-churn", "coordinator-fraud"]
    assert client.instances["coordinator-fraud"].input == {"model": "fraud", "generation": 0, "runs": 0}


class CountingClient(FakeDurableClient):
    def __init__(self) -> None:
        super().__init__()
        self.status_reads = 0

    async def get_status(self, instance_id: str):
        self.status_reads += 1
        return await super().get_status(instance_id)


def _debouncing(client: FakeDurableClient) -> None:
    status = CoordinatorStatus(model="churn", generation=0, phase="debouncing")
    client.instances["coordinator-churn"].custom_status = status.dump()


def test_a_storm_asks_the_coordinator_once_while_it_was_just_seen_with_a_claim_due(fakes):
    client = CountingClient()
    deliver(client, blob_event(event_id="a", etag="0x1"))  # starts the coordinator
    _debouncing(client)
    deliver(client, blob_event(event_id="b", etag="0x2"))  # reads its status: a claim is due
    reads = client.status_reads
    for n in range(3, 10):
        deliver(client, blob_event(event_id=f"e{n}", etag=f"0x{n}"))
    assert client.status_reads == reads  # the pending requests and the fresh sighting suffice
    assert len(fakes.ledger.pending_requests("churn")) == 9
    assert client.started("coordinator") == ["coordinator-churn"]


def test_a_coordinator_seen_more_than_a_second_ago_is_asked_again(fakes, monkeypatch):
    client = CountingClient()
    deliver(client, blob_event(event_id="a", etag="0x1"))
    _debouncing(client)
    deliver(client, blob_event(event_id="b", etag="0x2"))
    reads = client.status_reads
    seen = intake._claim_due_seen["churn"]
    monkeypatch.setattr(intake.time, "monotonic", lambda: seen + intake.CLAIM_DUE_FRESH_SECONDS + 0.01)
    deliver(client, blob_event(event_id="c", etag="0x3"))
    assert client.status_reads == reads + 1


def test_a_failed_coordinator_is_restarted_even_with_requests_pending(fakes):
    client = CountingClient()
    deliver(client, blob_event(event_id="a", etag="0x1"))
    _debouncing(client)
    deliver(client, blob_event(event_id="b", etag="0x2"))  # seen with a claim due
    client.instances["coordinator-churn"].runtime = Runtime.Failed
    intake._claim_due_seen.clear()  # the sighting aged out
    deliver(client, blob_event(event_id="c", etag="0x3"))
    assert client.started("coordinator") == ["coordinator-churn", "coordinator-churn"]
