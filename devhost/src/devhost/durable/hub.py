"""What every part of the engine shares: the store, the live instances, the clock, the loop's tasks.

The parts (episodes, scheduling, workers, management) each own one concern and meet here, so none
of them imports another's module to reach its state."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any

from devhost.durable import replay as R
from devhost.durable.clock import Clock
from devhost.durable.instances import Instance
from devhost.durable.store import Store


class Hub:
    def __init__(self, *, task_hub: str, clock: Clock, log: logging.Logger) -> None:
        self.task_hub = task_hub
        self.clock = clock
        self.log = log
        self.live: dict[str, Instance] = {}
        # Each instance's replay kept between episodes (Azure's extendedSessionsEnabled).
        self.sessions: OrderedDict[str, R.ReplaySession] = OrderedDict()
        self.stats = {"episodes": 0, "full_replays": 0, "replayed_events": 0, "activities": 0}
        self.stopping = False
        self.tasks: set[asyncio.Task[Any]] = set()
        self._store: Store | None = None
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._flush_pending = False

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError(
                "The durable engine is not started (call `await engine.start(base_url)` first)."
            )
        return self._store

    @property
    def started(self) -> bool:
        return self._store is not None

    def open(self, store: Store) -> None:
        self._store = store
        self.stopping = False

    def close(self, *, rollback: bool = False) -> None:
        if self._store is None:
            return
        if rollback:
            self._store.rollback()
        self._store.close()
        self._store = None

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def flush_soon(self) -> None:
        """Commit at the end of this loop turn: one transaction for every result that arrived in it."""
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        if self._store is not None:
            self._store.commit()

    def on_finished(self, instance_id: str) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(instance_id, []).append(fut)
        return fut

    def notify(self, instance_id: str) -> None:
        for fut in self._waiters.pop(instance_id, []):
            if not fut.done():
                fut.set_result(None)

    def cancel_waiters(self) -> None:
        for futures in self._waiters.values():
            for fut in futures:
                if not fut.done():
                    fut.cancel()
        self._waiters.clear()

    def cancel_timers(self) -> None:
        for inst in self.live.values():
            inst.cancel_timers()


Wake = Callable[[Instance], None]
