"""A run's rules are the policy (and data contract) recorded when it started; the coordinator's
claim is safe to run twice. Fakes behind the ports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.intake.payloads import ClaimInput, LifecycleInput
from core.kernel.policy import StaticPolicies, load_policy
from core.kernel.ports import RetrainRequest
from core.run.payloads import StartInput
from core.run.runs import claim_for_run, run_rules, start_run
from tests.fakes import FakeRunLedger

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2025, 3, 1, tzinfo=UTC)
POLICY = load_policy(ROOT / "samples" / "churn" / "policy.yaml")


def _stricter(gain: float):
    return POLICY.model_copy(
        update={"evaluation": POLICY.evaluation.model_copy(update={"min_abs_gain": gain})}
    )


def _start(ledger: FakeRunLedger, policies: StaticPolicies, run_id: str = "r1"):
    req = StartInput(run_id=run_id, trigger=LifecycleInput(model="churn"), started_at=T0)
    return start_run(ledger, policies, req, code_version="c0")


def test_a_run_follows_the_policy_recorded_at_its_start_not_the_live_one():
    ledger, live = FakeRunLedger(), {"churn": POLICY}
    plan = _start(ledger, StaticPolicies(live))
    live["churn"] = _stricter(0.5)
    rules = run_rules(ledger, "r1")
    assert rules.policy.evaluation.min_abs_gain == 0.02 and rules.policy.hash == plan.policy_hash
    assert rules.contract.label == "churned"
    # relative paths of the snapshot still resolve where the policy lived
    assert rules.policy.path(rules.policy.training.job) == ROOT / "samples" / "churn" / "jobs" / "train.yml"


def test_a_retried_start_answers_with_the_rules_it_recorded_first():
    ledger, live = FakeRunLedger(), {"churn": POLICY}
    first = _start(ledger, StaticPolicies(live))
    live["churn"] = _stricter(0.5)
    again = _start(ledger, StaticPolicies(live))
    assert again == first
    assert _start(ledger, StaticPolicies(live), "r2").policy_hash != first.policy_hash


def test_a_run_without_a_record_has_no_rules_to_follow():
    with pytest.raises(LookupError, match="no ledger record"):
        run_rules(FakeRunLedger(), "missing")


def _request(n: int, minutes_ago: int = 10) -> RetrainRequest:
    return RetrainRequest(f"q{n}", "churn", "blob", f"k{n}", T0 - timedelta(minutes=minutes_ago))


def _claim(ledger: FakeRunLedger, policy=POLICY, *, dry_run: bool = False):
    inp = ClaimInput(model="churn", run_id="churn-1", now=T0, coordinator="coordinator-churn")
    return claim_for_run(ledger, policy, inp, dry_run=dry_run, dry_run_seconds=3)


def test_a_claim_consumes_every_pending_request_and_a_retried_claim_gives_the_same_answer():
    ledger = FakeRunLedger()
    for n in (1, 2):
        ledger.add_request(_request(n))
    first = _claim(ledger)
    assert first.run_id == "churn-1" and first.consumed == ["q1", "q2"]
    assert first.lifecycle is not None and first.lifecycle.request_ids == ["q1", "q2"]
    again = _claim(ledger)
    assert again.consumed == first.consumed and again.reasons == ["claimed before (activity retried)"]
    assert ledger.pending_requests("churn") == []


def test_a_spent_budget_holds_the_requests_and_records_why_under_the_coordinator():
    ledger = FakeRunLedger()
    ledger.add_request(_request(1))
    closed = POLICY.model_copy(
        update={"budget": POLICY.budget.model_copy(update={"max_trainings_per_day": 0})}
    )
    out = _claim(ledger, closed)
    assert out.run_id is None and out.held == ["q1"] and "disabled" in (out.held_reason or "")
    [entry] = ledger.entries("coordinator-churn", "request")
    assert entry.data["held"] == ["q1"]


def test_a_dry_run_claim_names_the_dry_run_orchestrator_and_its_length():
    ledger = FakeRunLedger()
    ledger.add_request(_request(1))
    out = _claim(ledger, dry_run=True)
    assert out.orchestrator == "lifecycle_dry_run" and out.dry_run_seconds == 3
