"""Run one orchestration episode through the SDK's own replay, and learn what it asked for.

The Durable extension never sees Python task objects: it reads the returned actions and numbers
the tasks the way DTFx does. The SDK mirrors that numbering internally (it even allocates the
retry timers and rescheduled tasks of `call_*_with_retry` while it replays TaskFailed/TimerFired).
Rather than re-deriving that numbering from the flat action list, we watch the SDK assign it:
a context subclass records every task the moment the SDK gives it a sequence number. The
replay itself is exactly `Orchestrator.handle`: `TaskOrchestrationExecutor().execute(ctx, history, fn)`.

History events are parsed into SDK `HistoryEvent` objects once per instance and reused by every
later episode (the engine appends), so each episode's cost is the replay itself, not re-parsing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.durable_functions.models.actions.CallActivityAction import CallActivityAction
from azure.durable_functions.models.actions.CallActivityWithRetryAction import CallActivityWithRetryAction
from azure.durable_functions.models.actions.CallEntityAction import CallEntityAction
from azure.durable_functions.models.actions.CallHttpAction import CallHttpAction
from azure.durable_functions.models.actions.CallSubOrchestratorAction import CallSubOrchestratorAction
from azure.durable_functions.models.actions.CallSubOrchestratorWithRetryAction import (
    CallSubOrchestratorWithRetryAction,
)
from azure.durable_functions.models.actions.ContinueAsNewAction import ContinueAsNewAction
from azure.durable_functions.models.actions.CreateTimerAction import CreateTimerAction
from azure.durable_functions.models.actions.NoOpAction import NoOpAction
from azure.durable_functions.models.actions.SignalEntityAction import SignalEntityAction
from azure.durable_functions.models.DurableOrchestrationContext import DurableOrchestrationContext
from azure.durable_functions.models.history.HistoryEvent import HistoryEvent
from azure.durable_functions.models.Task import AtomicTask, TaskBase
from azure.durable_functions.models.TaskOrchestrationExecutor import TaskOrchestrationExecutor
from azure.durable_functions.models.utils.df_serialization import df_dumps

OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"

# Event types (azure.durable_functions.models.history.HistoryEventType)
EXECUTION_STARTED = 0
EXECUTION_COMPLETED = 1
EXECUTION_TERMINATED = 3
TASK_SCHEDULED = 4
TASK_COMPLETED = 5
TASK_FAILED = 6
SUB_ORCH_CREATED = 7
SUB_ORCH_COMPLETED = 8
SUB_ORCH_FAILED = 9
TIMER_CREATED = 10
TIMER_FIRED = 11
ORCHESTRATOR_STARTED = 12
ORCHESTRATOR_COMPLETED = 13
EVENT_RAISED = 15
CONTINUE_AS_NEW = 16
EXECUTION_SUSPENDED = 19
EXECUTION_RESUMED = 20

EVENT_TYPE_NAMES = {
    0: "ExecutionStarted",
    1: "ExecutionCompleted",
    2: "ExecutionFailed",
    3: "ExecutionTerminated",
    4: "TaskScheduled",
    5: "TaskCompleted",
    6: "TaskFailed",
    7: "SubOrchestrationInstanceCreated",
    8: "SubOrchestrationInstanceCompleted",
    9: "SubOrchestrationInstanceFailed",
    10: "TimerCreated",
    11: "TimerFired",
    12: "OrchestratorStarted",
    13: "OrchestratorCompleted",
    14: "EventSent",
    15: "EventRaised",
    16: "ContinueAsNew",
    17: "GenericEvent",
    18: "HistoryState",
    19: "ExecutionSuspended",
    20: "ExecutionResumed",
}

# The kinds of work a numbered task stands for, as recorded in history.
ACTIVITY = "activity"
TIMER = "timer"
SUB_ORCHESTRATION = "sub-orchestration"
ENTITY_CALL = "entity call"
ENTITY_SIGNAL = "entity signal"
HTTP_CALL = "http call"
CONTINUE = "continue-as-new"

SCHEDULED_EVENT_KIND = {TASK_SCHEDULED: ACTIVITY, TIMER_CREATED: TIMER, SUB_ORCH_CREATED: SUB_ORCHESTRATION}


def format_time(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def to_sdk_event(event: dict[str, Any]) -> HistoryEvent:
    """Build the SDK's HistoryEvent without dateutil (parsing every timestamp with it is the
    single biggest per-event cost of a naive replay)."""
    ev = HistoryEvent.__new__(HistoryEvent)
    ev._event_type = event["EventType"]
    ev._event_id = event.get("EventId", -1)
    ev._is_played = event.get("IsPlayed", False)
    ev._timestamp = parse_time(event["Timestamp"])
    ev._is_processed = False
    ev.Name = None
    ev.InstanceId = None
    ev.TaskScheduledId = None
    ev.Reason = None
    ev.Details = None
    ev.Input = None
    for key, value in event.items():
        if key not in ("EventType", "EventId", "IsPlayed", "Timestamp"):
            setattr(ev, key, value)
    return ev


@dataclass
class Scheduled:
    """One numbered task of the replay, as the extension would see it."""

    task_id: int
    kind: str
    name: str | None = None
    input: str | None = None
    fire_at: datetime | None = None
    instance_id: str | None = None
    retry_timer: bool = False


@dataclass
class EpisodeResult:
    done: bool
    output: Any = None
    error: str | None = None
    custom_status: Any = None
    scheduled: list[Scheduled] = field(default_factory=list)
    continue_as_new: bool = False
    continue_input: str | None = None
    waiting_event_names: set[str] = field(default_factory=set)
    consumed_events: set[int] = field(default_factory=set)
    full_replay: bool = False


class _TrackingContext(DurableOrchestrationContext):
    """The SDK's context, noting each task as the SDK numbers it."""

    def __init__(self, **kwargs: Any) -> None:
        self._devhost_numbered: list[tuple[int, Any, datetime]] = []
        super().__init__(**kwargs)

    def _add_to_open_tasks(self, task: TaskBase) -> None:
        fresh = isinstance(task, AtomicTask) and task.id is None and not task._is_scheduled
        super()._add_to_open_tasks(task)
        if fresh and isinstance(task.id, int):
            self._devhost_numbered.append((task.id, task, self.current_utc_datetime))

    def _record_fire_and_forget_action(self, action: Any) -> None:
        if not self.will_continue_as_new:
            self._devhost_numbered.append((self._sequence_number, action, self.current_utc_datetime))
        super()._record_fire_and_forget_action(action)


class _Executor(TaskOrchestrationExecutor):
    """The SDK's executor, noting which EventRaised events actually resolved a waiting task
    (so continue-as-new can carry the others over to the next generation)."""

    def __init__(self) -> None:
        super().__init__()
        self.consumed_events: set[int] = set()

    def set_task_value(self, event: HistoryEvent, is_success: bool, id_key: str) -> None:
        if event.event_type == EVENT_RAISED and self.context.open_tasks.get(event.Name):
            self.consumed_events.add(id(event))
        super().set_task_value(event, is_success, id_key)


def _classify(task_id: int, item: Any, now: datetime) -> Scheduled:
    if isinstance(item, ContinueAsNewAction):
        return Scheduled(task_id, CONTINUE, input=item.input_)
    if isinstance(item, SignalEntityAction):
        return Scheduled(task_id, ENTITY_SIGNAL, name=item.instance_id, input=item.input_)
    action = item.action_repr[0] if isinstance(item.action_repr, list) else item.action_repr
    if isinstance(action, NoOpAction):
        parent = item.parent
        if action.metadata == "-WithRetry timer":
            interval = parent.retry_options.first_retry_interval_in_milliseconds
            return Scheduled(task_id, TIMER, fire_at=now + timedelta(milliseconds=interval), retry_timer=True)
        base = parent.actions[0] if isinstance(parent.actions, list) else parent.actions
        return _classify_action(task_id, base, now)
    return _classify_action(task_id, action, now)


def _classify_action(task_id: int, action: Any, now: datetime) -> Scheduled:
    if isinstance(action, CallActivityAction | CallActivityWithRetryAction):
        return Scheduled(task_id, ACTIVITY, name=action.function_name, input=action.input_)
    if isinstance(action, CreateTimerAction):
        fire_at = action.fire_at if action.fire_at.tzinfo else action.fire_at.replace(tzinfo=UTC)
        return Scheduled(task_id, TIMER, fire_at=fire_at)
    if isinstance(action, CallSubOrchestratorAction | CallSubOrchestratorWithRetryAction):
        return Scheduled(
            task_id,
            SUB_ORCHESTRATION,
            name=action.function_name,
            input=action._input,
            instance_id=action.instance_id,
        )
    if isinstance(action, CallEntityAction):
        return Scheduled(task_id, ENTITY_CALL, name=action.instance_id, input=action.input_)
    if isinstance(action, CallHttpAction):
        return Scheduled(task_id, HTTP_CALL, name=getattr(action.http_request, "uri", None))
    return Scheduled(task_id, type(action).__name__)


class ReplaySession:
    """One orchestration execution's replay state.

    The first `run` replays the whole history through the SDK (`executor.execute`, exactly what
    `Orchestrator.handle` does). Kept alive (the engine's extended sessions, like Azure's
    `extendedSessionsEnabled`), later runs feed only the new events to the same executor, so a
    long orchestration costs O(new events) per episode instead of O(history). A session that is
    dropped (restart, eviction, or `extended_sessions=False`) is rebuilt by a full replay, and
    every full replay is checked for determinism against history."""

    def __init__(
        self,
        fn: Any,
        input_type: Any,
        *,
        instance_id: str,
        parent_instance_id: str | None,
        input_json: str | None,
    ) -> None:
        self.fn = fn
        self.input_type = input_type
        self.instance_id = instance_id
        self.parent_instance_id = parent_instance_id
        self.input_json = input_json
        self.execution_id: str | None = None
        self.ctx: _TrackingContext | None = None
        self.executor: _Executor | None = None
        self.events_seen = 0
        self.reported = 0
        self.full_replays = 0

    def run(self, seed: list[dict[str, Any]], events: list[HistoryEvent]) -> EpisodeResult:
        """Advance the orchestration to the end of `events` (which extends what it saw before)."""
        internal_error: str | None = None
        full = self.ctx is None or self.executor is None or self.executor.has_execution_completed
        if full:
            self.ctx = ctx = _TrackingContext(
                history=seed[:2],
                instanceId=self.instance_id,
                isReplaying=False,
                parentInstanceId=self.parent_instance_id,
                input=self.input_json,
                upperSchemaVersion=2,
                upperSchemaVersionNew=3,
            )
            ctx._histories = events
            ctx._input_expected_type = self.input_type
            self.executor = executor = _Executor()
            self.reported = 0
            self.full_replays += 1
            try:
                executor.execute(ctx, events, self.fn)
            except Exception as exc:
                if executor.exception is None and OUT_OF_PROC_MARKER not in str(exc):
                    internal_error = f"{type(exc).__name__}: {exc}"
        else:
            ctx, executor = self.ctx, self.executor
            ctx._histories = events
            executor._is_processing_new_events = True
            try:
                for event in events[self.events_seen :]:
                    executor.process_event(event)
                    if executor.has_execution_completed:
                        break
            except Exception as exc:
                internal_error = f"{type(exc).__name__}: {exc}"
        self.events_seen = len(events)
        result = self._result(internal_error)
        result.full_replay = full
        return result

    def _result(self, internal_error: str | None) -> EpisodeResult:
        ctx, executor = self.ctx, self.executor
        assert ctx is not None and executor is not None
        error = internal_error
        output = None
        if error is None and executor.exception is not None:
            exc = executor.exception
            text = str(exc) or str(type(exc))
            error = text if type(exc) is Exception else f"{type(exc).__name__}: {text}"
        if error is None and executor.orchestrator_returned and executor.output is not None:
            try:
                # what the SDK's state JSON would carry (it rejects outputs json cannot encode)
                json.dumps(executor.output)
                output = json.loads(df_dumps(executor.output))
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
        result = EpisodeResult(
            done=executor.orchestration_invocation_succeeded and error is None,
            output=output,
            error=error,
            custom_status=ctx.custom_status,
        )
        numbered = ctx._devhost_numbered
        for task_id, item, now in numbered[self.reported :]:
            scheduled = _classify(task_id, item, now)
            if scheduled.kind == CONTINUE:
                result.continue_as_new = True
                result.continue_input = scheduled.input
            else:
                result.scheduled.append(scheduled)
        self.reported = len(numbered)
        if ctx.will_continue_as_new and error is None:
            result.continue_as_new = True
        for key, value in ctx.open_tasks.items():
            if isinstance(key, str) and value:
                result.waiting_event_names.add(key)
        result.consumed_events = executor.consumed_events
        return result


def run_episode(
    fn: Any,
    input_type: Any,
    *,
    instance_id: str,
    parent_instance_id: str | None,
    input_json: str | None,
    seed: list[dict[str, Any]],
    events: list[HistoryEvent],
) -> EpisodeResult:
    """Replay the whole of `events` through the SDK (a fresh session) and report every numbered task.

    `seed` is the first two raw events (OrchestratorStarted, ExecutionStarted): the context's
    constructor needs them; the full history is then swapped in as already-parsed events."""
    session = ReplaySession(
        fn, input_type, instance_id=instance_id, parent_instance_id=parent_instance_id, input_json=input_json
    )
    return session.run(seed, events)


def nondeterminism(
    scheduled: list[Scheduled], history: dict[int, tuple[str, str | None]], *, full_replay: bool = True
) -> str | None:
    """Compare the tasks this replay scheduled with the ones history says it scheduled before.

    The SDK has no such check; DTFx fails the instance, and so do we, with its wording."""
    seen: set[int] = set()
    for s in scheduled:
        before = history.get(s.task_id)
        if before is None:
            continue
        seen.add(s.task_id)
        if before != (s.kind, s.name):
            return (
                "Non-Deterministic workflow detected: A previous execution of this orchestration scheduled "
                f"{_describe(before)} with sequence ID {s.task_id}, but the current replay execution scheduled "
                f"{_describe((s.kind, s.name))} instead. Was a change made to the orchestrator code after "
                "this instance had already started running?"
            )
    for task_id in sorted(history) if full_replay else ():
        if task_id not in seen:
            return (
                "Non-Deterministic workflow detected: A previous execution of this orchestration scheduled "
                f"{_describe(history[task_id])} with sequence ID {task_id}, but the current replay execution "
                "hasn't (yet?) scheduled this task. Was a change made to the orchestrator code after this "
                "instance had already started running?"
            )
    return None


def _describe(kind_name: tuple[str, str | None]) -> str:
    kind, name = kind_name
    return f"a {kind} task named '{name}'" if name else f"a {kind} task"
