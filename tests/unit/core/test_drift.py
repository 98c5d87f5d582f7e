"""The drift monitor: live inputs against the champion's training data, with a false-alarm budget
kept across columns and repeated checks, a verdict with reasons and per-column numbers."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from core.kernel.policy import MonitoringPolicy, PolicyError, parse_policy
from core.monitoring.drift import (
    OTHER,
    DriftConfig,
    checks_per_30_days,
    fixed_psi_alarm,
    judge_drift,
    measure_window,
    reference_for,
    references_for,
    window_start,
)
from core.monitoring.facts import DriftEvaluated
from core.run.facts import read_fact

PLANS = ["basic", "plus", "pro"]
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def customers(rng: np.random.Generator, n: int, charges_shift: float = 0.0, pro_share: float = 0.2):
    plans = rng.choice(PLANS, n, p=[0.8 - pro_share, 0.2, pro_share])
    return {
        "monthly_charges": rng.normal(70.0, 20.0, n) + charges_shift,
        "age": rng.integers(18, 90, n),
        "plan": plans,
    }


@pytest.fixture(scope="module")
def references():
    return references_for(customers(np.random.default_rng(0), 5000), bins=10)


def config(**changes) -> DriftConfig:
    return DriftConfig(**{"checks_per_30_days": 720, "columns": 3, **changes})


def test_numeric_columns_are_binned_on_the_references_quantiles_and_categories_by_value(references):
    charges, plan = references["monthly_charges"], references["plan"]
    assert charges.kind == "numeric" and len(charges.counts) == 10
    assert max(charges.counts) - min(charges.counts) <= 2  # equal-share bins
    assert plan.kind == "category" and plan.categories == ("basic", "plus", "pro", OTHER)


def test_a_live_category_the_reference_never_saw_lands_in_the_other_bin(references):
    counts = references["plan"].bin_counts(["basic", "enterprise", "enterprise", "pro"])
    assert counts.tolist() == [1, 0, 1, 2]


def test_a_moderate_shift_on_one_feature_alerts_and_names_that_feature_with_its_numbers(references):
    # +6 on a feature whose spread is 20: PSI about 0.1
    window = customers(np.random.default_rng(1), 400, charges_shift=6.0)
    verdict = judge_drift(measure_window(references, window), config())
    assert verdict.verdict == "drift" and verdict.alert
    assert verdict.drifted == ("monthly_charges",)
    charges = next(c for c in verdict.columns if c.column == "monthly_charges")
    assert charges.psi >= 0.05 and charges.p_value < verdict.level and charges.rows == 400
    assert any("monthly_charges drifted" in r and "PSI" in r for r in verdict.reasons)


def test_a_shift_in_the_mix_of_a_category_is_seen(references):
    window = customers(np.random.default_rng(2), 500, pro_share=0.45)
    verdict = judge_drift(measure_window(references, window), config())
    assert verdict.drifted == ("plan",)


def test_stationary_checks_stay_within_the_false_alarm_budget_across_columns_and_checks(references):
    # a generous budget (30 per 30 days) makes the level large enough to measure in 720 checks
    rules = config(false_alarms_per_30_days=30.0, min_psi=0.0, min_rows=50)
    rng = np.random.default_rng(3)
    alarms = sum(
        judge_drift(measure_window(references, customers(rng, int(rng.integers(60, 600)))), rules).alert
        for _ in range(720)
    )
    assert rules.level == pytest.approx(30 / (720 * 3))
    assert alarms <= 30 + 3 * np.sqrt(30)  # expected at most 30; Poisson spread


def test_the_fixed_psi_threshold_raises_false_alarms_on_quiet_night_windows_where_ours_stays_quiet(
    references,
):
    rng = np.random.default_rng(4)
    nights = [measure_window(references, customers(rng, 40)) for _ in range(200)]
    assert sum(fixed_psi_alarm(f, 0.2) for f in nights) >= 20
    assert not any(judge_drift(f, config(min_rows=40)).alert for f in nights)


def test_a_certain_but_negligible_drift_does_not_alert(references):
    window = customers(np.random.default_rng(5), 200_000, charges_shift=3.0)  # PSI about 0.02
    verdict = judge_drift(measure_window(references, window), config())
    charges = next(c for c in verdict.columns if c.column == "monthly_charges")
    assert charges.p_value < verdict.level and charges.psi < 0.05
    assert verdict.verdict == "no_drift" and not verdict.alert


def test_too_few_rows_is_need_more_data_never_no_drift(references):
    window = customers(np.random.default_rng(6), 150, charges_shift=30.0)
    verdict = judge_drift(measure_window(references, window), config(min_rows=200))
    assert verdict.verdict == "need_more_data" and not verdict.alert
    assert "150 rows" in verdict.reasons[0]


def test_drift_seen_within_the_cooldown_of_the_last_alert_does_not_alert_again(references):
    figures = measure_window(references, customers(np.random.default_rng(7), 400, charges_shift=10.0))
    rules = config(cooldown_seconds=86400)
    cooling = judge_drift(figures, rules, now=NOW, last_alert_at=NOW - timedelta(hours=3))
    assert cooling.verdict == "cooling_down" and not cooling.alert and cooling.drifted
    later = judge_drift(figures, rules, now=NOW, last_alert_at=NOW - timedelta(days=2))
    assert later.alert


def test_the_window_reaches_back_for_rows_on_a_quiet_night_but_never_past_its_limit():
    end = 10 * 3600.0
    busy = np.linspace(end - 3600, end - 1, 500)
    assert window_start(busy, end, 3600, 6 * 3600, 200) == end - 3600
    quiet = np.arange(0, end, 60.0)  # one row a minute: 60 an hour
    assert window_start(quiet, end, 3600, 6 * 3600, 200) == quiet[-200]
    sparse = np.arange(0, end, 600.0)  # six an hour: 200 rows lie further back than 6 h
    assert window_start(sparse, end, 3600, 6 * 3600, 200) == end - 6 * 3600


def test_the_schedule_sets_how_many_checks_share_the_budget():
    assert checks_per_30_days("0 0 * * * *") == 720
    assert checks_per_30_days("0 0 3 * * *") == 30
    rules = DriftConfig.from_policy(MonitoringPolicy(), columns=9)
    assert rules.level == pytest.approx(1.0 / (720 * 9))


def test_a_numeric_reference_needs_values():
    with pytest.raises(ValueError, match="no reference values"):
        reference_for("age", [], bins=10)


MINIMAL = """
model: churn
data: {prefix: churn/, contract: contract.yaml}
training: {job: jobs/train.yml, evaluation_job: jobs/evaluate.yml, experiment: churn}
"""


def test_the_policy_monitoring_section_gets_documented_defaults():
    policy = parse_policy(textwrap.dedent(MINIMAL + "monitoring: {}\n"), Path("models/churn/policy.yaml"))
    assert policy.monitoring is not None
    assert policy.monitoring.false_alarms_per_30_days == 1.0 and policy.monitoring.schedule == "0 0 * * * *"
    assert parse_policy(textwrap.dedent(MINIMAL), Path("p.yaml")).monitoring is None


def test_a_monitoring_window_longer_than_its_limit_is_refused_with_the_fix():
    text = MINIMAL + "monitoring: {window_seconds: 7200, max_window_seconds: 3600}\n"
    with pytest.raises(PolicyError, match="max_window_seconds"):
        parse_policy(textwrap.dedent(text), Path("models/churn/policy.yaml"))


def test_every_evaluation_is_a_typed_fact_the_ledger_reads_back(references):
    verdict = judge_drift(measure_window(references, customers(np.random.default_rng(8), 300)), config())
    fact = verdict.fact(
        model="churn",
        check_id="churn:2026-03-01T12:00:00+00:00",
        window_start=NOW - timedelta(hours=1),
        window_end=NOW,
        reference_version="3",
        reference_data="sha256:abc",
    )
    again = read_fact(fact.dump())
    assert isinstance(again, DriftEvaluated) and again == fact
    assert {c.column for c in again.columns} == {"monthly_charges", "age", "plan"}
    assert DriftEvaluated.ledger_kind == "monitor"
