"""The activities blueprint, and how an activity class is registered on it.

An activity is a method of a class built with its ports (tests build it with fakes), marked with the
reference it implements: `@implements(INGEST)` on `def ingest(self, req: IngestInput) -> IngestResult`
(mypy checks the method against the reference's types). `serve(LifecycleActivities)` registers one
Durable activity per marked method under the reference's name, and that function only parses the
payload with the input type, calls the method on an instance built with `wiring.ports()`, and
serialises the declared output: the name string exists once, in core, beside the payloads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import azure.durable_functions as df

import wiring
from core.kernel.activity import Activity, InT, OutT
from wiring import Ports

bp = df.Blueprint()

S = TypeVar("S")
Method = Callable[[S, InT], OutT]
_MARK = "__activity__"


def implements(ref: Activity[InT, OutT]) -> Callable[[Method[S, InT, OutT]], Method[S, InT, OutT]]:
    """Mark a method as the body of the activity `ref` (registered by `serve`)."""

    def mark(method: Method[S, InT, OutT]) -> Method[S, InT, OutT]:
        setattr(method, _MARK, ref)
        return method

    return mark


def serve(cls: Callable[[Ports], S], on: df.Blueprint = bp) -> dict[str, Any]:
    """Register every `@implements` method of `cls` on the blueprint; -> {activity name: function}.

    The instance is built per call with `wiring.ports()` (built once and cached there), so a test's
    `wiring.override(...)` reaches it."""
    marked = [(getattr(m, _MARK), m) for m in vars(cls).values() if hasattr(m, _MARK)]
    if not marked:
        raise TypeError(f"{getattr(cls, '__name__', cls)} has no @implements method to serve")
    return {ref.name: _register(on, ref, cls, method) for ref, method in marked}


def _register(
    on: df.Blueprint, ref: Activity[Any, Any], cls: Callable[[Ports], S], method: Method[S, Any, Any]
) -> Any:
    def activity(payload: dict) -> dict:
        req = ref.input.model_validate(payload)  # a bad payload fails before any port is built
        result = method(cls(wiring.ports()), req)
        if not isinstance(result, ref.output):
            raise TypeError(
                f"activity {ref.name} must return {ref.output.__name__}, not {type(result).__name__}"
            )
        return result.dump()

    # the Functions host names a function after its Python name: the reference's name, as called
    activity.__name__ = activity.__qualname__ = ref.name
    activity.__doc__ = method.__doc__
    return on.activity_trigger(input_name="payload")(activity)
