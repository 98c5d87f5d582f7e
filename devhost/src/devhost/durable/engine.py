"""The Durable Functions engine of devhost: the local stand-in for the Durable extension + task hub.

Model (the DTFx one, shrunk to one process): each instance has a history and an inbox. When its
inbox has messages, an *episode* runs (episodes.py): the history is replayed through the SDK and
what it returned becomes history, work items, timers and child instances, in one SQLite
transaction. Activities run concurrently on bounded workers (workers.py); their results come back
as inbox messages. Timers sleep on the engine's clock (clock.py; a test passes a
`TimeSkippingClock`). The management operations live in management.py, the HTTP API in api.py.

Everything runs on the host's one asyncio loop. SQLite is only touched from that loop; replays
run in a small thread pool (they are CPU-bound Python and must not stall HTTP handling), sync
activities in a bounded thread pool, async activities on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azure.functions._durable_functions import df_dumps

from devhost.durable.binding import client_binding
from devhost.durable.clock import Clock, SystemClock
from devhost.durable.episodes import Episodes
from devhost.durable.hub import Hub
from devhost.durable.instances import (
    ACTIVE,
    TERMINAL,
    Event,
    Instance,
    InstanceExistsError,
    OrchestratorNotFoundError,
)
from devhost.durable.management import Management
from devhost.durable.registry import FunctionRegistry
from devhost.durable.store import Store
from devhost.durable.workers import ActivityWorkers

__all__ = ["ACTIVE", "TERMINAL", "DurableEngine", "InstanceExistsError", "OrchestratorNotFoundError"]


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
        clock: Clock | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        self.task_hub = task_hub
        self.system_key = system_key
        # The rpc API's secret path segment: only the in-process client binding knows it.
        self.rpc_token = secrets.token_urlsafe(24)
        self.base_url = "http://127.0.0.1:7071"
        self.clock: Clock = clock or SystemClock()
        self.registry = FunctionRegistry(functions)
        self.hub = Hub(
            task_hub=task_hub, clock=self.clock, log=logger or logging.getLogger("devhost.durable")
        )
        self.workers = ActivityWorkers(
            self.hub,
            self.registry,
            concurrency=activity_concurrency,
            client_binding=self.client_binding,
            on_result=self._activity_done,
        )
        self.episodes = Episodes(
            self.hub,
            self.registry,
            self.workers,
            orchestrator_threads=orchestrator_threads,
            extended_sessions=extended_sessions,
            max_sessions=max_sessions,
        )
        self.scheduler = self.episodes.scheduler
        self.management = Management(self.hub, self.episodes)
        self.log = self.hub.log
        self.stats = self.hub.stats

    # -- start, stop, crash -------------------------------------------------------------------
    async def start(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.hub.open(Store(self.db_path))
        self.workers.start()
        self.episodes.start()
        self._resume()
        self.clock.watch(self.idle)

    def _resume(self) -> None:
        """Reload every in-flight instance, its inbox, timers and activities (after a stop or crash)."""
        hub, store = self.hub, self.hub.store
        started = time.perf_counter()
        for row in store.active_instances():
            loaded = Instance.from_row(row)
            loaded.append(store.load_history(loaded.instance_id))
            hub.live[loaded.instance_id] = loaded
        now = self.clock.now().timestamp()
        stale: list[int] = []
        for m in store.all_messages():
            inst = hub.live.get(m["instance_id"])
            if inst is None or (m["execution_id"] and m["execution_id"] != inst.execution_id):
                stale.append(m["id"])
                continue
            event = json.loads(m["event"])
            if m["visible_at"] is not None and m["visible_at"] > now:
                fire_at = datetime.fromtimestamp(m["visible_at"], UTC)
                self.scheduler.arm_timer(inst, m["id"], event, fire_at)
            else:
                inst.pending.append((m["id"], event))
        store.delete_messages(stale)
        rerun = 0
        for w in store.all_work():
            inst = hub.live.get(w["instance_id"])
            if inst is None or inst.execution_id != w["execution_id"]:
                store.write("DELETE FROM work WHERE id = ?", (w["id"],))
                continue
            rerun += 1
            self.workers.dispatch(
                w["id"], inst.instance_id, inst.execution_id, w["task_id"], w["name"], w["input"]
            )
        store.commit()
        for inst in list(hub.live.values()):
            self.scheduler.kick(inst)
        if hub.live:
            self.log.info(
                "Durable task hub '%s': resumed %d in-flight instance(s), re-dispatched %d activity(ies) in %.0f ms",
                self.task_hub,
                len(hub.live),
                rerun,
                (time.perf_counter() - started) * 1000,
            )

    async def stop(self) -> None:
        """Stop workers; activities still running are abandoned (their work items stay queued and
        run again on the next start: at-least-once, as on Azure)."""
        hub = self.hub
        if not hub.started:
            return
        hub.stopping = True
        self.clock.watch(None)
        hub.cancel_timers()
        drives = [t for t in hub.tasks if t.get_name().startswith("devhost-episode")]
        if drives:
            await asyncio.wait(drives, timeout=10)
        for t in list(hub.tasks):
            t.cancel()
        if hub.tasks:
            await asyncio.wait(list(hub.tasks), timeout=2)
        hub.close()
        self.workers.stop()
        self.episodes.stop()
        hub.live.clear()
        hub.sessions.clear()
        hub.cancel_waiters()

    def _abandon(self) -> None:
        """Simulate a crash (tests): drop uncommitted writes and every in-memory state at once."""
        hub = self.hub
        hub.stopping = True
        self.clock.watch(None)
        hub.cancel_timers()
        for t in list(hub.tasks):
            t.cancel()
        hub.close(rollback=True)
        self.workers.stop()
        self.episodes.stop()
        hub.live.clear()
        hub.sessions.clear()

    def _require_store(self) -> Store:
        return self.hub.store

    def idle(self) -> bool:
        """Nothing runs or waits to run: only a timer (or a caller) can change anything now."""
        return self.workers.in_flight == 0 and all(inst.idle for inst in self.hub.live.values())

    @property
    def _live(self) -> dict[str, Instance]:
        return self.hub.live

    # -- client binding -----------------------------------------------------------------------
    def client_binding(self) -> str:
        """The binding handed to the app's functions (in-process, trusted: it carries the system key)."""
        return client_binding(self.base_url, self.task_hub, self.system_key, self.rpc_token)

    def stored_input(self, instance_id: str) -> str | None:
        row = self.hub.store.get_instance(instance_id)
        return None if row is None else row["input"]

    # -- python API ---------------------------------------------------------------------------
    async def start_new(self, name: str, instance_id: str | None = None, input: Any = None) -> str:
        """Start an orchestration; `input` is any JSON-serialisable value."""
        return self.start_new_json(name, instance_id, None if input is None else df_dumps(input))

    def start_new_json(self, name: str, instance_id: str | None, input_json: str | None) -> str:
        store = self.hub.store
        orch = self.registry.orchestrator(name)
        if orch is None:
            known = ", ".join(sorted(self.registry.orchestrators)) or "none"
            raise OrchestratorNotFoundError(
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function. "
                f"Orchestrators in this app: {known}."
            )
        instance_id = instance_id or uuid.uuid4().hex
        store.commit()
        inst, post = self.episodes.create_instance(instance_id, orch.name, input_json)
        store.commit()
        for action in post:
            action()
        self.log.info("Started orchestration '%s' (instance %s)", orch.name, instance_id)
        return inst.instance_id

    async def wait_for(self, instance_id: str, timeout: float) -> dict[str, Any]:
        """Wait until the instance is Completed, Failed or Terminated; TimeoutError otherwise.
        `timeout` is wall-clock seconds; a time-skipping clock skips timers meanwhile."""
        deadline = time.monotonic() + timeout
        with self.clock.waiting():
            while True:
                status = await self.get_status(instance_id)
                if status is not None and status["runtimeStatus"] in TERMINAL:
                    return status
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    state = status["runtimeStatus"] if status else "not found"
                    raise TimeoutError(f"Orchestration '{instance_id}' is still {state} after {timeout:.1f}s")
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(self.hub.on_finished(instance_id), timeout=min(remaining, 1.0))

    async def get_status(
        self,
        instance_id: str,
        *,
        show_history: bool = False,
        show_history_output: bool = False,
        show_input: bool = True,
    ) -> dict[str, Any] | None:
        return await self.management.get_status(
            instance_id,
            show_history=show_history,
            show_history_output=show_history_output,
            show_input=show_input,
        )

    async def list_instances(self, **filters: Any) -> tuple[list[dict[str, Any]], str | None]:
        """One page of instances, oldest first, and the continuation token (see Management)."""
        return await self.management.list_instances(**filters)

    async def raise_event(self, instance_id: str, event_name: str, data: Any = None) -> None:
        self.raise_event_json(instance_id, event_name, json.dumps(data))

    def raise_event_json(self, instance_id: str, event_name: str, data_json: str | None) -> str:
        """Returns 'accepted', 'gone' (finished) or 'missing'."""
        return self.management.raise_event_json(instance_id, event_name, data_json)

    async def terminate(self, instance_id: str, reason: str = "") -> str:
        return await self.management.terminate(instance_id, reason)

    async def suspend(self, instance_id: str, reason: str = "") -> str:
        return await self.management.suspend(instance_id, reason)

    async def resume(self, instance_id: str, reason: str = "") -> str:
        return await self.management.resume(instance_id, reason)

    async def rewind(self, instance_id: str, reason: str = "") -> str:
        return await self.management.rewind(instance_id, reason)

    async def purge(self, instance_id: str) -> int:
        return await self.management.purge(instance_id)

    async def purge_by(
        self,
        *,
        created_from: datetime | str | None = None,
        created_to: datetime | str | None = None,
        statuses: Sequence[str] | None = None,
    ) -> int:
        return await self.management.purge_by(
            created_from=created_from, created_to=created_to, statuses=statuses
        )

    # -- activity results ---------------------------------------------------------------------
    def _activity_done(self, work_id: int, instance_id: str, execution_id: str, event: Event) -> None:
        store = self.hub.store
        store.write("DELETE FROM work WHERE id = ?", (work_id,))
        inst = self.hub.live.get(instance_id)
        if inst is not None and inst.execution_id == execution_id:
            msg_id = store.add_message(instance_id, execution_id, event)
            inst.pending.append((msg_id, event))
            self.scheduler.kick(inst)
        self.hub.flush_soon()
