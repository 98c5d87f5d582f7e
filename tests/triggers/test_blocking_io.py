"""Triggers are `async def` and run on the worker's event loop; the ledger's client blocks
(azure-cosmos sync, SQLite locally). The intake runs those calls on a thread, so two invocations on
one instance overlap instead of queueing behind each other's ledger round trip."""

from __future__ import annotations

import asyncio
import itertools
import time

import wiring
from tests.triggers.durable_fakes import FakeDurableClient
from triggers.edge import get_edge
from triggers.intake import new_request

ROUND_TRIP_S = 0.3


class SlowLedger:
    """The fake ledger, with a blocking round trip on every write (as a remote Cosmos account has)."""

    def __init__(self, ledger) -> None:
        self._ledger = ledger

    def add_request(self, request):
        time.sleep(ROUND_TRIP_S)
        return self._ledger.add_request(request)

    def record_requests(self, requests):
        time.sleep(ROUND_TRIP_S)
        return self._ledger.record_requests(requests)

    def append(self, *args, **kwargs):
        time.sleep(ROUND_TRIP_S)
        return self._ledger.append(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._ledger, name)


def test_two_requests_arriving_together_record_at_the_same_time_and_the_loop_stays_free(fakes):
    client = FakeDurableClient()
    ticks: list[float] = []

    async def heartbeat(stop: asyncio.Event) -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            await asyncio.sleep(0.02)

    async def both() -> float:
        stop = asyncio.Event()
        beat = asyncio.create_task(heartbeat(stop))
        start = time.monotonic()
        with wiring.override(ledger=SlowLedger(fakes.ledger)):
            edge = get_edge()
        await asyncio.gather(
            edge.submit(client, new_request("churn", "operator", "operator:a", {})),
            edge.submit(client, new_request("fraud", "operator", "operator:b", {})),
        )
        elapsed = time.monotonic() - start
        stop.set()
        await beat
        return elapsed

    elapsed = asyncio.run(both())
    assert elapsed < 1.6 * ROUND_TRIP_S  # serialised on the loop they take 2 round trips
    assert max(b - a for a, b in itertools.pairwise(ticks)) < ROUND_TRIP_S / 2
    assert {
        r.model for r in fakes.ledger.pending_requests("churn") + fakes.ledger.pending_requests("fraud")
    } == {
        "churn",
        "fraud",
    }
