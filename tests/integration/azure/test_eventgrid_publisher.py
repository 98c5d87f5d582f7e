"""EventGridEventPublisher against a local HTTP endpoint that checks what azure-eventgrid sends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from azure.core.exceptions import HttpResponseError

from adapters.azure.events import EventGridEventPublisher
from core.kernel.ports import LifecycleEvent

from .stub_http import serve

pytestmark = pytest.mark.integration

AT = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)


def _event(i: int = 1, kind: str = "promoted") -> LifecycleEvent:
    return LifecycleEvent(
        id=f"evt-{i}", type=kind, model="churn", run_id="run-7", time=AT, data={"version": "3", "step": i}
    )


def test_publishes_a_cloudevents_batch_with_the_key_header_and_the_legacy_api_version():
    with serve(lambda r: (200, {}, b"")) as stub:
        pub = EventGridEventPublisher.with_key(f"{stub.url}/runtime/topics/lifecycle", "local-key")
        pub.publish([_event(1), _event(2, "mllifecycle.rolled_back")])

    [req] = stub.requests
    assert req.method == "POST"
    assert req.path == "/runtime/topics/lifecycle"
    assert req.query == {"api-version": ["2018-01-01"]}
    assert req.headers["aeg-sas-key"] == "local-key"
    assert req.headers["content-type"].startswith("application/cloudevents-batch+json")
    first, second = req.json()
    assert first["specversion"] == "1.0"
    assert first["id"] == "evt-1"
    assert first["type"] == "mllifecycle.promoted"
    assert second["type"] == "mllifecycle.rolled_back"  # an already-prefixed kind is not prefixed twice
    assert first["source"] == "/mllifecycle/models/churn"
    assert first["subject"] == "lifecycles/run-7"
    assert first["time"].startswith("2025-03-01T12:30:00")
    assert first["data"] == {"model": "churn", "run_id": "run-7", "version": "3", "step": 1}


def test_an_environment_name_puts_the_environment_in_the_source():
    with serve(lambda r: (200, {}, b"")) as stub:
        pub = EventGridEventPublisher.with_key(f"{stub.url}/t", "k", environment="dev")
        pub.publish([_event()])
    [sent] = stub.requests[0].json()
    assert sent["source"] == "/mllifecycle/envs/dev/models/churn"  # prod tells dev's events from its own


def test_splits_large_publishes_into_batches():
    with serve(lambda r: (200, {}, b"")) as stub:
        EventGridEventPublisher.with_key(f"{stub.url}/t", "k").publish([_event(i) for i in range(250)])
    assert [len(r.json()) for r in stub.requests] == [100, 100, 50]


def test_a_rejected_publish_raises_so_the_activity_is_retried():
    with serve(
        lambda r: (401, {"Content-Type": "application/json"}, b'{"error":{"code":"Unauthorized"}}')
    ) as stub:
        pub = EventGridEventPublisher.with_key(f"{stub.url}/t", "wrong")
        with pytest.raises(HttpResponseError):
            pub.publish([_event()])


def test_an_endpoint_is_required_with_an_actionable_message():
    with pytest.raises(ValueError, match="topic endpoint"):
        EventGridEventPublisher.with_key("", "k")
