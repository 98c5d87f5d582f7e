"""The base of every ledger fact (the union of all kinds is assembled in core/run/facts.py)."""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger("core.run.facts")

LedgerKind = Literal["step", "traffic", "gate", "decision", "error", "event", "request", "monitor"]


class Fact(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    ledger_kind: ClassVar[LedgerKind]
    # Which recording this is, the same on every replay of the orchestration that records it
    # (`{instance id}:{n}`): an activity that runs again after a crash (activities run at least
    # once) finds the fact recorded and appends nothing. None: not deduplicated.
    fact_id: str | None = None

    def dump(self) -> dict[str, Any]:
        # top level only: a null inside a value means something (no champion, no blue)
        return {k: v for k, v in self.model_dump(mode="json").items() if v is not None}


class SplitView(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    traffic: dict[str, int]
    mirror: dict[str, int] = Field(default_factory=dict)
