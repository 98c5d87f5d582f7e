"""A topic's event subscription delivers what the app publishes to an Event Grid triggered function of
the same host (DEVHOST_TOPIC_SUBSCRIPTIONS), filtered by event type, and retries a failed delivery."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from tests.e2e.conftest import PATTERNS_APP, Devhost, start_devhost


@pytest.fixture(scope="module")
def subscribed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    root = tmp_path_factory.mktemp("subscribed")
    subscriptions = "orders:on_event:Orders.Shipped|Patterns.Fail"
    host = start_devhost(
        PATTERNS_APP, root / "state", root / "data", env={"DEVHOST_TOPIC_SUBSCRIPTIONS": subscriptions}
    )
    try:
        yield host
    finally:
        host.proc.stop()


def _seen(host: Devhost, event_id: str, at_least: int = 1, timeout: float = 15.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while time.monotonic() < deadline:
        found = [
            e for e in requests.get(host.url("/api/events-seen"), timeout=5).json() if e["id"] == event_id
        ]
        if len(found) >= at_least:
            return found
        time.sleep(0.2)
    return found


def _publish(host: Devhost, topic: str, kind: str, event_id: str) -> None:
    from azure.core.credentials import AzureKeyCredential
    from azure.core.messaging import CloudEvent
    from azure.eventgrid import EventGridPublisherClient

    client = EventGridPublisherClient(
        host.url(f"/runtime/topics/{topic}"), AzureKeyCredential(host.master_key)
    )
    client.send([CloudEvent(source="/orders", type=kind, data={"n": 1}, id=event_id)])


def test_a_subscribed_event_type_reaches_the_function_as_a_cloud_event(subscribed: Devhost) -> None:
    _publish(subscribed, "orders", "Orders.Shipped", "evt-shipped")
    [seen] = _seen(subscribed, "evt-shipped")
    assert seen["kind"] == "CloudEvent" and seen["type"] == "Orders.Shipped" and seen["data"] == {"n": 1}
    assert "topic subscription: orders (Orders.Shipped|Patterns.Fail) -> on_event" in subscribed.log()


def test_other_types_and_other_topics_are_not_delivered(subscribed: Devhost) -> None:
    _publish(subscribed, "orders", "Orders.Cancelled", "evt-cancelled")
    _publish(subscribed, "invoices", "Orders.Shipped", "evt-other-topic")
    _publish(subscribed, "orders", "Orders.Shipped", "evt-marker")
    assert _seen(subscribed, "evt-marker")
    time.sleep(0.5)
    assert _seen(subscribed, "evt-cancelled", timeout=0.1) == []
    assert _seen(subscribed, "evt-other-topic", timeout=0.1) == []


def test_a_failed_delivery_is_retried(subscribed: Devhost) -> None:
    _publish(subscribed, "orders", "Patterns.Fail", "evt-fail")
    assert len(_seen(subscribed, "evt-fail", at_least=2)) >= 2  # the function failed, Event Grid style retry


def test_a_subscription_to_a_function_the_app_lacks_refuses_to_start(tmp_path) -> None:
    env = {"DEVHOST_TOPIC_SUBSCRIPTIONS": "orders:nope"}
    with pytest.raises(RuntimeError, match="exited with 2"):
        start_devhost(PATTERNS_APP, tmp_path / "state", tmp_path / "data", env=env)
    log = (tmp_path / "state-devhost.log").read_text()
    assert "no Event Grid triggered function 'nope'" in log
