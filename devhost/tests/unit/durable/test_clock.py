"""The time-skipping clock moves time only forward, wakes sleepers, and skips only while idle and awaited."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from devhost.durable.clock import TimeSkippingClock


def test_advancing_wakes_a_sleeper_whose_time_has_come_and_leaves_a_later_one_asleep() -> None:
    async def main() -> tuple[bool, bool]:
        clock = TimeSkippingClock()
        t0 = clock.now()
        soon = asyncio.create_task(clock.sleep_until(t0 + timedelta(hours=1)))
        later = asyncio.create_task(clock.sleep_until(t0 + timedelta(hours=3)))
        await asyncio.sleep(0)
        clock.advance(timedelta(hours=2))
        await asyncio.sleep(0.01)
        done = soon.done(), later.done()
        later.cancel()
        return done

    assert asyncio.run(main()) == (True, False)


def test_it_skips_to_the_next_due_sleeper_only_when_idle_and_someone_waits() -> None:
    async def main() -> list[bool]:
        clock = TimeSkippingClock()
        idle = {"now": False}
        clock.watch(lambda: idle["now"])
        sleeper = asyncio.create_task(clock.sleep_until(clock.now() + timedelta(days=1)))
        seen = []
        with clock.waiting():
            await asyncio.sleep(0.05)  # busy: no skip
            seen.append(sleeper.done())
            idle["now"] = True
            await asyncio.sleep(0.05)
            seen.append(sleeper.done())
        clock.watch(None)
        return seen

    assert asyncio.run(main()) == [False, True]


def test_time_never_goes_back() -> None:
    clock = TimeSkippingClock()
    before = clock.now()
    clock.skip_to(before - timedelta(hours=1))
    assert clock.now() >= before
