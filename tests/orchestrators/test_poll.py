"""`poll()`, the one monitor loop of every orchestration (orchestrators/run.py), run for real on
devhost's durable engine with the time-skipping clock: it checks until done, sleeps on durable
timers measured by the orchestration clock, stops at its deadline, and an event wakes it. The
checks are typed activity calls made with `yield from`, so these tests also replay them."""

from __future__ import annotations

import asyncio
import functools
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import azure.durable_functions as df

from core.kernel.activity import Activity
from core.kernel.payload import Payload
from devhost.durable.clock import TimeSkippingClock
from devhost.durable.engine import DurableEngine
from orchestrators.run import OrchestrationRun, Step


class CountInput(Payload):
    key: str


class CountResult(Payload):
    n: int


COUNT = Activity("poll_test_count", CountInput, CountResult)
counts: dict[str, int] = {}
lock = threading.Lock()

app = df.DFApp()


@app.activity_trigger(input_name="payload")
def poll_test_count(payload: dict) -> dict:
    """Counts its own executions per key: a replay that re-ran a check would count it twice."""
    key = CountInput.model_validate(payload).key
    with lock:
        counts[key] = counts.get(key, 0) + 1
        return CountResult(n=counts[key]).dump()


@app.orchestration_trigger(context_name="context")
def poll_test(context: df.DurableOrchestrationContext):
    ask = context.get_input()
    run = OrchestrationRun(context, context.instance_id, "m", status=None)
    started: datetime = context.current_utc_datetime

    def check() -> Step[CountResult]:
        counted = yield from run.call(COUNT, CountInput(key=context.instance_id))
        context.set_custom_status({"checks": counted.n})
        return counted

    wake = [context.wait_for_external_event("stop")] if ask["wake"] else []
    polled = yield from run.poll(
        check, lambda c: c.n >= ask["until"], every=ask["every"], within=ask["within"], wake=wake
    )
    return {
        "outcome": polled.outcome,
        "n": polled.last.n,
        "seconds": (context.current_utc_datetime - started).total_seconds(),
        "woken_by_stop": polled.by is not None and polled.by is (wake[0] if wake else None),
    }


@functools.cache
def _functions() -> list[Any]:
    """The stub app's functions (the SDK lets get_functions() run once per app)."""
    return app.get_functions()


def _run(tmp_path: Path, instance: str, ask: dict[str, Any], stop_after_checks: int | None = None) -> dict:
    async def main() -> dict:
        engine = DurableEngine(db_path=tmp_path / "hub.db", functions=_functions(), clock=TimeSkippingClock())
        await engine.start("http://127.0.0.1:7071")
        try:
            await engine.start_new("poll_test", instance_id=instance, input=ask)
            if stop_after_checks is not None:  # the clock keeps real time until we wait
                for _ in range(500):
                    status = await engine.get_status(instance)
                    if ((status or {}).get("customStatus") or {}).get("checks") == stop_after_checks:
                        break
                    await asyncio.sleep(0.01)
                await engine.raise_event(instance, "stop", {"by": "test"})
            return await engine.wait_for(instance, 30)
        finally:
            await engine.stop()

    done = asyncio.run(main())
    assert done["runtimeStatus"] == "Completed", done
    return done["output"]


def test_a_poll_checks_until_done_sleeping_between_checks_on_the_orchestration_clock(tmp_path):
    out = _run(tmp_path, "done-1", {"until": 3, "every": 10, "within": 600, "wake": False})
    assert out["outcome"] == "done" and out["n"] == 3
    assert out["seconds"] >= 20  # two durable sleeps of 10 s, skipped by the test clock
    assert counts["done-1"] == 3  # every replay of the episodes read the checks from history


def test_a_poll_ends_at_its_deadline_with_the_last_sleep_cut_to_it(tmp_path):
    out = _run(tmp_path, "deadline-1", {"until": 99, "every": 30, "within": 70, "wake": False})
    assert out["outcome"] == "deadline"
    assert out["n"] == 4  # checked at 0, 30, 60 and at the deadline, 70 s in
    assert 70 <= out["seconds"] < 90


def test_an_event_wakes_a_sleeping_poll_and_ends_it_without_waiting_out_the_timer(tmp_path):
    ask = {"until": 99, "every": 3600, "within": 7200, "wake": True}
    out = _run(tmp_path, "woken-1", ask, stop_after_checks=1)
    assert out["outcome"] == "woken" and out["woken_by_stop"] and out["n"] == 1
    assert out["seconds"] < 60
