"""Ledger facts of the drift monitor: every evaluation, with its per-column numbers."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from core.kernel.fact import Fact, LedgerKind

DriftVerdictKind = Literal["drift", "no_drift", "need_more_data", "cooling_down"]


class ColumnFigures(BaseModel):
    """One watched column in one check: what the console plots against its thresholds."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    column: str
    rows: int
    psi: float
    statistic: float
    p_value: float
    level: float
    min_psi: float
    drifted: bool


class DriftEvaluated(Fact):
    """One check of one model's drift monitor (recorded under the monitor's ledger id,
    core.monitoring.monitor.ledger_id), whatever its verdict."""

    ledger_kind: ClassVar[LedgerKind] = "monitor"
    kind: Literal["drift_evaluated"] = "drift_evaluated"
    model: str
    check_id: str  # one per scheduled occurrence: a doubled tick checks once
    verdict: DriftVerdictKind
    reasons: list[str]
    alert: bool
    window_start: datetime
    window_end: datetime
    rows: int
    level: float
    reference_version: str  # the champion's version whose training data is the reference
    reference_data: str  # that training data's version
    columns: list[ColumnFigures]
