"""Activity references: an activity's Durable name together with its input and output payload types.

Each slice declares its activities beside its payloads, e.g.
`INGEST = Activity("lifecycle_ingest", IngestInput, IngestResult)`. The name string exists there
and nowhere else: an orchestrator calls the reference (`yield from run.call(INGEST, IngestInput(...))`
returns an `IngestResult`, so mypy and an editor follow every call), and the activity side registers
its method under the reference (`activities/blueprint.py`), validating what comes in and goes out with
the same types. Temporal's `workflow.execute_activity_method(MyActivities.do_thing, ...)` is the model.

Durable history stores the name and the JSON: a name here must never change while instances that
called it may still replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from core.kernel.payload import Payload

InT = TypeVar("InT", bound=Payload)
OutT = TypeVar("OutT", bound=Payload)


@dataclass(frozen=True)
class Activity(Generic[InT, OutT]):
    """One activity: the name it is registered and called under, what it takes, what it returns."""

    name: str
    input: type[InT]
    output: type[OutT]

    def request(self, payload: InT) -> dict[str, Any]:
        """The JSON an orchestrator sends; a payload of the wrong type is a bug, refused here."""
        if not isinstance(payload, self.input):
            raise TypeError(f"activity {self.name} takes {self.input.__name__}, not {type(payload).__name__}")
        return payload.dump()

    def result(self, raw: Any) -> OutT:
        """The activity's JSON result (fresh, or from history on replay) as its declared type."""
        return self.output.model_validate(raw)
