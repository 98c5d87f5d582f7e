"""A topic subscription's deliveries are persisted with the event: a host killed (SIGKILL) while the
subscribed function runs, or before it ran, delivers the event again after its restart on the same
state, as Event Grid keeps retrying until the handler succeeds."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from devhost import procs
from tests.e2e.conftest import PATTERNS_APP, Devhost, start_devhost
from tests.e2e.test_topic_subscriptions import _publish, _seen

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

SUBSCRIPTIONS = {"DEVHOST_TOPIC_SUBSCRIPTIONS": "orders:on_event:Patterns.Slow"}


def _done(data: Path) -> list[str]:
    path = data / "slow-done.jsonl"
    return [json.loads(line)["id"] for line in path.read_text().splitlines()] if path.exists() else []


def _deliveries(state: Path) -> list[tuple[str, str, int]]:
    with sqlite3.connect(state / "devhost.db") as db:
        return db.execute("SELECT event_id, state, attempts FROM topic_deliveries ORDER BY id").fetchall()


def _publish_slow(host: Devhost, event_id: str, seconds: float) -> None:
    from azure.core.credentials import AzureKeyCredential
    from azure.core.messaging import CloudEvent
    from azure.eventgrid import EventGridPublisherClient

    client = EventGridPublisherClient(host.url("/runtime/topics/orders"), AzureKeyCredential(host.master_key))
    client.send([CloudEvent(source="/orders", type="Patterns.Slow", data={"seconds": seconds}, id=event_id)])


def test_a_delivery_cut_by_a_kill_is_delivered_again_after_the_restart(tmp_path: Path) -> None:
    state, data, port = tmp_path / "state", tmp_path / "data", procs.free_port()
    host = start_devhost(PATTERNS_APP, state, data, port=port, env=SUBSCRIPTIONS)
    try:
        _publish_slow(host, "evt-slow", seconds=30)
        assert _seen(host, "evt-slow"), "the function should have started"
    finally:
        host.proc.kill()
    assert _done(data) == []  # killed mid-delivery

    host = start_devhost(PATTERNS_APP, state, data, port=port, env=SUBSCRIPTIONS)
    try:
        # the redelivery runs the 30 s handler again; a shorter one proves the queue is not stuck behind it
        _publish_slow(host, "evt-quick", seconds=0)
        deadline = time.monotonic() + 60
        while set(_done(data)) != {"evt-slow", "evt-quick"} and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        host.proc.stop()
    assert sorted(_done(data)) == ["evt-quick", "evt-slow"]
    assert ("evt-slow", "delivered", 2) in _deliveries(state)


def test_a_failed_delivery_is_kept_pending_with_its_attempts_until_it_succeeds_or_is_dead_lettered(
    tmp_path: Path,
) -> None:
    state, data = tmp_path / "state", tmp_path / "data"
    env = {"DEVHOST_TOPIC_SUBSCRIPTIONS": "orders:on_event:Patterns.Fail"}
    host = start_devhost(PATTERNS_APP, state, data, env=env)
    try:
        _publish(host, "orders", "Patterns.Fail", "evt-fail")
        assert len(_seen(host, "evt-fail", at_least=3)) >= 3
    finally:
        host.proc.stop()
    [(event_id, status, attempts)] = _deliveries(state)
    assert (event_id, status) == ("evt-fail", "pending") and attempts >= 3  # retried, still being retried
