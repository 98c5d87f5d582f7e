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


class ScoreReferenceSet(Fact):
    """The champion's score reference (recorded under the monitor's ledger id, once per champion
    version): the bins of the scores it gave in the first check window holding `min_rows` of its
    rows. Its training data holds no scores, so the score is judged against the champion's own
    first live window, as Azure ML's prediction drift signal may take past production data as its
    reference. Later checks, also after a restart, read it from the ledger."""

    ledger_kind: ClassVar[LedgerKind] = "monitor"
    kind: Literal["score_reference_set"] = "score_reference_set"
    model: str
    version: str  # the champion's registry version
    check_id: str
    window_start: datetime
    window_end: datetime
    rows: int
    counts: list[int]
    edges: list[float]
