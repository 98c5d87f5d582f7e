"""Ledger facts of the batch slice: deployments, smoke, the default, scoring runs."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.kernel.fact import Fact, LedgerKind

log = logging.getLogger("core.run.facts")


# --------------------------------------------------------------------------- batch scoring


class BatchDeploymentReady(Fact):
    """batch_deploy: the champion's batch deployment was created (or found) and its state."""

    ledger_kind: ClassVar[LedgerKind] = "step"
    kind: Literal["batch_deployment_ready"] = "batch_deployment_ready"
    endpoint: str
    deployment: str
    version: str
    state: str
    message: str = ""


class BatchSmokeTested(Fact):
    ledger_kind: ClassVar[LedgerKind] = "step"
    kind: Literal["batch_smoke_tested"] = "batch_smoke_tested"
    deployment: str
    job: str | None = None
    passed: bool
    expected_rows: int
    scored_rows: int
    reasons: list[str] = Field(default_factory=list)


class BatchDefaultDecided(Fact):
    """core.batch.rules.choose_default's verdict (or restore_default's, after an online rollback)."""

    ledger_kind: ClassVar[LedgerKind] = "decision"
    kind: Literal["batch_default_decided"] = "batch_default_decided"
    verdict: Literal["switch", "keep", "restore"]
    endpoint: str
    candidate: str
    default: str | None
    previous_default: str | None
    reasons: list[str] = Field(default_factory=list)
    pruned: list[str] = Field(default_factory=list)

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")  # a None default means "the endpoint has none"


class BatchDeployFailed(Fact):
    """batch_deploy failed; the online rollout's outcome stands (it ended before batch began)."""

    ledger_kind: ClassVar[LedgerKind] = "error"
    kind: Literal["batch_deploy_failed"] = "batch_deploy_failed"
    error: str


class BatchScoringStarted(Fact):
    ledger_kind: ClassVar[LedgerKind] = "step"
    kind: Literal["batch_scoring_started"] = "batch_scoring_started"
    run_id: str
    model: str
    source: str
    request_id: str
    blobs: list[str] = Field(default_factory=list)
    endpoint: str
    default: str | None = None
    ab: list[str] = Field(default_factory=list)  # the arms' deployments when the run splits rows


class BatchArm(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    arm: str
    deployment: str
    model_version: str = ""
    job: str
    state: str
    rows: int = 0
    uri: str | None = None
    message: str = ""


class BatchScored(Fact):
    """How a scoring run ended: scored (predictions written), rejected (input quarantined) or failed."""

    ledger_kind: ClassVar[LedgerKind] = "decision"
    kind: Literal["batch_scored"] = "batch_scored"
    run_id: str
    model: str
    status: Literal["scored", "rejected", "failed"]
    rows_in: int = 0
    rows_scored: int = 0
    arms: list[BatchArm] = Field(default_factory=list)
    predictions: str | None = None  # the run's predictions folder
    report: str | None = None  # the quarantine report (rejected)
    reasons: list[str] = Field(default_factory=list)
    started_at: datetime | None = None
    ended_at: datetime | None = None
