"""The management API in Python: status and queries, events, terminate/suspend/resume/rewind, purge.

Operations on one instance answer 'accepted', 'gone' (it exists but has finished or cannot take the
operation) or 'missing', which the HTTP API maps to 202, 410 and 404."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from devhost.durable import replay as R
from devhost.durable.episodes import Episodes
from devhost.durable.hub import Hub
from devhost.durable.instances import (
    TERMINAL,
    Event,
    Instance,
    event,
    public_history,
    status_dict,
    time_filter,
)


class Management:
    def __init__(self, hub: Hub, episodes: Episodes) -> None:
        self.hub = hub
        self.episodes = episodes
        self.scheduler = episodes.scheduler

    def _live_or(self, instance_id: str) -> Instance | str:
        inst = self.hub.live.get(instance_id)
        if inst is not None:
            return inst
        return "gone" if self.hub.store.get_instance(instance_id) is not None else "missing"

    # -- queries ------------------------------------------------------------------------------
    async def get_status(
        self,
        instance_id: str,
        *,
        show_history: bool = False,
        show_history_output: bool = False,
        show_input: bool = True,
    ) -> dict[str, Any] | None:
        row = self.hub.store.get_instance(instance_id)
        if row is None:
            return None
        status = status_dict(row, show_input=show_input)
        if show_history:
            inst = self.hub.live.get(instance_id)
            events = inst.history if inst is not None else self.hub.store.load_history(instance_id)
            status["historyEvents"] = status["history"] = public_history(events, show_history_output)
        return status

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
        rows = self.hub.store.query_instances(
            statuses=list(statuses) if statuses else None,
            created_from=time_filter(created_from),
            created_to=time_filter(created_to),
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
        return [status_dict(r, show_input=show_input) for r in rows], token

    # -- operations ---------------------------------------------------------------------------
    def raise_event_json(self, instance_id: str, event_name: str, data_json: str | None) -> str:
        store = self.hub.store
        inst = self._live_or(instance_id)
        if isinstance(inst, str):
            return inst
        raised = event(R.EVENT_RAISED, self.hub.clock.now(), Name=event_name, Input=data_json)
        msg_id = store.add_message(instance_id, None, raised)
        store.commit()
        inst.pending.append((msg_id, raised))
        self.scheduler.kick(inst)
        return "accepted"

    async def terminate(self, instance_id: str, reason: str = "") -> str:
        inst = self._live_or(instance_id)
        if isinstance(inst, str):
            return inst
        if inst.busy:
            inst.terminate_reason = reason
        else:
            self.episodes.terminate_now(inst, reason)
        return "accepted"

    async def suspend(self, instance_id: str, reason: str = "") -> str:
        inst = self._live_or(instance_id)
        if isinstance(inst, str):
            return inst
        if inst.status != "Suspended":
            inst.status = "Suspended"
            self._set_status(inst)
            self.hub.log.info("Suspended orchestration %s: %s", instance_id, reason)
        return "accepted"

    async def resume(self, instance_id: str, reason: str = "") -> str:
        inst = self._live_or(instance_id)
        if isinstance(inst, str):
            return inst
        if inst.status == "Suspended":
            inst.status = "Running" if inst.history else "Pending"
            self._set_status(inst)
            self.hub.log.info("Resumed orchestration %s: %s", instance_id, reason)
            self.scheduler.kick(inst)
        return "accepted"

    def _set_status(self, inst: Instance) -> None:
        store = self.hub.store
        store.update_instance(
            inst.instance_id, status=inst.status, last_updated_time=R.format_time(self.hub.clock.now())
        )
        store.commit()

    async def rewind(self, instance_id: str, reason: str = "") -> str:
        """Replay a Failed instance without its failures: failed activities run again."""
        hub = self.hub
        store = hub.store
        row = store.get_instance(instance_id)
        if row is None:
            return "missing"
        if row["status"] != "Failed" or instance_id in hub.live:
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
        inst = Instance.from_row(row)
        inst.status = "Running"
        inst.append(kept)
        now = hub.clock.now()
        store.update_instance(
            instance_id, status="Running", output=None, last_updated_time=R.format_time(now)
        )
        work: list[tuple[int, Event]] = []
        timers: list[tuple[int, Event, datetime]] = []
        for ev in kept:
            if ev["EventType"] == R.TASK_SCHEDULED and ev["EventId"] not in done_ids:
                wid = store.add_work(
                    instance_id, inst.execution_id, ev["EventId"], ev["Name"], ev.get("Input")
                )
                work.append((wid, ev))
            elif ev["EventType"] == R.TIMER_CREATED and ev["EventId"] not in fired:
                fire_at = R.parse_time(ev["FireAt"])
                timer = event(R.TIMER_FIRED, fire_at, TimerId=ev["EventId"], FireAt=ev["FireAt"])
                mid = store.add_message(instance_id, inst.execution_id, timer, fire_at.timestamp())
                timers.append((mid, timer, fire_at))
        # A wake-up so the orchestrator replays even when only its own code failed.
        wake = event(
            17, now, Name="devhost-rewind", Input=json.dumps(reason)
        )  # GenericEvent: ignored by the SDK
        msg_id = store.add_message(instance_id, inst.execution_id, wake)
        store.commit()
        hub.live[instance_id] = inst
        for wid, ev in work:
            self.episodes.workers.dispatch(
                wid, instance_id, inst.execution_id, ev["EventId"], ev["Name"], ev.get("Input")
            )
        for mid, timer, fire_at in timers:
            self.scheduler.arm_timer(inst, mid, timer, fire_at)
        inst.pending.append((msg_id, wake))
        self.scheduler.kick(inst)
        return "accepted"

    async def purge(self, instance_id: str) -> int:
        """Delete a finished instance and its history; returns how many instances were deleted."""
        store = self.hub.store
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
        store = self.hub.store
        wanted = [s for s in (statuses or TERMINAL) if s in TERMINAL]
        rows = store.query_instances(
            statuses=wanted, created_from=time_filter(created_from), created_to=time_filter(created_to)
        )
        for row in rows:
            store.delete_instance_state(row["instance_id"])
        store.commit()
        return len(rows)
