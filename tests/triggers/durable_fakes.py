"""A fake durable orchestration client with the SDK client's error behaviour, and helpers to
call a decorated function's own code the way the worker does (rich client already built)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any


class Runtime(Enum):
    Running = "Running"
    Pending = "Pending"
    Completed = "Completed"
    Failed = "Failed"
    Terminated = "Terminated"


@dataclass
class FakeInstance:
    name: str
    input: Any
    runtime: Runtime = Runtime.Running
    events: list[tuple[str, Any]] = field(default_factory=list)
    custom_status: Any = None
    created: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class FakeStatus:
    runtime_status: Runtime | None
    custom_status: Any = None
    created_time: datetime | None = None
    last_updated_time: datetime | None = None

    def __bool__(self) -> bool:
        return self.created_time is not None


class FakeDurableClient:
    """Instances by id; `starts` and `events` record every call that changed state. Like Durable
    Functions 2.x, start_new refuses an id whose instance is running, and raise_event answers
    404 for an unknown instance and 410 for a finished one (the SDK raises both as Exception)."""

    def __init__(self) -> None:
        self.instances: dict[str, FakeInstance] = {}
        self.starts: list[tuple[str, str, Any]] = []
        self.raised: list[tuple[str, str, Any]] = []
        self._ids = itertools.count(1)

    async def start_new(self, name: str, instance_id: str | None = None, client_input: Any = None) -> str:
        instance_id = instance_id or f"auto-{next(self._ids)}"
        current = self.instances.get(instance_id)
        if current is not None and current.runtime in (Runtime.Running, Runtime.Pending):
            raise Exception(f"An instance with ID '{instance_id}' already exists.")
        self.instances[instance_id] = FakeInstance(name, client_input)
        self.starts.append((name, instance_id, client_input))
        return instance_id

    async def raise_event(self, instance_id: str, event_name: str, event_data: Any = None) -> None:
        current = self.instances.get(instance_id)
        if current is None:
            raise Exception(f"No instance with ID {instance_id} found.")
        if current.runtime not in (Runtime.Running, Runtime.Pending):
            raise Exception(f"Instance with ID {instance_id} is gone: either completed or failed")
        current.events.append((event_name, event_data))
        self.raised.append((instance_id, event_name, event_data))

    async def get_status(self, instance_id: str) -> FakeStatus:
        current = self.instances.get(instance_id)
        if current is None:
            return FakeStatus(None)
        return FakeStatus(current.runtime, current.custom_status, current.created, current.created)

    def started(self, name: str) -> list[str]:
        return [i for n, i, _ in self.starts if n == name]


def user_function(builder: Any) -> Any:
    """The code under a Functions decorator, without the durable-client middleware."""
    fn = builder._function.get_user_function()
    return getattr(fn, "__wrapped__", fn)
