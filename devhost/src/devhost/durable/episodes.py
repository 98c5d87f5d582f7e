"""Episodes: replay an instance's history through the SDK and turn what it returned into history.

One episode takes the instance's new messages, appends them after an OrchestratorStarted event
(stamped with the clock: the orchestrator's `current_utc_datetime`), replays (replay.py), checks
the replay against the history (the SDK has no determinism check), and turns the newly numbered
tasks into TaskScheduled / TimerCreated / SubOrchestrationInstanceCreated events plus their work
items, timers and child instances, all in one SQLite transaction. Work that must only happen once
the transaction is committed (dispatching an activity, arming a timer) is returned as `post` actions.
"""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from azure.durable_functions.models.history.HistoryEvent import HistoryEvent

from devhost.durable import replay as R
from devhost.durable.hub import Hub
from devhost.durable.instances import (
    ACTIVE,
    Event,
    Instance,
    InstanceExistsError,
    event,
    execution_started,
)
from devhost.durable.registry import FunctionRegistry
from devhost.durable.scheduling import Scheduler
from devhost.durable.workers import ActivityWorkers

Post = list[Callable[[], None]]


class Episodes:
    def __init__(
        self,
        hub: Hub,
        registry: FunctionRegistry,
        workers: ActivityWorkers,
        *,
        orchestrator_threads: int,
        extended_sessions: bool,
        max_sessions: int,
    ) -> None:
        self.hub = hub
        self.registry = registry
        self.workers = workers
        self.orchestrator_threads = orchestrator_threads
        # Keep each instance's replay in memory between episodes (Azure's extendedSessionsEnabled):
        # a fresh instance, a restart or an evicted session replays its whole history (and is
        # checked for determinism); with False every episode replays from the start.
        self.extended_sessions = extended_sessions
        self.max_sessions = max_sessions
        self.scheduler = Scheduler(
            hub, run_episode=self.run, terminate=self.terminate_now, fail=self.fail_now
        )

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(self.orchestrator_threads, thread_name_prefix="devhost-orchestrator")

    def stop(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- new instances ------------------------------------------------------------------------
    def create_instance(
        self,
        instance_id: str,
        name: str,
        input_json: str | None,
        parent: tuple[str, str, int] | None = None,
    ) -> tuple[Instance, Post]:
        """Write a new instance and its ExecutionStarted message (caller commits, then runs `post`)."""
        store = self.hub.store
        existing = store.get_instance(instance_id)
        if existing is not None and existing["status"] in ACTIVE:
            raise InstanceExistsError(
                f"An orchestration with instance ID '{instance_id}' already exists and is {existing['status']}: "
                "wait for it to finish or terminate it before starting it again."
            )
        if existing is not None:
            store.delete_instance_state(instance_id)
        when = self.hub.clock.now()
        now = R.format_time(when)
        execution_id = uuid.uuid4().hex
        store.put_instance(
            {
                "instance_id": instance_id,
                "name": name,
                "execution_id": execution_id,
                "status": "Pending",
                "input": input_json,
                "output": None,
                "custom_status": None,
                "created_time": now,
                "last_updated_time": now,
                "parent_instance_id": parent[0] if parent else None,
                "parent_execution_id": parent[1] if parent else None,
                "parent_task_id": parent[2] if parent else None,
            }
        )
        started = execution_started(when, instance_id, execution_id, name, input_json, parent)
        msg_id = store.add_message(instance_id, execution_id, started)
        inst = Instance(
            instance_id,
            name,
            execution_id,
            "Pending",
            input_json,
            parent[0] if parent else None,
            parent[1] if parent else None,
            parent[2] if parent else None,
        )

        def post() -> None:
            self.hub.live[instance_id] = inst
            inst.pending.append((msg_id, started))
            self.scheduler.kick(inst)

        return inst, [post]

    # -- one episode --------------------------------------------------------------------------
    async def run(self, inst: Instance) -> None:
        hub = self.hub
        store = hub.store
        batch, inst.pending = inst.pending, []
        if not inst.history:
            batch.sort(key=lambda m: m[1]["EventType"] != R.EXECUTION_STARTED)
            if not batch or batch[0][1]["EventType"] != R.EXECUTION_STARTED:
                raise RuntimeError(f"instance {inst.instance_id} has no ExecutionStarted message")
        now = hub.clock.now()
        new = [event(R.ORCHESTRATOR_STARTED, now)] + [e for _, e in batch]
        new_sdk = [R.to_sdk_event(e) for e in new]
        replayed = inst.events + new_sdk
        result = await self._replay(inst, new, replayed)
        if hub.stopping or not hub.started:
            inst.pending[:0] = batch
            return
        hub.stats["episodes"] += 1
        error = self._refusal(inst, result)

        store.commit()
        post: Post = []
        store.delete_messages([mid for mid, _ in batch])
        custom = None if result.custom_status is None else json.dumps(result.custom_status)
        if error is not None:
            hub.log.error("Orchestration '%s' (%s) failed: %s", inst.name, inst.instance_id, error)
            tail = [
                event(R.ORCHESTRATOR_COMPLETED, now),
                event(R.EXECUTION_COMPLETED, now, OrchestrationStatus="Failed", Result=json.dumps(error)),
            ]
            self.write_history(inst, new + tail)
            post += self.finish(
                inst, "Failed", json.dumps(error), custom, self._failed_for_parent(inst, error)
            )
        elif result.continue_as_new:
            post += self._continue_as_new(inst, new, replayed, result, custom)
        elif result.done:
            output = None if result.output is None else json.dumps(result.output)
            tail = [
                event(R.ORCHESTRATOR_COMPLETED, now),
                event(R.EXECUTION_COMPLETED, now, OrchestrationStatus="Completed", Result=output),
            ]
            self.write_history(inst, new + tail)
            parent_event = event(
                R.SUB_ORCH_COMPLETED, now, TaskScheduledId=inst.parent_task_id, Result=output
            )
            post += self.finish(inst, "Completed", output, custom, parent_event)
            hub.log.info("Orchestration '%s' (%s) completed", inst.name, inst.instance_id)
        else:
            outbound = [
                self._schedule(inst, s, now, post)
                for s in result.scheduled
                if s.task_id not in inst.scheduled
            ]
            self.write_history(inst, new + outbound + [event(R.ORCHESTRATOR_COMPLETED, now)], new_sdk)
            if inst.status == "Pending":
                inst.status = "Running"
            store.update_instance(
                inst.instance_id,
                status=inst.status,
                custom_status=custom,
                last_updated_time=R.format_time(now),
            )
        store.commit()
        for action in post:
            action()

    async def _replay(
        self, inst: Instance, new: list[Event], replayed: list[HistoryEvent]
    ) -> R.EpisodeResult:
        hub = self.hub
        orch = self.registry.orchestrator(inst.name)
        if orch is None:
            return R.EpisodeResult(
                done=False,
                error=f"The function '{inst.name}' doesn't exist, is disabled, or is not an orchestrator function.",
            )
        seed = inst.history[:2] if inst.history else new[:2]
        session = hub.sessions.pop(inst.instance_id, None)
        if session is None or session.execution_id != inst.execution_id or not self.extended_sessions:
            session = R.ReplaySession(
                orch.fn,
                orch.input_type,
                instance_id=inst.instance_id,
                parent_instance_id=inst.parent_instance_id,
                input_json=inst.input,
            )
            session.execution_id = inst.execution_id
        full_before = session.full_replays
        seen_before = session.events_seen
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._pool, session.run, seed, replayed)
        if session.full_replays != full_before:
            hub.stats["full_replays"] += 1
            hub.stats["replayed_events"] += len(replayed)
        else:
            hub.stats["replayed_events"] += len(replayed) - seen_before
        if self.extended_sessions and result.done is False and result.error is None:
            hub.sessions[inst.instance_id] = session
            while len(hub.sessions) > self.max_sessions:
                hub.sessions.popitem(last=False)
        return result

    def _refusal(self, inst: Instance, result: R.EpisodeResult) -> str | None:
        """Why this episode fails the instance: nondeterminism, the orchestrator's own error, or a
        task devhost does not run."""
        error = R.nondeterminism(result.scheduled, inst.scheduled, full_replay=result.full_replay)
        if error is None and result.error is not None:
            error = f"Orchestrator function '{inst.name}' failed: {result.error}"
        if error is None and not result.done:
            for s in result.scheduled:
                if s.task_id not in inst.scheduled and s.kind in (
                    R.ENTITY_CALL,
                    R.ENTITY_SIGNAL,
                    R.HTTP_CALL,
                ):
                    return (
                        f"Orchestrator function '{inst.name}' failed: devhost does not support {s.kind}s "
                        f"(task {s.task_id}, target '{s.name}'); run this orchestration on Azure."
                    )
        return error

    def write_history(
        self, inst: Instance, events: list[Event], sdk: list[HistoryEvent] | None = None
    ) -> None:
        self.hub.store.append_history(inst.instance_id, inst.execution_id, len(inst.history), events)
        if sdk is not None:
            sdk = sdk + [R.to_sdk_event(e) for e in events[len(sdk) :]]
        inst.append(events, sdk)

    def _schedule(self, inst: Instance, s: R.Scheduled, now: datetime, post: Post) -> Event:
        store = self.hub.store
        if s.kind == R.ACTIVITY:
            assert s.name is not None
            wid = store.add_work(inst.instance_id, inst.execution_id, s.task_id, s.name, s.input)
            post.append(
                functools.partial(
                    self.workers.dispatch,
                    wid,
                    inst.instance_id,
                    inst.execution_id,
                    s.task_id,
                    s.name,
                    s.input,
                )
            )
            return event(R.TASK_SCHEDULED, now, s.task_id, Name=s.name, Input=s.input)
        if s.kind == R.TIMER:
            fire_at = s.fire_at or now
            fired = event(R.TIMER_FIRED, fire_at, TimerId=s.task_id, FireAt=R.format_time(fire_at))
            mid = store.add_message(inst.instance_id, inst.execution_id, fired, fire_at.timestamp())
            post.append(functools.partial(self.scheduler.arm_timer, inst, mid, fired, fire_at))
            return event(R.TIMER_CREATED, now, s.task_id, FireAt=R.format_time(fire_at))
        if s.kind == R.SUB_ORCHESTRATION:
            assert s.name is not None
            child_id = s.instance_id or f"{inst.instance_id}:{s.task_id:04d}"
            orch = self.registry.orchestrator(s.name)
            failure = None
            if orch is None:
                failure = (
                    f"The function '{s.name}' doesn't exist, is disabled, or is not an orchestrator function."
                )
            else:
                try:
                    _, child_post = self.create_instance(
                        child_id, orch.name, s.input, (inst.instance_id, inst.execution_id, s.task_id)
                    )
                    post.extend(child_post)
                except InstanceExistsError as exc:
                    failure = str(exc)
            if failure is not None:
                failed = event(R.SUB_ORCH_FAILED, now, TaskScheduledId=s.task_id, Reason=failure, Details="")
                mid = store.add_message(inst.instance_id, inst.execution_id, failed)
                post.append(
                    functools.partial(
                        self.scheduler.deliver, inst.instance_id, inst.execution_id, mid, failed
                    )
                )
            return event(R.SUB_ORCH_CREATED, now, s.task_id, Name=s.name, Input=s.input, InstanceId=child_id)
        raise RuntimeError(f"cannot schedule a {s.kind} task")

    # -- ends ---------------------------------------------------------------------------------
    def _failed_for_parent(self, inst: Instance, message: str) -> Event:
        return event(
            R.SUB_ORCH_FAILED,
            self.hub.clock.now(),
            TaskScheduledId=inst.parent_task_id,
            Reason=message,
            Details="",
        )

    def finish(
        self,
        inst: Instance,
        status: str,
        output_json: str | None,
        custom: str | None,
        parent_event: Event | None,
    ) -> Post:
        """Write a terminal state (caller commits) and return what to do after the commit."""
        hub = self.hub
        store = hub.store
        store.update_instance(
            inst.instance_id,
            status=status,
            output=output_json,
            custom_status=custom,
            last_updated_time=R.format_time(hub.clock.now()),
        )
        store.write("DELETE FROM inbox WHERE instance_id = ?", (inst.instance_id,))
        store.write("DELETE FROM work WHERE instance_id = ?", (inst.instance_id,))
        post: Post = []
        if inst.parent_instance_id and inst.parent_execution_id and parent_event is not None:
            mid = store.add_message(inst.parent_instance_id, inst.parent_execution_id, parent_event)
            post.append(
                functools.partial(
                    self.scheduler.deliver,
                    inst.parent_instance_id,
                    inst.parent_execution_id,
                    mid,
                    parent_event,
                )
            )

        def done() -> None:
            hub.sessions.pop(inst.instance_id, None)
            inst.status = status
            inst.cancel_timers()
            inst.pending.clear()
            if hub.live.get(inst.instance_id) is inst:
                del hub.live[inst.instance_id]
            hub.notify(inst.instance_id)

        return [done, *post]

    def _continue_as_new(
        self,
        inst: Instance,
        new: list[Event],
        sdk_events: list[HistoryEvent],
        result: R.EpisodeResult,
        custom: str | None,
    ) -> Post:
        hub = self.hub
        store = hub.store
        now = hub.clock.now()
        # Events raised but never consumed by this generation go to the next one (as DF 2.x does).
        carried = [
            event(R.EVENT_RAISED, now, Name=ev.get("Name"), Input=ev.get("Input"))
            for ev, sdk in zip(inst.history + new, sdk_events, strict=True)
            if ev["EventType"] == R.EVENT_RAISED and id(sdk) not in result.consumed_events
        ]
        execution_id = uuid.uuid4().hex
        store.write("DELETE FROM history WHERE instance_id = ?", (inst.instance_id,))
        store.write("DELETE FROM work WHERE instance_id = ?", (inst.instance_id,))
        store.write(
            "DELETE FROM inbox WHERE instance_id = ? AND execution_id IS NOT NULL", (inst.instance_id,)
        )
        started = execution_started(
            now,
            inst.instance_id,
            execution_id,
            inst.name,
            result.continue_input,
            (inst.parent_instance_id, inst.parent_execution_id or "", inst.parent_task_id or 0)
            if inst.parent_instance_id
            else None,
        )
        first = [(store.add_message(inst.instance_id, execution_id, started), started)]
        first += [(store.add_message(inst.instance_id, None, ev), ev) for ev in carried]
        store.update_instance(
            inst.instance_id,
            execution_id=execution_id,
            input=result.continue_input,
            status="Running",
            custom_status=custom,
            last_updated_time=R.format_time(now),
        )

        def post() -> None:
            hub.sessions.pop(inst.instance_id, None)
            inst.cancel_timers()
            inst.execution_id = execution_id
            inst.input = result.continue_input
            inst.history, inst.events, inst.scheduled = [], [], {}
            raised = [(mid, ev) for mid, ev in inst.pending if ev["EventType"] == R.EVENT_RAISED]
            inst.pending = first + raised

        hub.log.info("Orchestration '%s' (%s) continued as new", inst.name, inst.instance_id)
        return [post]

    def terminate_now(self, inst: Instance, reason: str) -> None:
        store = self.hub.store
        store.commit()
        inst.terminate_reason = None
        self.write_history(
            inst, [event(R.EXECUTION_TERMINATED, self.hub.clock.now(), Input=json.dumps(reason))]
        )
        message = f"Sub-orchestration '{inst.instance_id}' was terminated: {reason}"
        post = self.finish(
            inst, "Terminated", json.dumps(reason), None, self._failed_for_parent(inst, message)
        )
        store.commit()
        for action in post:
            action()
        self.hub.log.info("Terminated orchestration '%s' (%s): %s", inst.name, inst.instance_id, reason)

    def fail_now(self, inst: Instance, message: str) -> None:
        store = self.hub.store
        post = self.finish(inst, "Failed", json.dumps(message), None, self._failed_for_parent(inst, message))
        store.commit()
        for action in post:
            action()
