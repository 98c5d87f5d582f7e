"""The app's durable functions by name: orchestrators the engine replays, activities its workers run."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class Orchestrator:
    name: str
    fn: Callable[..., Any]
    input_type: Any


@dataclass
class Activity:
    name: str
    fn: Callable[..., Any]
    param: str
    is_async: bool
    client_params: list[str]


class FunctionRegistry:
    """Looked up case-insensitively, as the Functions host does."""

    def __init__(self, functions: Sequence[Any]) -> None:
        self.orchestrators: dict[str, Orchestrator] = {}
        self.activities: dict[str, Activity] = {}
        self.entities: list[str] = []
        for f in functions:
            self._register(f)

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
            self.orchestrators[name] = Orchestrator(name, fn, getattr(user, "_df_input_type", None))
        elif kind == "activityTrigger":
            # A durable client binding is already wrapped by the SDK: it takes the binding JSON.
            clients = [b.name for b in f.get_bindings() if getattr(b, "type", None) == "durableClient"]
            activity = Activity(name, user, trigger.name, inspect.iscoroutinefunction(user), clients)
            self.activities[name] = activity
            alias = getattr(trigger, "activity", None)
            if alias and alias not in self.activities:
                self.activities[alias] = activity
        elif kind == "entityTrigger":
            self.entities.append(name)

    def orchestrator(self, name: str) -> Orchestrator | None:
        return _lookup(self.orchestrators, name)

    def activity(self, name: str) -> Activity | None:
        return _lookup(self.activities, name)


def _lookup(table: dict[str, T], name: str) -> T | None:
    found = table.get(name)
    if found is None:
        folded = name.lower()
        for key, value in table.items():
            if key.lower() == folded:
                return value
    return found
