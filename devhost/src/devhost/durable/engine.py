"""The Durable Functions engine of devhost: the local stand-in for the Durable extension + task hub.

Model (the DTFx one, shrunk to one process): each instance has a history and an inbox. When its
inbox has messages, an *episode* runs: the new messages are appended after an OrchestratorStarted
event, the whole history is replayed through the SDK (see replay.py), the tasks the replay newly
numbered become TaskScheduled / TimerCreated / SubOrchestrationInstanceCreated events plus work
items, and everything is committed in one SQLite transaction. Activities run concurrently (a
bounded pool); their results come back as inbox messages.

Everything runs on the host's one asyncio loop. SQLite is only touched from that loop; replays
run in a small thread pool (they are CPU-bound Python and must not stall HTTP handling), sync
activities in a bounded thread pool, async activities on the loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import inspect
import json
import logging
import time
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from azure.durable_functions.models.history.HistoryEvent import HistoryEvent
from azure.functions._durable_functions import df_dumps, df_loads

from devhost.durable import replay as R
from devhost.durable.store import Store

ACTIVE = ("Pending", "Running", "Suspended")
TERMINAL = ("Completed", "Failed", "Terminated", "Canceled")


class InstanceExistsError(Exception):
    """Starting an instance id that is still Pending/Running/Suspended (as on Azure, it is refused)."""


class OrchestratorNotFoundError(LookupError):
    """The app has no orchestrator function by that name."""


def _now() -> datetime:
    return datetime.now(UTC)


def _event(
    event_type: int, when: datetime | None = None, event_id: int = -1, **fields: Any
) -> dict[str, Any]:
    ev = {
        "EventType": event_type,
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": R.format_time(when or _now()),
    }
    ev.update({k: v for k, v in fields.items() if v is not None})
    return ev


def _loads(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass
class _Orchestrator:
    name: str
    fn: Callable[..., Any]
    input_type: Any


@dataclass
class _Activity:
    name: str
    fn: Callable[..., Any]
    param: str
    is_async: bool
    client_params: list[str]


@dataclass(eq=False)
class _Instance:
    instance_id: str
    name: str
    execution_id: str
    status: str
    input: str | None
    parent_instance_id: str | None = None
    parent_execution_id: str | None = None
    parent_task_id: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    events: list[HistoryEvent] = field(default_factory=list)
    scheduled: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    pending: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    timers: dict[int, asyncio.TimerHandle] = field(default_factory=dict)
    busy: bool = False
    terminate_reason: str | None = None

    def append(self, events: list[dict[str, Any]], sdk_events: list[HistoryEvent] | None = None) -> None:
        self.history.extend(events)
        self.events.extend(sdk_events if sdk_events is not None else [R.to_sdk_event(e) for e in events])
        for ev in events:
            kind = R.SCHEDULED_EVENT_KIND.get(ev["EventType"])
            if kind is not None:
                self.scheduled[ev["EventId"]] = (kind, ev.get("Name") if kind != R.TIMER else None)


class DurableEngine:
    def __init__(
        self,
        *,
        db_path: Path,
        functions: Sequence[Any],
        task_hub: str = "DevHostHub",
        activity_concurrency: int = 16,
        logger: logging.Logger | None = None,
        orchestrator_threads: int = 2,
        system_key: str | None = None,
        extended_sessions: bool = True,
        max_sessions: int = 1000,
    ) -> None:
        self.db_path = Path(db_path)
        self.task_hub = task_hub
        self.activity_concurrency = activity_concurrency
        self.log = logger or logging.getLogger("devhost.durable")
        self.system_key = system_key
        # Keep each instance's replay in memory between episodes (Azure's extendedSessionsEnabled):
        # a fresh instance, a restart or an evicted session replays its whole history (and is
        # checked for determinism); with False every episode replays from the start.
        self.extended_sessions = extended_sessions
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, R.ReplaySession] = OrderedDict()
        self._orchestrators: dict[str, _Orchestrator] = {}
        self._activities: dict[str, _Activity] = {}
        self._entities: list[str] = []
        for f in functions:
            self._register(f)
        self._orchestrator_threads = orchestrator_threads
        self._store: Store | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._live: dict[str, _Instance] = {}
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._flush_pending = False
        self._stopping = False
        self.base_url = "http://127.0.0.1:7071"
        self.stats = {"episodes": 0, "full_replays": 0, "replayed_events": 0, "activities": 0}

    # -- discovery ----------------------------------------------------------------------------
    def _register(self, f: Any) -> None:
        trigger = f.get_trigger()
        kind = getattr(trigger, "type", None)
        name = f.get_function_name()
        user = f.get_user_function()
        if kind == "orchestrationTrigger":
            fn = getattr(user, "orchestrator_function", None)
            if fn is None:
                raise TypeError(
                    f"Orchestrator '{name}' was not built by azure-functions-durable's orchestration_trigger "
                    "(its function has no 'orchestrator_function'); devhost cannot replay it."
                )
            self._orchestrators[name] = _Orchestrator(name, fn, getattr(user, "_df_input_type", None))
        elif kind == "activityTrigger":
            # A durable client binding is already wrapped by the SDK: it takes the binding JSON.
            clients = [b.name for b in f.get_bindings() if getattr(b, "type", None) == "durableClient"]
            activity = _Activity(name, user, trigger.name, inspect.iscoroutinefunction(user), clients)
            self._activities[name] = activity
            alias = getattr(trigger, "activity", None)
            if alias and alias not in self._activities:
                self._activities[alias] = activity
        elif kind == "entityTrigger":
            self._entities.append(name)

    def _orchestrator(self, name: str) -> _Orchestrator | None:
        found = self._orchestrators.get(name)
        if found is None:
            for key, value in self._orchestrators.items():
                if key.lower() == name.lower():
                    return value
        return found

    def _activity(self, name: str) -> _Activity | None:
        found = self._activities.get(name)
        if found is None:
            for key, value in self._activities.items():
                if key.lower() == name.lower():
                    return value
        return found

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self._store = Store(self.db_path)
        self._sem = asyncio.Semaphore(self.activity_concurrency)
        self._activity_pool = ThreadPoolExecutor(
            self.activity_concurrency, thread_name_prefix="devhost-activity"
        )
        self._orch_pool = ThreadPoolExecutor(
            self._orchestrator_threads, thread_name_prefix="devhost-orchestrator"
        )
        self._resume()

    def _resume(self) -> None:
        store = self._require_store()
        started = time.perf_counter()
        for row in store.active_instances():
            inst = self._instance_from_row(row)
            inst.append(store.load_history(inst.instance_id))
            self._live[inst.instance_id] = inst
        now = time.time()
        stale: list[int] = []
        for m in store.all_messages():
            inst = self._live.get(m["instance_id"])
            if inst is None or (m["execution_id"] and m["execution_id"] != inst.execution_id):
                stale.append(m["id"])
                continue
            event = json.loads(m["event"])
            if m["visible_at"] is not None and m["visible_at"] > now:
                self._arm_timer(inst, m["id"], event, m["visible_at"])
            else:
                inst.pending.append((m["id"], event))
        store.delete_messages(stale)
        rerun = 0
        for w in store.all_work():
            inst = self._live.get(w["instance_id"])
            if inst is None or inst.execution_id != w["execution_id"]:
                store.write("DELETE FROM work WHERE id = ?", (w["id"],))
                continue
            rerun += 1
            self._dispatch(w["id"], inst.instance_id, inst.execution_id, w["task_id"], w["name"], w["input"])
        store.commit()
        for inst in list(self._live.values()):
            self._kick(inst)
        if self._live:
            self.log.info(
                "Durable task hub '%s': resumed %d in-flight instance(s), re-dispatched %d activity(ies) in %.0f ms",
                self.task_hub,
                len(self._live),
                rerun,
                (time.perf_counter() - started) * 1000,
            )

    async def stop(self) -> None:
        """Stop workers; activities still running are abandoned (their work items stay queued and
        run again on the next start: at-least-once, as on Azure)."""
        if self._store is None:
            return
        self._stopping = True
        for inst in self._live.values():
            for handle in inst.timers.values():
                handle.cancel()
        drives = [t for t in self._tasks if t.get_name().startswith("devhost-episode")]
        if drives:
            await asyncio.wait(drives, timeout=10)
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
        self._store.close()
        self._store = None
        self._activity_pool.shutdown(wait=False, cancel_futures=True)
        self._orch_pool.shutdown(wait=False, cancel_futures=True)
        self._live.clear()
        self._sessions.clear()
        for futures in self._waiters.values():
            for fut in futures:
                if not fut.done():
                    fut.cancel()
        self._waiters.clear()

    def _abandon(self) -> None:
        """Simulate a crash (tests): drop uncommitted writes and every in-memory state at once."""
        self._stopping = True
        for inst in self._live.values():
            for handle in inst.timers.values():
                handle.cancel()
        for t in list(self._tasks):
            t.cancel()
        if self._store is not None:
            with contextlib.suppress(Exception):
                if self._store.db.in_transaction:
                    self._store.db.execute("ROLLBACK")
            self._store.db.close()
            self._store = None
        self._activity_pool.shutdown(wait=False, cancel_futures=True)
        self._orch_pool.shutdown(wait=False, cancel_futures=True)
        self._live.clear()
        self._sessions.clear()

    def _require_store(self) -> Store:
        if self._store is None:
            raise RuntimeError(
                "The durable engine is not started (call `await engine.start(base_url)` first)."
            )
        return self._store

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _flush_soon(self) -> None:
        if not self._flush_pending and self._loop is not None:
            self._flush_pending = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        if self._store is not None:
            self._store.commit()

    # -- client binding -----------------------------------------------------------------------
    def client_binding(self) -> str:
        public = f"{self.base_url}/runtime/webhooks/durabletask"
        query = f"taskHub={quote(self.task_hub)}&connection=Storage"
        if self.system_key:
            query += f"&code={quote(self.system_key)}"
        inst = f"{public}/instances/INSTANCEID"
        return json.dumps(
            {
                "taskHubName": self.task_hub,
                "creationUrls": {
                    "createNewInstancePostUri": f"{public}/orchestrators/{{functionName}}[/{{instanceId}}]?{query}",
                    "createAndWaitOnNewInstancePostUri": (
                        f"{public}/orchestrators/{{functionName}}[/{{instanceId}}]"
                        f"?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&{query}"
                    ),
                },
                "managementUrls": {
                    "id": "INSTANCEID",
                    "statusQueryGetUri": f"{inst}?{query}",
                    "sendEventPostUri": f"{inst}/raiseEvent/{{eventName}}?{query}",
                    "terminatePostUri": f"{inst}/terminate?reason={{text}}&{query}",
                    "rewindPostUri": f"{inst}/rewind?reason={{text}}&{query}",
                    "purgeHistoryDeleteUri": f"{inst}?{query}",
                    "restartPostUri": f"{inst}/restart?{query}",
                    "suspendPostUri": f"{inst}/suspend?reason={{text}}&{query}",
                    "resumePostUri": f"{inst}/resume?reason={{text}}&{query}",
                },
                "baseUrl": public,
                "requiredQueryStringParameters": query,
                "rpcBaseUrl": f"{self.base_url}/durabletask/",
                "httpBaseUrl": "",
            }
        )

    def register_routes(self, app: Any) -> None:
        from devhost.durable.api import register_routes

        register_routes(self, app)

    # -- python API ---------------------------------------------------------------------------
    async def start_new(self, name: str, instance_id: str | None = None, input: Any = None) -> str:
        """Start an orchestration; `input` is any JSON-serialisable value."""
        return self.start_new_json(name, instance_id, None if input is None else df_dumps(input))

    def start_new_json(self, name: str, instance_id: str | None, input_json: str | None) -> str:
        store = self._require_store()
        orch = self._orchestrator(name)
        if orch is None:
            known = ", ".join(sorted(self._orchestrators)) or "none"
            raise OrchestratorNotFoundError(
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function. "
                f"Orchestrators in this app: {known}."
            )
        instance_id = instance_id or uuid.uuid4().hex
        store.commit()
        inst, post = self._create_instance(instance_id, orch.name, input_json)
        store.commit()
        for action in post:
            action()
        self.log.info("Started orchestration '%s' (instance %s)", orch.name, instance_id)
        return inst.instance_id

    def _create_instance(
        self,
        instance_id: str,
        name: str,
        input_json: str | None,
        parent: tuple[str, str, int] | None = None,
    ) -> tuple[_Instance, list[Callable[[], None]]]:
        """Write a new instance and its ExecutionStarted message (caller commits, then runs `post`)."""
        store = self._require_store()
        existing = store.get_instance(instance_id)
        if existing is not None and existing["status"] in ACTIVE:
            raise InstanceExistsError(
                f"An orchestration with instance ID '{instance_id}' already exists and is {existing['status']}: "
                "wait for it to finish or terminate it before starting it again."
            )
        if existing is not None:
            store.delete_instance_state(instance_id)
        now = R.format_time(_now())
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
        started = self._execution_started(instance_id, execution_id, name, input_json, parent)
        msg_id = store.add_message(instance_id, execution_id, started)
        inst = _Instance(
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
            self._live[instance_id] = inst
            inst.pending.append((msg_id, started))
            self._kick(inst)

        return inst, [post]

    @staticmethod
    def _execution_started(
        instance_id: str,
        execution_id: str,
        name: str,
        input_json: str | None,
        parent: tuple[str, str, int] | None,
    ) -> dict[str, Any]:
        ev = _event(
            R.EXECUTION_STARTED,
            Name=name,
            Input=input_json,
            Version="",
            OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
        )
        if parent:
            ev["ParentInstance"] = {
                "OrchestrationInstance": {"InstanceId": parent[0], "ExecutionId": parent[1]},
                "TaskScheduleId": parent[2],
            }
        return ev

    async def get_status(
        self,
        instance_id: str,
        *,
        show_history: bool = False,
        show_history_output: bool = False,
        show_input: bool = True,
    ) -> dict[str, Any] | None:
        row = self._require_store().get_instance(instance_id)
        if row is None:
            return None
        status = self._status_dict(row, show_input=show_input)
        if show_history:
            inst = self._live.get(instance_id)
            events = inst.history if inst is not None else self._require_store().load_history(instance_id)
            status["historyEvents"] = status["history"] = self._public_history(events, show_history_output)
        return status

    @staticmethod
    def _status_dict(row: Any, *, show_input: bool = True) -> dict[str, Any]:
        status = {
            "name": row["name"],
            "instanceId": row["instance_id"],
            "runtimeStatus": row["status"],
            "input": _loads(row["input"]) if show_input else None,
            "customStatus": _loads(row["custom_status"]),
            "output": _loads(row["output"]),
            "createdTime": row["created_time"],
            "lastUpdatedTime": row["last_updated_time"],
        }
        return status

    @staticmethod
    def _public_history(events: list[dict[str, Any]], show_output: bool) -> list[dict[str, Any]]:
        out = []
        for ev in events:
            if ev["EventType"] in (R.ORCHESTRATOR_STARTED, R.ORCHESTRATOR_COMPLETED):
                continue
            item = {k: v for k, v in ev.items() if k != "IsPlayed"}
            item["EventType"] = R.EVENT_TYPE_NAMES.get(ev["EventType"], str(ev["EventType"]))
            if "Name" in item:
                item["FunctionName"] = item["Name"]
            if not show_output:
                item.pop("Result", None)
                if ev["EventType"] not in (R.EXECUTION_STARTED, R.EVENT_RAISED):
                    item.pop("Input", None)
            for key in ("Result", "Input"):
                if key in item and isinstance(item[key], str):
                    item[key] = _loads(item[key])
            out.append(item)
        return out

    async def wait_for(self, instance_id: str, timeout: float) -> dict[str, Any]:
        """Wait until the instance is Completed, Failed or Terminated; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            status = await self.get_status(instance_id)
            if status is not None and status["runtimeStatus"] in TERMINAL:
                return status
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                state = status["runtimeStatus"] if status else "not found"
                raise TimeoutError(f"Orchestration '{instance_id}' is still {state} after {timeout:.1f}s")
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(instance_id, []).append(fut)
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(fut, timeout=min(remaining, 1.0))

    def _notify(self, instance_id: str) -> None:
        for fut in self._waiters.pop(instance_id, []):
            if not fut.done():
                fut.set_result(None)

    async def raise_event(self, instance_id: str, event_name: str, data: Any = None) -> None:
        self.raise_event_json(instance_id, event_name, json.dumps(data))

    def raise_event_json(self, instance_id: str, event_name: str, data_json: str | None) -> str:
        """Returns 'accepted', 'gone' (finished) or 'missing'."""
        store = self._require_store()
        inst = self._live.get(instance_id)
        if inst is None:
            return "gone" if store.get_instance(instance_id) is not None else "missing"
        event = _event(R.EVENT_RAISED, Name=event_name, Input=data_json)
        msg_id = store.add_message(instance_id, None, event)
        store.commit()
        inst.pending.append((msg_id, event))
        self._kick(inst)
        return "accepted"

    async def terminate(self, instance_id: str, reason: str = "") -> str:
        """Returns 'accepted', 'gone' or 'missing'."""
        store = self._require_store()
        inst = self._live.get(instance_id)
        if inst is None:
            return "gone" if store.get_instance(instance_id) is not None else "missing"
        if inst.busy:
            inst.terminate_reason = reason
        else:
            self._terminate_now(inst, reason)
        return "accepted"

    async def suspend(self, instance_id: str, reason: str = "") -> str:
        store = self._require_store()
        inst = self._live.get(instance_id)
        if inst is None:
            return "gone" if store.get_instance(instance_id) is not None else "missing"
        if inst.status != "Suspended":
            inst.status = "Suspended"
            store.update_instance(instance_id, status="Suspended", last_updated_time=R.format_time(_now()))
            store.commit()
            self.log.info("Suspended orchestration %s: %s", instance_id, reason)
        return "accepted"

    async def resume(self, instance_id: str, reason: str = "") -> str:
        store = self._require_store()
        inst = self._live.get(instance_id)
        if inst is None:
            return "gone" if store.get_instance(instance_id) is not None else "missing"
        if inst.status == "Suspended":
            inst.status = "Running" if inst.history else "Pending"
            store.update_instance(instance_id, status=inst.status, last_updated_time=R.format_time(_now()))
            store.commit()
            self.log.info("Resumed orchestration %s: %s", instance_id, reason)
            self._kick(inst)
        return "accepted"

    async def rewind(self, instance_id: str, reason: str = "") -> str:
        """Replay a Failed instance without its failures: failed activities run again."""
        store = self._require_store()
        row = store.get_instance(instance_id)
        if row is None:
            return "missing"
        if row["status"] != "Failed" or instance_id in self._live:
            return "gone"
        store.commit()
        history = store.load_history(instance_id)
        # Cut history just before the last failure (a retried task's failures allocate timers,
        # so later events cannot stay without it); whatever the cut left open runs again.
        failures = [
            i for i, ev in enumerate(history) if ev["EventType"] in (R.TASK_FAILED, R.SUB_ORCH_FAILED)
        ]
        if failures:
            kept = history[: failures[-1]]
        else:
            kept = [ev for ev in history if ev["EventType"] != R.EXECUTION_COMPLETED]
        done_ids = {
            ev.get("TaskScheduledId") for ev in kept if ev["EventType"] in (R.TASK_COMPLETED, R.TASK_FAILED)
        }
        fired = {ev.get("TimerId") for ev in kept if ev["EventType"] == R.TIMER_FIRED}
        store.write("DELETE FROM history WHERE instance_id = ?", (instance_id,))
        store.write("DELETE FROM inbox WHERE instance_id = ?", (instance_id,))
        store.write("DELETE FROM work WHERE instance_id = ?", (instance_id,))
        store.append_history(instance_id, row["execution_id"], 0, kept)
        inst = self._instance_from_row(row)
        inst.status = "Running"
        inst.append(kept)
        store.update_instance(
            instance_id, status="Running", output=None, last_updated_time=R.format_time(_now())
        )
        work: list[tuple[int, dict[str, Any]]] = []
        timers: list[tuple[int, dict[str, Any], float]] = []
        for ev in kept:
            if ev["EventType"] == R.TASK_SCHEDULED and ev["EventId"] not in done_ids:
                wid = store.add_work(
                    instance_id, inst.execution_id, ev["EventId"], ev["Name"], ev.get("Input")
                )
                work.append((wid, ev))
            elif ev["EventType"] == R.TIMER_CREATED and ev["EventId"] not in fired:
                fire_at = R.parse_time(ev["FireAt"])
                timer = _event(R.TIMER_FIRED, fire_at, TimerId=ev["EventId"], FireAt=ev["FireAt"])
                visible = fire_at.timestamp()
                timers.append(
                    (store.add_message(instance_id, inst.execution_id, timer, visible), timer, visible)
                )
        # A wake-up so the orchestrator replays even when only its own code failed.
        wake = _event(17, Name="devhost-rewind", Input=json.dumps(reason))  # GenericEvent: ignored by the SDK
        msg_id = store.add_message(instance_id, inst.execution_id, wake)
        store.commit()
        self._live[instance_id] = inst
        for wid, ev in work:
            self._dispatch(wid, instance_id, inst.execution_id, ev["EventId"], ev["Name"], ev.get("Input"))
        for mid, timer, visible in timers:
            self._arm_timer(inst, mid, timer, visible)
        inst.pending.append((msg_id, wake))
        self._kick(inst)
        return "accepted"

    async def purge(self, instance_id: str) -> int:
        """Delete a finished instance and its history; returns how many instances were deleted."""
        store = self._require_store()
        row = store.get_instance(instance_id)
        if row is None or row["status"] not in TERMINAL:
            return 0
        store.delete_instance_state(instance_id)
        store.commit()
        return 1

    async def purge_by(
        self,
        *,
        created_from: datetime | str | None = None,
        created_to: datetime | str | None = None,
        statuses: Sequence[str] | None = None,
    ) -> int:
        store = self._require_store()
        wanted = [s for s in (statuses or TERMINAL) if s in TERMINAL]
        rows = store.query_instances(
            statuses=wanted, created_from=_time_filter(created_from), created_to=_time_filter(created_to)
        )
        for row in rows:
            store.delete_instance_state(row["instance_id"])
        store.commit()
        return len(rows)

    async def list_instances(
        self,
        *,
        statuses: Sequence[str] | None = None,
        created_from: datetime | str | None = None,
        created_to: datetime | str | None = None,
        prefix: str | None = None,
        top: int | None = None,
        continuation: str | None = None,
        show_input: bool = False,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of instances, oldest first, and the continuation token of the next page."""
        after = None
        if continuation:
            try:
                created, iid = json.loads(base64.urlsafe_b64decode(continuation.encode()).decode())
                after = (str(created), str(iid))
            except Exception as exc:
                raise ValueError(f"Invalid continuation token {continuation!r}") from exc
        rows = self._require_store().query_instances(
            statuses=list(statuses) if statuses else None,
            created_from=_time_filter(created_from),
            created_to=_time_filter(created_to),
            prefix=prefix,
            after=after,
            limit=(top + 1) if top else None,
        )
        token = None
        if top and len(rows) > top:
            rows = rows[:top]
            last = rows[-1]
            token = base64.urlsafe_b64encode(
                json.dumps([last["created_time"], last["instance_id"]]).encode()
            ).decode()
        return [self._status_dict(r, show_input=show_input) for r in rows], token

    # -- scheduling ---------------------------------------------------------------------------
    @staticmethod
    def _instance_from_row(row: Any) -> _Instance:
        return _Instance(
            row["instance_id"],
            row["name"],
            row["execution_id"],
            row["status"],
            row["input"],
            row["parent_instance_id"],
            row["parent_execution_id"],
            row["parent_task_id"],
        )

    def _kick(self, inst: _Instance) -> None:
        if inst.busy or self._stopping or (not inst.pending and inst.terminate_reason is None):
            return
        if inst.status not in ("Pending", "Running") and inst.terminate_reason is None:
            return
        inst.busy = True
        self._spawn(self._drive(inst), f"devhost-episode-{inst.instance_id}")

    async def _drive(self, inst: _Instance) -> None:
        try:
            while not self._stopping and self._live.get(inst.instance_id) is inst:
                if inst.terminate_reason is not None:
                    self._terminate_now(inst, inst.terminate_reason)
                    break
                if inst.status not in ("Pending", "Running") or not inst.pending:
                    break
                try:
                    await self._episode(inst)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if self._stopping or self._store is None:
                        break
                    self.log.exception("devhost durable engine error in instance %s", inst.instance_id)
                    with contextlib.suppress(Exception):
                        if self._store.db.in_transaction:
                            self._store.db.execute("ROLLBACK")
                    self._fail_now(inst, f"devhost durable engine error: {type(exc).__name__}: {exc}")
                    break
        finally:
            inst.busy = False

    async def _episode(self, inst: _Instance) -> None:
        store = self._require_store()
        batch, inst.pending = inst.pending, []
        if not inst.history:
            batch.sort(key=lambda m: m[1]["EventType"] != R.EXECUTION_STARTED)
            if not batch or batch[0][1]["EventType"] != R.EXECUTION_STARTED:
                raise RuntimeError(f"instance {inst.instance_id} has no ExecutionStarted message")
        now = _now()
        new = [_event(R.ORCHESTRATOR_STARTED, now)] + [e for _, e in batch]
        new_sdk = [R.to_sdk_event(e) for e in new]
        replayed = inst.events + new_sdk
        orch = self._orchestrator(inst.name)
        if orch is None:
            result = R.EpisodeResult(
                done=False,
                error=f"The function '{inst.name}' doesn't exist, is disabled, or is not an orchestrator function.",
            )
        else:
            seed = inst.history[:2] if inst.history else new[:2]
            session = self._sessions.pop(inst.instance_id, None)
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
            result = await loop.run_in_executor(self._orch_pool, session.run, seed, replayed)
            if session.full_replays != full_before:
                self.stats["full_replays"] += 1
                self.stats["replayed_events"] += len(replayed)
            else:
                self.stats["replayed_events"] += len(replayed) - seen_before
            if self.extended_sessions and result.done is False and result.error is None:
                self._sessions[inst.instance_id] = session
                while len(self._sessions) > self.max_sessions:
                    self._sessions.popitem(last=False)
        if self._stopping or self._store is None:
            inst.pending[:0] = batch
            return
        self.stats["episodes"] += 1

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
                    error = (
                        f"Orchestrator function '{inst.name}' failed: devhost does not support {s.kind}s "
                        f"(task {s.task_id}, target '{s.name}'); run this orchestration on Azure."
                    )

        store.commit()
        post: list[Callable[[], None]] = []
        store.delete_messages([mid for mid, _ in batch])
        custom = None if result.custom_status is None else json.dumps(result.custom_status)
        outbound: list[dict[str, Any]] = []
        if error is not None:
            self.log.error("Orchestration '%s' (%s) failed: %s", inst.name, inst.instance_id, error)
            tail = [
                _event(R.ORCHESTRATOR_COMPLETED),
                _event(R.EXECUTION_COMPLETED, OrchestrationStatus="Failed", Result=json.dumps(error)),
            ]
            self._write_history(inst, new + tail)
            post += self._finish(
                inst, "Failed", json.dumps(error), custom, self._failed_for_parent(inst, error)
            )
        elif result.continue_as_new:
            post += self._continue_as_new(inst, new, replayed, result, custom)
        elif result.done:
            output = None if result.output is None else json.dumps(result.output)
            tail = [
                _event(R.ORCHESTRATOR_COMPLETED),
                _event(R.EXECUTION_COMPLETED, OrchestrationStatus="Completed", Result=output),
            ]
            self._write_history(inst, new + tail)
            parent_event = _event(R.SUB_ORCH_COMPLETED, TaskScheduledId=inst.parent_task_id, Result=output)
            post += self._finish(inst, "Completed", output, custom, parent_event)
            self.log.info("Orchestration '%s' (%s) completed", inst.name, inst.instance_id)
        else:
            for s in result.scheduled:
                if s.task_id in inst.scheduled:
                    continue
                outbound.append(self._schedule(inst, s, now, post))
            events = new + outbound + [_event(R.ORCHESTRATOR_COMPLETED)]
            self._write_history(inst, events, new_sdk)
            if inst.status == "Pending":
                inst.status = "Running"
            store.update_instance(
                inst.instance_id,
                status=inst.status,
                custom_status=custom,
                last_updated_time=R.format_time(_now()),
            )
        store.commit()
        for action in post:
            action()

    def _write_history(
        self, inst: _Instance, events: list[dict[str, Any]], sdk: list[HistoryEvent] | None = None
    ) -> None:
        store = self._require_store()
        store.append_history(inst.instance_id, inst.execution_id, len(inst.history), events)
        if sdk is not None:
            sdk = sdk + [R.to_sdk_event(e) for e in events[len(sdk) :]]
        inst.append(events, sdk)

    def _schedule(
        self, inst: _Instance, s: R.Scheduled, now: datetime, post: list[Callable[[], None]]
    ) -> dict[str, Any]:
        store = self._require_store()
        if s.kind == R.ACTIVITY:
            assert s.name is not None
            wid = store.add_work(inst.instance_id, inst.execution_id, s.task_id, s.name, s.input)
            post.append(
                functools.partial(
                    self._dispatch, wid, inst.instance_id, inst.execution_id, s.task_id, s.name, s.input
                )
            )
            return _event(R.TASK_SCHEDULED, now, s.task_id, Name=s.name, Input=s.input)
        if s.kind == R.TIMER:
            fire_at = s.fire_at or now
            fired = _event(R.TIMER_FIRED, fire_at, TimerId=s.task_id, FireAt=R.format_time(fire_at))
            visible = fire_at.timestamp()
            mid = store.add_message(inst.instance_id, inst.execution_id, fired, visible)
            post.append(functools.partial(self._arm_timer, inst, mid, fired, visible))
            return _event(R.TIMER_CREATED, now, s.task_id, FireAt=R.format_time(fire_at))
        if s.kind == R.SUB_ORCHESTRATION:
            assert s.name is not None
            child_id = s.instance_id or f"{inst.instance_id}:{s.task_id:04d}"
            orch = self._orchestrator(s.name)
            failure = None
            if orch is None:
                failure = (
                    f"The function '{s.name}' doesn't exist, is disabled, or is not an orchestrator function."
                )
            else:
                try:
                    _, child_post = self._create_instance(
                        child_id, orch.name, s.input, (inst.instance_id, inst.execution_id, s.task_id)
                    )
                    post.extend(child_post)
                except InstanceExistsError as exc:
                    failure = str(exc)
            if failure is not None:
                failed = _event(R.SUB_ORCH_FAILED, TaskScheduledId=s.task_id, Reason=failure, Details="")
                mid = store.add_message(inst.instance_id, inst.execution_id, failed)
                post.append(
                    functools.partial(self._deliver_local, inst.instance_id, inst.execution_id, mid, failed)
                )
            return _event(R.SUB_ORCH_CREATED, now, s.task_id, Name=s.name, Input=s.input, InstanceId=child_id)
        raise RuntimeError(f"cannot schedule a {s.kind} task")

    def _failed_for_parent(self, inst: _Instance, message: str) -> dict[str, Any]:
        return _event(R.SUB_ORCH_FAILED, TaskScheduledId=inst.parent_task_id, Reason=message, Details="")

    def _finish(
        self,
        inst: _Instance,
        status: str,
        output_json: str | None,
        custom: str | None,
        parent_event: dict[str, Any] | None,
    ) -> list[Callable[[], None]]:
        """Write a terminal state (caller commits) and return what to do after the commit."""
        store = self._require_store()
        store.update_instance(
            inst.instance_id,
            status=status,
            output=output_json,
            custom_status=custom,
            last_updated_time=R.format_time(_now()),
        )
        store.write("DELETE FROM inbox WHERE instance_id = ?", (inst.instance_id,))
        store.write("DELETE FROM work WHERE instance_id = ?", (inst.instance_id,))
        post: list[Callable[[], None]] = []
        if inst.parent_instance_id and inst.parent_execution_id and parent_event is not None:
            mid = store.add_message(inst.parent_instance_id, inst.parent_execution_id, parent_event)
            post.append(
                functools.partial(
                    self._deliver_local, inst.parent_instance_id, inst.parent_execution_id, mid, parent_event
                )
            )

        def done() -> None:
            self._sessions.pop(inst.instance_id, None)
            inst.status = status
            for handle in inst.timers.values():
                handle.cancel()
            inst.timers.clear()
            inst.pending.clear()
            if self._live.get(inst.instance_id) is inst:
                del self._live[inst.instance_id]
            self._notify(inst.instance_id)

        return [done, *post]

    def _continue_as_new(
        self,
        inst: _Instance,
        new: list[dict[str, Any]],
        sdk_events: list[HistoryEvent],
        result: R.EpisodeResult,
        custom: str | None,
    ) -> list[Callable[[], None]]:
        store = self._require_store()
        # Events raised but never consumed by this generation go to the next one (as DF 2.x does).
        carried = [
            _event(R.EVENT_RAISED, Name=ev.get("Name"), Input=ev.get("Input"))
            for ev, sdk in zip(inst.history + new, sdk_events, strict=True)
            if ev["EventType"] == R.EVENT_RAISED and id(sdk) not in result.consumed_events
        ]
        execution_id = uuid.uuid4().hex
        store.write("DELETE FROM history WHERE instance_id = ?", (inst.instance_id,))
        store.write("DELETE FROM work WHERE instance_id = ?", (inst.instance_id,))
        store.write(
            "DELETE FROM inbox WHERE instance_id = ? AND execution_id IS NOT NULL", (inst.instance_id,)
        )
        started = self._execution_started(
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
            last_updated_time=R.format_time(_now()),
        )

        def post() -> None:
            self._sessions.pop(inst.instance_id, None)
            for handle in inst.timers.values():
                handle.cancel()
            inst.timers.clear()
            inst.execution_id = execution_id
            inst.input = result.continue_input
            inst.history, inst.events, inst.scheduled = [], [], {}
            raised = [(mid, ev) for mid, ev in inst.pending if ev["EventType"] == R.EVENT_RAISED]
            inst.pending = first + raised

        self.log.info("Orchestration '%s' (%s) continued as new", inst.name, inst.instance_id)
        return [post]

    def _terminate_now(self, inst: _Instance, reason: str) -> None:
        store = self._require_store()
        store.commit()
        inst.terminate_reason = None
        self._write_history(inst, [_event(R.EXECUTION_TERMINATED, Input=json.dumps(reason))])
        message = f"Sub-orchestration '{inst.instance_id}' was terminated: {reason}"
        post = self._finish(
            inst, "Terminated", json.dumps(reason), None, self._failed_for_parent(inst, message)
        )
        store.commit()
        for action in post:
            action()
        self.log.info("Terminated orchestration '%s' (%s): %s", inst.name, inst.instance_id, reason)

    def _fail_now(self, inst: _Instance, message: str) -> None:
        store = self._require_store()
        post = self._finish(inst, "Failed", json.dumps(message), None, self._failed_for_parent(inst, message))
        store.commit()
        for action in post:
            action()

    def _deliver_local(
        self, instance_id: str, execution_id: str | None, msg_id: int, event: dict[str, Any]
    ) -> None:
        inst = self._live.get(instance_id)
        if inst is None or (execution_id is not None and inst.execution_id != execution_id):
            return
        inst.pending.append((msg_id, event))
        self._kick(inst)

    def _arm_timer(self, inst: _Instance, msg_id: int, event: dict[str, Any], visible_at: float) -> None:
        if self._loop is None or self._stopping:
            return
        delay = max(0.0, visible_at - time.time())

        def fire() -> None:
            inst.timers.pop(msg_id, None)
            if self._live.get(inst.instance_id) is inst and not self._stopping:
                inst.pending.append((msg_id, event))
                self._kick(inst)

        inst.timers[msg_id] = self._loop.call_later(delay, fire)

    # -- activities ---------------------------------------------------------------------------
    def _dispatch(
        self,
        work_id: int,
        instance_id: str,
        execution_id: str,
        task_id: int,
        name: str,
        input_json: str | None,
    ) -> None:
        if self._stopping:
            return
        self._spawn(
            self._run_activity(work_id, instance_id, execution_id, task_id, name, input_json),
            f"devhost-activity-{name}",
        )

    async def _run_activity(
        self,
        work_id: int,
        instance_id: str,
        execution_id: str,
        task_id: int,
        name: str,
        input_json: str | None,
    ) -> None:
        async with self._sem:
            if self._stopping:
                return
            activity = self._activity(name)
            invocation = uuid.uuid4().hex
            started = time.perf_counter()
            self.log.debug("Executing 'Functions.%s' (Reason='(null)', Id=%s)", name, invocation)
            try:
                if activity is None:
                    raise LookupError(
                        f"The function '{name}' doesn't exist, is disabled, or is not an activity function."
                    )
                kwargs = {activity.param: _decode_activity_input(input_json)}
                for param in activity.client_params:
                    kwargs[param] = self.client_binding()
                if activity.is_async:
                    result = await activity.fn(**kwargs)
                else:
                    loop = asyncio.get_running_loop()
                    result = await loop.run_in_executor(
                        self._activity_pool, functools.partial(activity.fn, **kwargs)
                    )
                    if inspect.isawaitable(result):
                        result = await result
                event = _event(R.TASK_COMPLETED, TaskScheduledId=task_id, Result=df_dumps(result))
                self.log.debug(
                    "Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%.0fms)",
                    name,
                    invocation,
                    (time.perf_counter() - started) * 1000,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason = f"Activity function '{name}' failed: {type(exc).__name__}: {exc}"
                details = "".join(traceback.format_exception(exc)).rstrip()
                event = _event(R.TASK_FAILED, TaskScheduledId=task_id, Reason=reason, Details=details)
                self.log.warning(
                    "Executed 'Functions.%s' (Failed, Id=%s, Duration=%.0fms): %s",
                    name,
                    invocation,
                    (time.perf_counter() - started) * 1000,
                    reason,
                )
        if self._stopping or self._store is None:
            return
        self.stats["activities"] += 1
        store = self._store
        store.write("DELETE FROM work WHERE id = ?", (work_id,))
        inst = self._live.get(instance_id)
        if inst is not None and inst.execution_id == execution_id:
            msg_id = store.add_message(instance_id, execution_id, event)
            inst.pending.append((msg_id, event))
            self._kick(inst)
        self._flush_soon()


def _decode_activity_input(input_json: str | None) -> Any:
    """What the Python worker's ActivityTriggerConverter hands the function."""
    if input_json is None:
        return None
    try:
        return df_loads(input_json)
    except json.JSONDecodeError:
        return input_json


def _time_filter(value: datetime | str | None) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return R.format_time(value if value.tzinfo else value.replace(tzinfo=UTC))
    return R.format_time(R.parse_time(value))
