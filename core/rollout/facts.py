"""Ledger facts of a rollout: smoke, traffic changes, every gate evaluation, approvals, roll back, promote."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field

from core.kernel.fact import Fact, LedgerKind, SplitView
from core.kernel.run_state import Stage
from core.rollout.evidence_plan import EvidencePlan
from core.rollout.verdicts import GateVerdict, MetricTest, OnlineAccuracyVerdict, ShadowTest, ShadowVerdict

log = logging.getLogger("core.run.facts")


class SmokeTested(Fact):
    ledger_kind: ClassVar[LedgerKind] = "step"
    kind: Literal["smoke_tested"] = "smoke_tested"
    stage: Literal["smoke"] = "smoke"
    ok: bool
    rows: int
    error: str = ""


class TrafficChanged(Fact):
    ledger_kind: ClassVar[LedgerKind] = "traffic"
    kind: Literal["traffic_changed"] = "traffic_changed"
    reason: str
    traffic: dict[str, int]
    mirror: dict[str, int] = Field(default_factory=dict)
    at: datetime


class GateFact(Fact):
    """What every gate evaluation records: the phase judged, the verdict with its reasons, and the
    deployments and window compared (each gate kind adds its own numbers)."""

    ledger_kind: ClassVar[LedgerKind] = "gate"
    phase: int
    percent: int
    verdict: Literal["pass", "fail", "need_more_data", "unavailable"]
    reasons: list[str]
    endpoint: str
    green: str
    blue: str | None = None
    window_start: str
    window_end: str


class GateEvaluated(GateFact):
    """Every number of one gate evaluation (core.rollout.traffic_gate.GateVerdict) and the phase it judged."""

    kind: Literal["gate_evaluated"] = "gate_evaluated"
    ingested_until: str | None = None
    green_requests: int
    blue_requests: int
    min_samples: int
    tests: list[MetricTest] = Field(default_factory=list)
    slo: dict[str, Any] = Field(default_factory=dict)
    alpha: float = 0.0
    query: str = ""

    @classmethod
    def of(cls, phase: int, percent: int, verdict: GateVerdict) -> GateEvaluated:
        return cls.model_validate({"phase": phase, "percent": percent, **verdict.to_record()})

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")  # nulls are numbers here (no blue, nothing ingested)


class ShadowGateEvaluated(GateFact):
    """One shadow gate evaluation (core.rollout.shadow_gate.ShadowVerdict): green's answers vs blue's on
    the same requests of the phase's window; each test has n, statistic, threshold and outcome."""

    kind: Literal["shadow_gate_evaluated"] = "shadow_gate_evaluated"
    gate: Literal["shadow"] = "shadow"
    ingested_until: str | None = None
    pairs: int
    min_pairs: int
    alpha: float
    beta: float
    blocking: bool = True  # False: only a fail counts (a live step where Azure ML cannot pair)
    tests: list[ShadowTest] = Field(default_factory=list)

    @classmethod
    def of(
        cls,
        phase: int,
        percent: int,
        endpoint: str,
        verdict: ShadowVerdict,
        ingested_until: str | None,
        blocking: bool,
    ) -> ShadowGateEvaluated:
        record = verdict.to_record()
        return cls.model_validate(
            {
                **record,
                "phase": phase,
                "percent": percent,
                "endpoint": endpoint,
                "ingested_until": ingested_until,
                "blocking": blocking,
            }
        )

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class OnlineAccuracyEvaluated(GateFact):
    """One online accuracy evaluation (core.rollout.accuracy_gate.OnlineAccuracyVerdict): green's live
    metric on delayed labels vs blue's over the same period, with the labels read."""

    kind: Literal["online_accuracy_evaluated"] = "online_accuracy_evaluated"
    gate: Literal["online_accuracy"] = "online_accuracy"
    labels: str  # container/prefix read
    label_files: int
    label_rows: int
    # what a hostile or broken label file cost: skipped, counted and named, never fatal to the gate
    label_files_skipped: int = 0
    label_rows_skipped: int = 0
    label_problems: list[str] = Field(default_factory=list)
    metric: str
    green_labelled: int
    blue_labelled: int
    green_value: float | None
    blue_value: float | None
    difference: float | None
    variance: float | None
    margin: float
    alpha: float
    beta: float
    fail_e_value: float | None
    fail_threshold: float
    pass_e_value: float | None
    pass_threshold: float
    min_labels: int
    labels_until: str | None = None
    action: str | None = None  # (older records) what the rollout did with it; now the ramp's move
    details: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(
        cls, phase: int, percent: int, verdict: OnlineAccuracyVerdict, **context: Any
    ) -> OnlineAccuracyEvaluated:
        return cls.model_validate({**verdict.to_record(), "phase": phase, "percent": percent, **context})

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class EvidencePlanned(Fact):
    """The plan for a gate's evidence (core.rollout.evidence_plan): labels or mirrored pairs an equal
    green needs, the rate seen, and the deadline the step gets. Recorded before the ramp starts
    (no rate yet: the policy's deadlines apply) and when an observed rate shows a policy deadline
    cannot be met (`short`, with the deadline the plan extends it to)."""

    ledger_kind: ClassVar[LedgerKind] = "decision"
    kind: Literal["evidence_planned"] = "evidence_planned"
    stage: Stage
    gate: Literal["online_accuracy", "shadow"]
    phase: int | None = None  # the phase it was planned in; None: before the ramp
    outlook: Literal["meets", "short", "no_rate"]
    expected: int  # an equal green passes at about this many (median)
    budget: int  # ... with 95% confidence
    have: int = 0
    rate_per_second: float | None = None
    policy_seconds: int  # the policy's label wait / step deadline
    budget_seconds: int | None = None  # from the step's start, at the rate
    deadline_seconds: int  # the deadline the step gets
    reason: str

    @classmethod
    def of(cls, plan: EvidencePlan, stage: Stage, phase: int | None = None) -> EvidencePlanned:
        return cls(
            stage=stage,
            gate="online_accuracy" if plan.kind == "labels" else "shadow",
            phase=phase,
            outlook=plan.outlook,
            expected=plan.expected,
            budget=plan.budget,
            have=plan.have,
            rate_per_second=plan.rate,
            policy_seconds=plan.policy_seconds,
            budget_seconds=plan.budget_seconds,
            deadline_seconds=plan.deadline_seconds,
            reason=plan.words,
        )


class ApprovalAsked(Fact):
    ledger_kind: ClassVar[LedgerKind] = "step"
    kind: Literal["approval_asked"] = "approval_asked"
    stage: Literal["approval"] = "approval"
    reason: str


class ApprovalAnswered(Fact):
    ledger_kind: ClassVar[LedgerKind] = "decision"
    kind: Literal["approval_answered"] = "approval_answered"
    stage: Literal["approval"] = "approval"
    answer: str  # approve | reject | timeout | abort | rollback


class RolledBack(Fact):
    ledger_kind: ClassVar[LedgerKind] = "decision"
    kind: Literal["rolled_back"] = "rolled_back"
    verdict: Literal["rollback"] = "rollback"
    stage: Stage
    reason: str
    restored: SplitView
    deleted: str


class Promoted(Fact):
    ledger_kind: ClassVar[LedgerKind] = "decision"
    kind: Literal["promoted"] = "promoted"
    verdict: Literal["promote"] = "promote"
    deployment: str
    retired: str | None = None
    version: str
    traffic: dict[str, int]
    mirror: dict[str, int] = Field(default_factory=dict)

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")  # retired None: the first model of the endpoint


class LabelsArrived(Fact):
    """A ground-truth file landed under a policy's labels prefix: it feeds the online accuracy gate
    of the model's running rollout (read at its next evaluation) and starts no retraining."""

    ledger_kind: ClassVar[LedgerKind] = "event"
    kind: Literal["labels_arrived"] = "labels_arrived"
    event_id: str
    container: str
    path: str
    url: str | None = None
    content_length: int | None = None
