"""Ledger facts: each is stored as plain JSON under its ledger kind and read back as the same fact."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from core.intake.facts import EventIgnored, RequestIgnored
from core.kernel.fact import SplitView
from core.rollout.evidence_plan import plan_evidence
from core.rollout.facts import (
    ApprovalAnswered,
    EvidencePlanned,
    GateEvaluated,
    Promoted,
    RolledBack,
    SmokeTested,
    TrafficChanged,
)
from core.rollout.traffic_gate import GateVerdict
from core.run.facts import OperatorActed, RunAborted, RunFailed, StepEntered, read_fact
from core.training.facts import DataRejected, EvaluationDecided
from core.training.verdict import judge_challenger

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DECISION = judge_challenger(metric="auc", direction="max", challenger=0.8, champion=None)
FACTS = [
    (StepEntered(stage="train", job="j", data_version="dv-1", rows_in=10), "step"),
    (SmokeTested(ok=False, rows=0, error="boom"), "step"),
    (TrafficChanged(reason="advance", traffic={"blue": 90, "green": 10}, at=T0), "traffic"),
    (EvaluationDecided.of(DECISION), "decision"),
    (DataRejected(report=None, failures=["x"], rows_in=1, rows_out=0, train_rows=0, eval_rows=0), "decision"),
    (RunAborted(stage="train", job="j", reason="aborted by operator", abort={"by": "ana"}), "decision"),
    (ApprovalAnswered(answer="timeout"), "decision"),
    (
        EvidencePlanned.of(
            plan_evidence(
                "labels",
                expected=900,
                budget=1800,
                have=40,
                rate=0.5,
                elapsed=60,
                policy_seconds=600,
                extend=True,
            ),
            "ramp",
            phase=1,
        ),
        "decision",
    ),
    (
        RolledBack(stage="ramp", reason="gate", restored=SplitView(traffic={"blue": 100}), deleted="green"),
        "decision",
    ),
    (Promoted(deployment="green", retired=None, version="2", traffic={"green": 100}), "decision"),
    (OperatorActed(operator="approve", by="ana", to=["r", "r-rollout"]), "decision"),
    (RunFailed(stage="evaluate", error="RuntimeError: x"), "error"),
    (RequestIgnored(dedupe_key="k", source="blob"), "request"),
    (EventIgnored(ignored="alert resolved", alert_id="a1"), "event"),
]


@pytest.mark.parametrize(("fact", "ledger_kind"), FACTS, ids=[type(f).__name__ for f, _ in FACTS])
def test_a_fact_stored_as_json_reads_back_as_the_same_fact(fact, ledger_kind):
    assert fact.ledger_kind == ledger_kind
    assert read_fact(fact.dump()) == fact


def test_a_gate_evaluation_keeps_every_number_of_the_verdict():
    verdict = GateVerdict(
        verdict="need_more_data",
        reasons=["green has 3 requests, needs 200"],
        endpoint="churn-endpoint",
        green="green",
        blue="blue",
        window_start="2026-01-01T00:00:00+00:00",
        window_end="2026-01-01T00:01:00+00:00",
        ingested_until=None,
        green_requests=3,
        blue_requests=40,
        min_samples=200,
        query="AmlOnlineEndpointTrafficLog | where ...",
    )
    fact = GateEvaluated.of(2, 50, verdict)
    stored = fact.dump()
    assert stored["ingested_until"] is None and stored["percent"] == 50 and stored["query"]
    assert read_fact(stored) == fact


def test_the_evaluation_decision_is_stored_flat_with_its_verdict():
    stored = EvaluationDecided.of(DECISION).dump()
    assert stored["verdict"] == "promote" and stored["stage"] == "evaluate" and stored["champion"] is None


def test_an_untyped_entry_reads_as_no_fact():
    assert read_fact({"step": 10, "started_at": "t0"}) is None
    assert read_fact({"kind": "step_entered", "stage": "sideways"}) is None


def test_a_fact_refuses_a_field_it_does_not_have():
    with pytest.raises(ValidationError):
        StepEntered(stage="train", jbo="typo")  # type: ignore[call-arg]
