"""Event Grid deliveries to devhost: the validation handshakes, both schemas, batches, and failures."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from tests.e2e.conftest import Devhost

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

WEBHOOK = "/runtime/webhooks/eventgrid"


def _eg_event(event_type: str, data: dict) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "topic": "/subscriptions/x/resourceGroups/y/providers/Microsoft.EventGrid/topics/z",
        "subject": "patterns/test",
        "eventType": event_type,
        "eventTime": "2024-05-01T12:00:00.1234567Z",
        "data": data,
        "dataVersion": "1.0",
        "metadataVersion": "1",
    }


def _cloud_event(event_type: str, data: dict) -> dict:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/patterns/tests",
        "type": event_type,
        "time": "2024-05-01T12:00:00Z",
        "datacontenttype": "application/json",
        "data": data,
    }


def _deliver(
    host: Devhost, body: object, *, content_type: str = "application/json", **headers: str
) -> requests.Response:
    return requests.post(
        host.url(WEBHOOK),
        params={"functionName": "on_event", "code": host.eventgrid_key},
        json=body,
        headers={"Content-Type": content_type, "aeg-event-type": "Notification", **headers},
        timeout=10,
    )


def _seen(host: Devhost, ids: set[str]) -> dict[str, dict]:
    seen = {e["id"]: e for e in host.get("/api/events-seen").json()}
    return {i: seen[i] for i in ids if i in seen}


def test_subscription_validation_handshake_echoes_the_code(patterns_host: Devhost) -> None:
    validation = _eg_event(
        "Microsoft.EventGrid.SubscriptionValidationEvent", {"validationCode": "512d38b6-c7b8"}
    )
    validation["subject"] = ""
    response = _deliver(patterns_host, [validation], **{"aeg-event-type": "SubscriptionValidation"})
    assert response.status_code == 200
    assert response.json() == {"validationResponse": "512d38b6-c7b8"}


def test_cloudevents_abuse_protection_handshake_allows_the_origin(patterns_host: Devhost) -> None:
    response = requests.options(
        patterns_host.url(WEBHOOK),
        params={"functionName": "on_event", "code": patterns_host.eventgrid_key},
        headers={"WebHook-Request-Origin": "eventgrid.azure.net"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"


def test_an_event_grid_batch_invokes_the_function_once_per_event(patterns_host: Devhost) -> None:
    events = [_eg_event("Patterns.Note", {"n": 1}), _eg_event("Patterns.Note", {"n": 2})]
    assert _deliver(patterns_host, events).status_code in (200, 202)
    seen = _seen(patterns_host, {e["id"] for e in events})
    assert [seen[e["id"]]["data"] for e in events] == [{"n": 1}, {"n": 2}]
    assert {s["kind"] for s in seen.values()} == {"EventGridEvent"}


def test_cloudevents_single_and_batch_arrive_as_cloud_events(patterns_host: Devhost) -> None:
    single = _cloud_event("Patterns.Note", {"n": 3})
    batch = [_cloud_event("Patterns.Note", {"n": 4}), _cloud_event("Patterns.Note", {"n": 5})]
    assert _deliver(patterns_host, single, content_type="application/cloudevents+json").status_code in (
        200,
        202,
    )
    assert _deliver(patterns_host, batch, content_type="application/cloudevents-batch+json").status_code in (
        200,
        202,
    )
    seen = _seen(patterns_host, {single["id"], *(e["id"] for e in batch)})
    assert len(seen) == 3
    assert {s["kind"] for s in seen.values()} == {"CloudEvent"}
    assert seen[single["id"]]["type"] == "Patterns.Note"


def test_a_delivery_without_the_system_key_is_refused(patterns_host: Devhost) -> None:
    response = requests.post(
        patterns_host.url(WEBHOOK),
        params={"functionName": "on_event"},
        json=[_eg_event("Patterns.Note", {})],
        headers={"aeg-event-type": "Notification"},
        timeout=10,
    )
    assert response.status_code == 401


def test_a_malformed_delivery_is_a_400_that_says_why(patterns_host: Devhost) -> None:
    response = _deliver(patterns_host, [{"id": "1", "data": {}}])
    assert response.status_code == 400
    assert "eventType" in response.text
    not_json = requests.post(
        patterns_host.url(WEBHOOK),
        params={"functionName": "on_event", "code": patterns_host.eventgrid_key},
        data=b"{not json",
        headers={"aeg-event-type": "Notification"},
        timeout=10,
    )
    assert not_json.status_code == 400
    assert "JSON" in not_json.text


def test_a_failing_function_answers_500_so_event_grid_retries(patterns_host: Devhost) -> None:
    assert _deliver(patterns_host, [_eg_event("Patterns.Fail", {})]).status_code == 500


def test_the_topic_endpoint_records_what_the_azure_eventgrid_client_publishes(patterns_host: Devhost) -> None:
    from azure.core.credentials import AzureKeyCredential
    from azure.core.messaging import CloudEvent
    from azure.eventgrid import EventGridPublisherClient

    topic = f"orders-{uuid.uuid4().hex[:6]}"
    client = EventGridPublisherClient(
        patterns_host.url(f"/runtime/topics/{topic}"), AzureKeyCredential(patterns_host.master_key)
    )
    client.send([CloudEvent(source="/orders", type="Orders.Shipped", data={"version": 7})])
    events = patterns_host.get(f"/runtime/topics/{topic}/events", key=patterns_host.function_key).json()
    assert [(e["type"], e["data"]) for e in events] == [("Orders.Shipped", {"version": 7})]

    wrong = EventGridPublisherClient(
        patterns_host.url(f"/runtime/topics/{topic}"), AzureKeyCredential("nope")
    )
    with pytest.raises(Exception, match=r"401|Unauthorized|aeg-sas-key"):
        wrong.send([CloudEvent(source="/orders", type="Orders.Ignored", data={})])
    assert patterns_host.get(f"/runtime/topics/{topic}/events").status_code == 401


def test_an_event_grid_event_starts_an_orchestration(durable_host: Devhost) -> None:
    instance_id = f"eg-{uuid.uuid4().hex[:8]}"
    event = _eg_event("Patterns.Chain", {"instance_id": instance_id, "cities": ["Oslo", "Lima"]})
    assert _deliver(durable_host, [event]).status_code in (200, 202)
    status_url = durable_host.url(f"/runtime/webhooks/durabletask/instances/{instance_id}")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        response = requests.get(status_url, params={"code": durable_host.durable_key}, timeout=10)
        if response.status_code in (200, 202) and response.json().get("runtimeStatus") == "Completed":
            break
        time.sleep(0.1)
    assert response.json()["output"] == ["Hello Oslo!", "Hello Lima!"]
