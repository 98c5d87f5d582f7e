"""Ledger facts of intake: requests and events that were refused or ignored, with why."""

from __future__ import annotations

import logging
from typing import ClassVar, Literal

from core.kernel.fact import Fact, LedgerKind

log = logging.getLogger("core.run.facts")


# --------------------------------------------------------------------------- inputs that start nothing


class RequestIgnored(Fact):
    """A retrain request seen before (same dedupe key), kept under the model's coordinator."""

    ledger_kind: ClassVar[LedgerKind] = "request"
    kind: Literal["request_ignored"] = "request_ignored"
    ignored: Literal["duplicate"] = "duplicate"
    dedupe_key: str
    source: str


class EventIgnored(Fact):
    """An input that starts nothing (resolved alert, unmapped or invalid event, foreign URL)."""

    ledger_kind: ClassVar[LedgerKind] = "event"
    kind: Literal["event_ignored"] = "event_ignored"
    ignored: str  # why, in words
    event_id: str | None = None
    error: str | None = None
    container: str | None = None
    path: str | None = None
    api: str | None = None
    url: str | None = None
    alert_id: str | None = None
    alert_rule: str | None = None
    condition: str | None = None
    run_id: str | None = None
    run_status: str | None = None
    experiment: str | None = None
