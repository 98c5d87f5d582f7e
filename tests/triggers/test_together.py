"""Deliveries that arrive together are recorded in one ledger call (triggers.intake.Together), and
still each get their own answer: a bad one fails alone."""

from __future__ import annotations

import asyncio
import threading

import pytest

from triggers.intake import Together


class Doubler:
    """A blocking call that records what it was handed; refuses 13."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.threads: set[int] = set()

    def __call__(self, args: list[int]) -> list[int]:
        self.calls.append(list(args))
        self.threads.add(threading.get_ident())
        if 13 in args:
            raise ValueError("13 is refused")
        return [2 * a for a in args]


def test_callers_arriving_together_share_one_call_off_the_loop_and_get_their_own_answers():
    call = Doubler()
    together = Together(call)

    async def storm() -> list[int]:
        return list(await asyncio.gather(*(together(n) for n in range(10))))

    assert asyncio.run(storm()) == [2 * n for n in range(10)]
    assert call.calls == [list(range(10))]
    assert threading.get_ident() not in call.threads


def test_callers_arriving_during_a_call_wait_for_the_next_one():
    call = Doubler()
    together = Together(call)

    async def two_waves() -> list[int]:
        first = [asyncio.ensure_future(together(n)) for n in (1, 2)]
        await asyncio.sleep(0)  # the first call is under way
        second = [asyncio.ensure_future(together(n)) for n in (3, 4)]
        return list(await asyncio.gather(*first, *second))

    assert asyncio.run(two_waves()) == [2, 4, 6, 8]
    assert call.calls[0] == [1, 2] and sorted(n for later in call.calls[1:] for n in later) == [3, 4]


def test_a_bad_argument_fails_only_its_own_caller():
    call = Doubler()
    together = Together(call)

    async def with_a_bad_one() -> list[object]:
        return list(await asyncio.gather(*(together(n) for n in (12, 13, 14)), return_exceptions=True))

    good, bad, also_good = asyncio.run(with_a_bad_one())
    assert (good, also_good) == (24, 28)
    assert isinstance(bad, ValueError)
    assert call.calls[0] == [12, 13, 14]  # tried together, then each alone


def test_it_serves_one_event_loop_after_another():
    together = Together(Doubler())
    assert asyncio.run(together(1)) == 2
    assert asyncio.run(together(2)) == 4


def test_a_failure_of_the_whole_call_reaches_a_lone_caller():
    together = Together(Doubler())
    with pytest.raises(ValueError, match="13 is refused"):
        asyncio.run(together(13))
