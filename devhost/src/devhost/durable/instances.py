"""What an orchestration instance is to the engine: its in-memory state, its history events and the
public shapes of its status (what the client's `get_status` and the management API answer)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from azure.durable_functions.models.history.HistoryEvent import HistoryEvent

from devhost.durable import replay as R

ACTIVE = ("Pending", "Running", "Suspended")
TERMINAL = ("Completed", "Failed", "Terminated", "Canceled")

Event = dict[str, Any]


class InstanceExistsError(Exception):
    """Starting an instance id that is still Pending/Running/Suspended (as on Azure, it is refused)."""


class OrchestratorNotFoundError(LookupError):
    """The app has no orchestrator function by that name."""


def event(event_type: int, when: datetime, event_id: int = -1, **fields: Any) -> Event:
    """A history event as the task hub stores it (None fields left out)."""
    ev = {"EventType": event_type, "EventId": event_id, "IsPlayed": False, "Timestamp": R.format_time(when)}
    ev.update({k: v for k, v in fields.items() if v is not None})
    return ev


def execution_started(
    when: datetime,
    instance_id: str,
    execution_id: str,
    name: str,
    input_json: str | None,
    parent: tuple[str, str, int] | None,
) -> Event:
    ev = event(
        R.EXECUTION_STARTED,
        when,
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


def loads(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass(eq=False)
class Instance:
    instance_id: str
    name: str
    execution_id: str
    status: str
    input: str | None
    parent_instance_id: str | None = None
    parent_execution_id: str | None = None
    parent_task_id: int | None = None
    history: list[Event] = field(default_factory=list)
    events: list[HistoryEvent] = field(default_factory=list)
    scheduled: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    pending: list[tuple[int, Event]] = field(default_factory=list)
    timers: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    busy: bool = False
    terminate_reason: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> Instance:
        return cls(
            row["instance_id"],
            row["name"],
            row["execution_id"],
            row["status"],
            row["input"],
            row["parent_instance_id"],
            row["parent_execution_id"],
            row["parent_task_id"],
        )

    def append(self, events: list[Event], sdk_events: list[HistoryEvent] | None = None) -> None:
        self.history.extend(events)
        self.events.extend(sdk_events if sdk_events is not None else [R.to_sdk_event(e) for e in events])
        for ev in events:
            kind = R.SCHEDULED_EVENT_KIND.get(ev["EventType"])
            if kind is not None:
                self.scheduled[ev["EventId"]] = (kind, ev.get("Name") if kind != R.TIMER else None)

    def cancel_timers(self) -> None:
        for task in self.timers.values():
            task.cancel()
        self.timers.clear()

    @property
    def idle(self) -> bool:
        """Nothing to replay now: only timers (or external events) can wake it."""
        return not self.busy and not self.pending and self.terminate_reason is None


def status_dict(row: Any, *, show_input: bool = True) -> dict[str, Any]:
    return {
        "name": row["name"],
        "instanceId": row["instance_id"],
        "runtimeStatus": row["status"],
        "input": loads(row["input"]) if show_input else None,
        "customStatus": loads(row["custom_status"]),
        "output": loads(row["output"]),
        "createdTime": row["created_time"],
        "lastUpdatedTime": row["last_updated_time"],
    }


def public_history(events: list[Event], show_output: bool) -> list[dict[str, Any]]:
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
                item[key] = loads(item[key])
        out.append(item)
    return out


def time_filter(value: datetime | str | None) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return R.format_time(value if value.tzinfo else value.replace(tzinfo=UTC))
    return R.format_time(R.parse_time(value))
