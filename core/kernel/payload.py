"""Payload contracts: one frozen pydantic model per activity input and output, one module per area.

Orchestrators send `payload.model_dump(mode="json")` to call_activity; activities validate what
they receive with `Model.model_validate(raw)` and return `.model_dump(mode="json")`. Durable
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
