"""Event Grid deliveries are parsed and handed to functions exactly as the Python worker would."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import azure.functions as func
import pytest

from devhost.blobwatch import blob_created_event
from devhost.eventgrid import MalformedEvents, parse_events, to_trigger_value

EG = {
    "id": "1",
    "eventType": "A.B",
    "subject": "s",
    "eventTime": "2024-05-01T12:00:00Z",
    "data": {"k": 1},
    "dataVersion": "1",
}
CE = {"specversion": "1.0", "id": "2", "source": "/src", "type": "A.B", "data": {"k": 2}}


def _body(value: object) -> bytes:
    return json.dumps(value).encode()


def test_an_event_grid_array_is_the_event_grid_schema() -> None:
    assert parse_events(_body([EG, EG]), "application/json") == ("eventgrid", [EG, EG])


def test_cloudevents_come_single_or_batched() -> None:
    assert parse_events(_body(CE), "application/cloudevents+json") == ("cloudevents", [CE])
    assert parse_events(_body([CE]), "application/cloudevents-batch+json") == ("cloudevents", [CE])


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{nope", "not valid JSON"),
        (_body(EG), "JSON array"),
        (_body([]), "no events"),
        (_body([EG, CE]), "cannot mix"),
        (_body([{"id": "1", "subject": "s"}]), "missing eventType, eventTime"),
        (_body({**CE, "specversion": "0.3"}), "specversion must be '1.0'"),
    ],
)
def test_a_malformed_delivery_says_what_is_wrong(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedEvents, match=reason):
        parse_events(body, "application/json")


def test_the_function_receives_an_event_grid_event_with_its_fields() -> None:
    event = to_trigger_value(EG)
    assert isinstance(event, func.EventGridEvent)
    assert (event.id, event.event_type, event.subject, event.get_json()) == ("1", "A.B", "s", {"k": 1})


def test_a_cloud_event_reaches_the_function_as_a_cloud_event() -> None:
    event = to_trigger_value(CE)
    assert type(event).__name__ == "CloudEvent"
    assert event.get_json() == {"k": 2}


def test_blob_created_events_carry_azure_storage_fields() -> None:
    event = blob_created_event(
        account="devstoreaccount1", container="raw", name="a/b.csv", etag="0x8D4BCC2E4835CD0",
        url="http://127.0.0.1:10000/devstoreaccount1/raw/a/b.csv", content_type="text/csv", content_length=12,
        last_modified=datetime(2024, 5, 1, 12, 0, tzinfo=UTC), sequencer=5,
    )  # fmt: skip
    assert event["topic"].endswith("/providers/Microsoft.Storage/storageAccounts/devstoreaccount1")
    assert event["subject"] == "/blobServices/default/containers/raw/blobs/a/b.csv"
    assert (event["eventType"], event["dataVersion"], event["metadataVersion"]) == (
        "Microsoft.Storage.BlobCreated",
        "",
        "1",
    )
    assert event["eventTime"] == "2024-05-01T12:00:00.0000000Z"
    assert event["data"]["sequencer"] == "00000000000000000000000000000005"
    assert {k: event["data"][k] for k in ("api", "blobType", "contentLength")} == {
        "api": "PutBlob",
        "blobType": "BlockBlob",
        "contentLength": 12,
    }
    assert parse_events(_body([event]), "application/json")[0] == "eventgrid"


def test_topic_subscriptions_are_read_as_topic_function_and_event_types() -> None:
    from devhost.topics import Subscription, parse_subscriptions

    subs = parse_subscriptions("lifecycle:on_model_promoted:mllifecycle.promoted, orders:on_event")
    assert subs == [
        Subscription("lifecycle", "on_model_promoted", ("mllifecycle.promoted",)),
        Subscription("orders", "on_event", ()),
    ]
    assert subs[0].matches("Lifecycle", {"type": "mllifecycle.promoted"})
    assert not subs[0].matches("lifecycle", {"type": "mllifecycle.started"})
    assert subs[1].matches("orders", {"eventType": "anything"})
    with pytest.raises(ValueError, match="topic:function"):
        parse_subscriptions("lifecycle")
