"""Ledger facts of releasing a model to another environment: shared to the registry, deploy requested."""

from __future__ import annotations

import logging
from typing import ClassVar, Literal

from core.kernel.fact import Fact, LedgerKind

log = logging.getLogger("core.run.facts")


class ModelShared(Fact):
    """Dev copied the new champion into the shared registry (or could not: `error`); the
    `promoted` event carries the registry version so another environment can deploy it."""

    ledger_kind: ClassVar[LedgerKind] = "decision"
    kind: Literal["model_shared"] = "model_shared"
    registry: str
    version: str  # this environment's version that was shared
    registry_model: str | None = None
    registry_version: str | None = None
    error: str | None = None


class DeployRequested(Fact):
    """A deploy lifecycle's origin: the `promoted` CloudEvent another environment published and
    the exact registry version it names (what this run deploys)."""

    ledger_kind: ClassVar[LedgerKind] = "event"
    kind: Literal["deploy_requested"] = "deploy_requested"
    event_id: str
    event_source: str
    registry: str
    registry_model: str
    registry_version: str
    source_uri: str | None = None
