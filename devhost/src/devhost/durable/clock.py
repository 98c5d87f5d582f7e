"""The engine's notion of time: what `current_utc_datetime` and timers are measured against.

`SystemClock` is the wall clock. `TimeSkippingClock` is for tests, after Temporal's time-skipping
test environment: time runs as on the wall clock plus an offset, and while the engine has nothing
to do (no episode, no activity, no message waiting) and someone waits for an orchestration to
finish, it jumps to the next due timer instead of waiting for it. A test of a rollout that bakes for
ten minutes then takes milliseconds, and still sees the same timestamps the orchestrator computed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC: the OrchestratorStarted timestamp of the next episode."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Return once `now() >= when` (durable timers, retry timers)."""
        ...

    def watch(self, idle: Callable[[], bool] | None) -> None:
        """Called by the engine on start (`idle()` says whether it has nothing to do) and on stop (None)."""
        ...

    def waiting(self) -> contextlib.AbstractContextManager[None]:
        """Held while a caller waits for an orchestration to finish."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime) -> None:
        delay = (when - self.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)

    def watch(self, idle: Callable[[], bool] | None) -> None:
        return None

    def waiting(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


class TimeSkippingClock:
    """Wall clock plus `offset`; skips to the next due timer when the engine is idle.

    It skips only while someone waits (`engine.wait_for`, or `always=True`), as Temporal skips only
    while a test awaits a workflow's result: a test that sleeps before raising an event keeps real
    time, so the orchestration is still where the test expects it.
    """

    def __init__(self, *, always: bool = False, settle: float = 0.005) -> None:
        self.always = always
        self.settle = settle
        self.offset = timedelta(0)
        self._sleepers: dict[int, tuple[datetime, asyncio.Future[None]]] = {}
        self._ids = itertools.count()
        self._idle: Callable[[], bool] | None = None
        self._waiters = 0
        self._task: asyncio.Task[None] | None = None

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    @property
    def next_due(self) -> datetime | None:
        return min((when for when, _ in self._sleepers.values()), default=None)

    async def sleep_until(self, when: datetime) -> None:
        loop = asyncio.get_running_loop()
        while (remaining := (when - self.now()).total_seconds()) > 0:
            fut: asyncio.Future[None] = loop.create_future()
            key = next(self._ids)
            self._sleepers[key] = (when, fut)
            handle = loop.call_later(remaining, _wake, fut)
            try:
                await fut
            finally:
                handle.cancel()
                self._sleepers.pop(key, None)

    def skip_to(self, when: datetime) -> None:
        """Move time forward to `when` (never back) and wake every sleeper to look again."""
        ahead = when - self.now()
        if ahead > timedelta(0):
            self.offset += ahead
        for _, fut in self._sleepers.values():
            _wake(fut)

    def advance(self, delta: timedelta) -> None:
        self.skip_to(self.now() + delta)

    def watch(self, idle: Callable[[], bool] | None) -> None:
        self._idle = idle
        if idle is None:
            if self._task is not None:
                self._task.cancel()
            self._task = None
        elif self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._skip_when_idle(), name="devhost-clock")

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        self._waiters += 1
        try:
            yield
        finally:
            self._waiters -= 1

    async def _skip_when_idle(self) -> None:
        quiet = 0
        while True:
            await asyncio.sleep(self.settle)
            due = self.next_due
            if due is None or not (self.always or self._waiters) or self._idle is None or not self._idle():
                quiet = 0
                continue
            quiet += 1
            if quiet >= 2:  # idle on two looks in a row: nothing is in flight between loop turns
                quiet = 0
                self.skip_to(due)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
