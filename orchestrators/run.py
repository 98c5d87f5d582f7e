"""The run context of the lifecycle and rollout orchestrations: the bookkeeping kept out of the flow.

A `RunContext` owns one run's custom status (`RunProgress`), its ledger facts and its events,
and `end(...)` does the end-of-run ritual once: record the fact and the final status, publish
the event, show it, return the outcome. A step that ends the run early raises `End`; the
orchestrator catches it in one place and hands it to `end`.

Activities are called by reference (core.kernel.activity): `result = yield from run.call(INGEST,
IngestInput(...))` yields the durable task and returns the declared `IngestResult`, so mypy and an
editor follow every call. Every poll-until-deadline loop is `run.poll(...)`.

Everything here is deterministic (durable timers, `context.new_uuid()`,
`context.current_utc_datetime`, activities with retry): it is rebuilt on every replay.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Generic, Literal, TypeVar

import azure.durable_functions as df

from core.kernel.activity import Activity, InT, OutT
from core.run.facts import AnyFact
from core.run.payloads import (
    PUBLISH,
    RECORD,
    EventSpec,
    LifecycleResult,
    PublishInput,
    RecordInput,
    RecordResult,
)
from core.run.status import RunProgress, RunStatus, Stage

# azure-functions-durable 1.x retries at a fixed interval (no backoff option).
# Transient failures (storage throttling, an AML API hiccup, a locked SQLite file) are retried;
# permanent ones (a bad policy, a missing blob) fail after the last attempt with their message.
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2_000, max_number_of_attempts=4)
# Events are notifications: never worth holding a run for.
EVENT_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=1_000, max_number_of_attempts=2)

T = TypeVar("T")
# A step of an orchestration: a generator that yields durable tasks to the SDK (which sends back
# their results, or throws their failures) and returns T. Run it with `yield from`.
Step = Generator[Any, Any, T]


def call(
    context: df.DurableOrchestrationContext,
    ref: Activity[InT, OutT],
    payload: InT,
    retry: df.RetryOptions | None = RETRY,
) -> Step[OutT]:
    """Call the activity `ref` and return its result as `ref.output` (`retry=None`: one attempt)."""
    request = ref.request(payload)
    if retry is None:
        raw = yield context.call_activity(ref.name, request)
    else:
        raw = yield context.call_activity_with_retry(ref.name, retry, request)
    return ref.result(raw)


@dataclass(frozen=True)
class Polled(Generic[T]):
    """How a poll ended: `done` (the check said so), `deadline`, or `woken` (by `by`, one of the
    tasks it was asked to wake on); `last` is the last value checked."""

    outcome: Literal["done", "deadline", "woken"]
    last: T
    by: Any = None


@dataclass(eq=False)
class End(Exception):
    """How a run ends: its status, the stage it ended in, why, and the fact the ledger keeps.

    Raised by a step that ends the run early, or passed to `RunContext.end` directly."""

    status: RunStatus
    stage: Stage
    reasons: list[str]
    fact: AnyFact
    event: dict[str, Any] | None = None  # the published event's data (default: the fact)
    publish: bool = True  # False when the event went out already (e.g. `registered`)
    show: dict[str, Any] = field(default_factory=dict)  # more custom status for the last word
    record: dict[str, Any] = field(default_factory=dict)  # more run-record changes

    def __post_init__(self) -> None:
        super().__init__(f"{self.status} at {self.stage}: {'; '.join(self.reasons)}")


class OrchestrationRun:
    """What every orchestration of ours keeps beside its flow: the context, the run id and model, a typed
    custom status (a core.run.status model with `evolve` and `dump`), activity calls and lifecycle events."""

    event_error_key = "last_event_error"  # the status field a lost event is shown in

    def __init__(self, context: df.DurableOrchestrationContext, run_id: str, model: str, status: Any):
        self.context = context
        self.run_id = run_id
        self.model = model
        self.status = status

    def show(self, **changes: Any) -> None:
        """Update the custom status (validated: a misspelt key fails the run, not a dashboard)."""
        self.status = self.status.evolve(**changes)
        self.context.set_custom_status(self.status.dump())

    def call(self, ref: Activity[InT, OutT], payload: InT, retry: df.RetryOptions = RETRY) -> Step[OutT]:
        """`result = yield from run.call(REF, Input(...))`: the activity's declared output."""
        return call(self.context, ref, payload, retry)

    def poll(
        self,
        check: Callable[[], Step[T]],
        until: Callable[[T], bool],
        *,
        every: float,
        within: float,
        first: T | None = None,
        wake: Sequence[Any] = (),
    ) -> Step[Polled[T]]:
        """Monitor pattern: run `check` until `until(value)`, sleeping `every` seconds on a durable
        timer between checks, for at most `within` seconds on the orchestration clock (from now).

        `first` is a value already in hand (e.g. what a submit returned): it is judged before the
        first check. `wake` are tasks (external events) that end the wait early: one that has
        completed ends the poll `woken` before another timer is made, one that completes during a
        sleep cancels the timer. The last sleep ends at the deadline, so the last check is made then,
        not up to `every` seconds later."""
        context = self.context
        deadline = context.current_utc_datetime + timedelta(seconds=within)
        value = (yield from check()) if first is None else first
        while True:
            if until(value):
                return Polled("done", value)
            woken = next((t for t in wake if t.is_completed), None)
            if woken is not None:
                return Polled("woken", value, woken)
            now = context.current_utc_datetime
            if now >= deadline:
                return Polled("deadline", value)
            timer = context.create_timer(min(now + timedelta(seconds=every), deadline))
            if wake:
                winner = yield context.task_any([timer, *wake])
                if winner is not timer:
                    if not timer.is_completed:
                        timer.cancel()
                    return Polled("woken", value, winner)
            else:
                yield timer
            value = yield from check()

    def publish(self, kind: str, data: dict[str, Any]) -> Step[None]:
        """Publish a lifecycle event; a lost event is shown in the status, never fails the run."""
        event = EventSpec(
            id=str(self.context.new_uuid()),
            kind=kind,
            model=self.model,
            run_id=self.run_id,
            time=self.context.current_utc_datetime,
            data=data,
        )
        try:
            yield from self.call(PUBLISH, PublishInput(events=[event]), EVENT_RETRY)
        except Exception as exc:
            self.show(**{self.event_error_key: f"{kind}: {str(exc)[:300]}"})


class RunContext(OrchestrationRun):
    """One run's status, ledger facts and events, bound to one orchestration context."""

    def __init__(self, context: df.DurableOrchestrationContext, run_id: str, model: str, **status: Any):
        super().__init__(context, run_id, model, RunProgress(run_id=run_id, model=model, **status))

    # ------------------------------------------------------------------ bookkeeping

    def record(self, fact: AnyFact | None = None, **changes: Any) -> Step[RecordResult]:
        """Change the run's ledger record and append `fact` to its ledger."""
        return self.call(RECORD, RecordInput(run_id=self.run_id, fact=fact, **changes))

    def step(self, fact: Any, show: dict[str, Any] | None = None, **changes: Any) -> Step[RecordResult]:
        """Enter `fact.stage`: show it, and record it with the run-record `changes`."""
        self.show(stage=fact.stage, **(show or {}))
        return self.record(fact, stage=fact.stage, **changes)

    # ------------------------------------------------------------------ the end, once

    def end(self, end: End) -> Step[dict[str, Any]]:
        """Record the fact and the final status, publish the event, show it, return the outcome."""
        yield from self.record(end.fact, status=end.status, stage="done", **end.record)
        if end.publish:
            yield from self.publish(end.status, end.fact.dump() if end.event is None else end.event)
        self.show(stage="done", status=end.status, **end.show)
        return self.outcome(end)

    def outcome(self, end: End) -> dict[str, Any]:
        return LifecycleResult(
            run_id=self.run_id, model=self.model, status=end.status, stage=end.stage, reasons=end.reasons
        ).dump()
