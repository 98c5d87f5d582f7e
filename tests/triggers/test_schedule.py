"""The schedule tick asks once per due occurrence of a policy's NCRONTAB schedule."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from core.intake.schedule import due
from core.kernel.schedule import last_occurrence
from triggers.edge import get_edge


def test_ncrontab_puts_seconds_first():
    now = datetime(2024, 5, 5, 3, 0, 30, tzinfo=UTC)
    assert last_occurrence("0 0 3 * * *", now) == datetime(2024, 5, 5, 3, 0, 0, tzinfo=UTC)
    assert last_occurrence("30 0 3 * * *", now) == now


def test_only_recently_due_schedules_ask(policies):
    assert due(policies.values(), datetime(2024, 5, 5, 3, 2, tzinfo=UTC)) == [
        ("churn", datetime(2024, 5, 5, 3, 0, tzinfo=UTC))
    ]
    assert due(policies.values(), datetime(2024, 5, 5, 4, 0, tzinfo=UTC)) == []


def test_repeated_ticks_for_one_occurrence_record_one_request(fakes, client):
    for minute in (0, 1, 2):
        asyncio.run(get_edge().request_due(client, datetime(2024, 5, 5, 3, minute, 5, tzinfo=UTC)))
    [request] = fakes.ledger.pending_requests("churn")
    assert request.source == "schedule" and request.details["occurrence"] == "2024-05-05T03:00:00+00:00"
    assert client.started("coordinator") == ["coordinator-churn"]
