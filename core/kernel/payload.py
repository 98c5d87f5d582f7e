"""Payload contracts: one frozen pydantic model per activity input and output, one module per area.

Each activity's input and output types travel with its name in an `Activity` reference
(core/kernel/activity.py): orchestrators send `payload.dump()` and read the result with the output
type, activities validate what they receive with the input type and return `.dump()`. Durable
history stores JSON, so everything here must round-trip through JSON unchanged.
"""

from pydantic import BaseModel, ConfigDict


class Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def dump(self) -> dict:
        return self.model_dump(mode="json")


class BlobRef(Payload):
    container: str
    path: str
    etag: str | None = None
