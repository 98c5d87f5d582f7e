"""A small Durable Functions app exercising every pattern the engine must run like Azure does."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import azure.durable_functions as df

app = df.DFApp()

calls: Counter[str] = Counter()
_lock = threading.Lock()
# Per-test knobs, reset by the fixture.
knobs: dict = {}


def count(name: str) -> None:
    with _lock:
        calls[name] += 1
    ledger = knobs.get("ledger")
    if ledger:
        with _lock, Path(ledger).open("a") as fh:
            fh.write(name + "\n")


@app.activity_trigger(input_name="name")
def hello(name: str) -> str:
    count("hello")
    return f"Hello {name}"


@app.activity_trigger(input_name="n")
async def double(n: int) -> int:
    count("double")
    return n * 2


@app.activity_trigger(input_name="payload")
def boom(payload: dict) -> None:
    count("boom")
    raise ValueError(f"cannot process {payload['item']}")


@app.activity_trigger(input_name="key")
def flaky(key: str) -> str:
    """Fails the first `flaky_failures` times it is called."""
    count("flaky")
    with _lock:
        knobs["flaky_seen"] = knobs.get("flaky_seen", 0) + 1
        seen = knobs["flaky_seen"]
    if seen <= knobs.get("flaky_failures", 0):
        raise RuntimeError(f"transient failure {seen}")
    return f"{key} ok after {seen}"


@app.activity_trigger(input_name="step")
async def gated(step: str) -> str:
    """Waits until the test opens the gate (to stop an engine mid-flight)."""
    count(f"gated:{step}")
    gate: asyncio.Event | None = knobs.get("gate")
    if gate is not None and step == knobs.get("block_step"):
        await gate.wait()
    return step


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    a = yield context.call_activity("hello", "Tokyo")
    b = yield context.call_activity("hello", "Seattle")
    c = yield context.call_activity(hello, "London")
    context.set_custom_status({"step": 3})
    return [a, b, c]


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    n = context.get_input()
    results = yield context.task_all([context.call_activity("double", i) for i in range(n)])
    return sum(results)


@app.orchestration_trigger(context_name="context")
def sequence(context: df.DurableOrchestrationContext):
    total = 0
    for i in range(context.get_input()):
        total += yield context.call_activity("double", i)
    return total


@app.orchestration_trigger(context_name="context")
def fails_in_activity(context: df.DurableOrchestrationContext):
    yield context.call_activity("boom", {"item": "x-42"})
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def catches_activity_failure(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("boom", {"item": "y"})
    except Exception as exc:
        return f"caught: {exc}"


@app.orchestration_trigger(context_name="context")
def fails_itself(context: df.DurableOrchestrationContext):
    yield context.call_activity("hello", "a")
    raise KeyError("missing-setting")


@app.orchestration_trigger(context_name="context")
def retrying(context: df.DurableOrchestrationContext):
    opts = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=3)
    first = yield context.call_activity("hello", "before")
    result = yield context.call_activity_with_retry("flaky", opts, "job")
    after = yield context.call_activity("hello", "after")
    return [first, result, after]


@app.orchestration_trigger(context_name="context")
def timer_then_activity(context: df.DurableOrchestrationContext):
    start = context.current_utc_datetime
    yield context.create_timer(start + timedelta(seconds=1))
    woke = context.current_utc_datetime
    greeting = yield context.call_activity("hello", "timer")
    return {"slept": (woke - start).total_seconds(), "greeting": greeting}


@app.orchestration_trigger(context_name="context")
def long_retries(context: df.DurableOrchestrationContext):
    """A retry policy of ten minutes between attempts: hours of timers in a test that skips time."""
    opts = df.RetryOptions(first_retry_interval_in_milliseconds=600_000, max_number_of_attempts=3)
    start = context.current_utc_datetime
    result = yield context.call_activity_with_retry("flaky", opts, "job")
    return {"result": result, "waited": (context.current_utc_datetime - start).total_seconds()}


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    """Human interaction: wait for Approval or time out."""
    deadline = context.current_utc_datetime + timedelta(seconds=context.get_input() or 30)
    timeout = context.create_timer(deadline)
    event = context.wait_for_external_event("Approval")
    winner = yield context.task_any([event, timeout])
    if winner == event:
        timeout.cancel()
        return {"approved": event.result}
    return {"approved": None, "timed_out": True}


@app.orchestration_trigger(context_name="context")
def late_waiter(context: df.DurableOrchestrationContext):
    """Does work first, only then waits: the event may already have been raised."""
    yield context.call_activity("hello", "first")
    yield context.call_activity("hello", "second")
    value = yield context.wait_for_external_event("Go")
    return value


@app.orchestration_trigger(context_name="context")
def child(context: df.DurableOrchestrationContext):
    n = context.get_input()
    if n < 0:
        raise ValueError("negative input")
    return (yield context.call_activity("double", n))


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    a = yield context.call_sub_orchestrator("child", 5)
    b = yield context.call_sub_orchestrator("child", 7, instance_id=f"{context.instance_id}-fixed")
    try:
        yield context.call_sub_orchestrator("child", -1)
    except Exception as exc:
        return [a, b, f"child failed: {exc}"]


@app.orchestration_trigger(context_name="context")
def parent_with_retry(context: df.DurableOrchestrationContext):
    opts = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=2)
    try:
        yield context.call_sub_orchestrator_with_retry("child", opts, -3)
    except Exception:
        return "gave up"


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    """Eternal-style: counts incoming 'add' events, continues as new after each."""
    state = context.get_input() or {"total": 0, "generation": 0}
    if state["total"] >= knobs.get("counter_goal", 3):
        return state
    amount = yield context.wait_for_external_event("add")
    context.continue_as_new({"total": state["total"] + amount, "generation": state["generation"] + 1})


@app.orchestration_trigger(context_name="context")
def waits_forever(context: df.DurableOrchestrationContext):
    context.set_custom_status("waiting")
    return (yield context.wait_for_external_event("never"))


@app.orchestration_trigger(context_name="context")
def changes_its_mind(context: df.DurableOrchestrationContext):
    """Non-deterministic on purpose: the activity it calls depends on a global."""
    first = "hello" if knobs.get("variant", "a") == "a" else "double"
    yield context.call_activity(first, 1 if first == "double" else "x")
    yield context.wait_for_external_event("continue")
    return "done"


@app.orchestration_trigger(context_name="context")
def gated_chain(context: df.DurableOrchestrationContext):
    out = []
    for step in ("one", "two", "three", "four"):
        out.append((yield context.call_activity("gated", step)))
    return out


# get_functions() validates names into a registry and refuses to run twice: index once.
FUNCTIONS = app.get_functions()
