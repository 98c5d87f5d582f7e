"""Gates: green vs blue on the same window, with a known false-rollback rate and no pass without data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from core.kernel.ports import DeploymentStats, WindowStats
from core.rollout.traffic_gate import (
    FixedThresholdConfig,
    FixedThresholdState,
    GateConfig,
    compare_proportions,
    evaluate_fixed_threshold,
    evaluate_gate,
    min_sample_size,
    msprt_one_sided,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
END = T0 + timedelta(minutes=10)


def stats(name, n, errors, slow, p50=50.0, p95=114.0, p99=160.0):
    return DeploymentStats(name, n, errors, 0, p50, p95, p99, slow, 114.0)


def window(green, blue, ingested_until=END):
    return WindowStats("churn", T0, END, ingested_until, {"green": green, "blue": blue}, query="Q")


def over(threshold, green_n, green_over, blue_n=0, blue_over=0):
    """The same window counted above one threshold (blue's p99, or the SLO's limit)."""
    g = DeploymentStats("green", green_n, 0, 0, None, None, None, green_over, threshold)
    b = DeploymentStats("blue", blue_n, 0, 0, None, None, None, blue_over, threshold)
    return WindowStats("churn", T0, END, END, {"green": g, "blue": b})


def judge(green, blue, config=None, ingested_until=END, tail=None, over_slo=None):
    """The gate with blue's p99 splitting both deployments 99 / 1 unless `tail` says otherwise."""
    if tail is None:
        tail = over(160.0, green.requests, green.requests // 100, blue.requests, blue.requests // 100)
    return evaluate_gate(
        window(green, blue, ingested_until),
        "green",
        "blue",
        config or GateConfig(),
        tail=tail,
        over_slo=over_slo,
    )


def test_a_healthy_green_with_enough_requests_passes_and_says_why():
    v = judge(stats("green", 3000, 30, 150), stats("blue", 27000, 270, 1350))
    assert v.verdict == "pass"
    assert v.green_requests == 3000 and v.min_samples <= 3000
    assert {t.metric for t in v.tests} == {"error_rate", "slow_share", "tail_share"}
    record = v.to_record()
    assert record["query"] == "Q" and record["window_end"] == END.isoformat()
    assert record["tests"][0]["fail_threshold"] == pytest.approx(1 / (0.05 / 3))


def test_a_green_with_five_times_the_error_rate_fails_early():
    v = judge(stats("green", 300, 15, 15), stats("blue", 2700, 27, 135))
    assert v.verdict == "fail"
    assert any("error_rate" in r for r in v.reasons)


def test_a_green_slower_than_blue_fails_on_the_slow_share():
    v = judge(stats("green", 600, 6, 90), stats("blue", 5400, 54, 270))
    assert v.verdict == "fail"
    assert next(t for t in v.tests if t.metric == "slow_share").outcome == "fail"


def test_a_few_perfect_requests_are_not_enough_to_pass():
    v = judge(stats("green", 150, 0, 5), stats("blue", 1350, 14, 68))
    assert v.verdict == "need_more_data"
    assert v.min_samples > 150


@pytest.mark.parametrize(
    ("green", "blue", "ingested", "why"),
    [
        (
            stats("green", 3000, 30, 150),
            stats("blue", 27000, 270, 1350),
            END - timedelta(seconds=30),
            "lagging",
        ),
        (stats("green", 3000, 30, 150), stats("blue", 27000, 270, 1350), None, "lagging"),
        (stats("green", 0, 0, 0), stats("blue", 27000, 270, 1350), END, "no requests"),
        (stats("green", 3000, 30, 150), stats("blue", 0, 0, 0), END, "no requests"),
    ],
)
def test_missing_or_lagging_telemetry_is_never_a_pass(green, blue, ingested, why):
    v = judge(green, blue, ingested_until=ingested)
    assert v.verdict == "need_more_data"
    assert why in v.reasons[0]


def test_without_slow_counts_the_latency_test_waits_instead_of_passing():
    green = DeploymentStats("green", 3000, 30, 0, 50.0, 114.0, 160.0)
    blue = DeploymentStats("blue", 27000, 270, 0, 50.0, 114.0, 160.0)
    v = judge(green, blue)
    assert v.verdict == "need_more_data"
    assert any("slow counts" in r for r in v.reasons)


def test_the_p99_slo_fails_a_green_with_too_many_requests_over_its_limit():
    config = GateConfig(slo_p99_ms=150.0)
    green, blue = stats("green", 3000, 30, 150, p99=170.0), stats("blue", 27000, 270, 1350, p99=140.0)
    v = judge(green, blue, config, over_slo=over(150.0, 3000, 90))  # 3% of green's requests over 150 ms
    assert v.verdict == "fail"
    assert v.slo["p99_ms"] == {"limit_ms": 150.0, "green_over": 90, "green_requests": 3000}
    assert any("share of requests over the p99 SLO" in r or "slo_p99_share" in r for r in v.reasons)


def test_the_minimum_sample_is_the_textbook_two_proportion_size():
    # Fleiss: p0 = 0.10, p1 = 0.15, equal allocation, one-sided alpha 0.05, power 0.8 -> 538
    assert min_sample_size(0.10, 0.05, alpha=0.05, beta=0.2, blue_per_green=1.0) == 538
    # more blue requests per green one need fewer green requests; a smaller effect needs more
    assert min_sample_size(0.10, 0.05, 0.05, 0.2, 9.0) < 538 < min_sample_size(0.10, 0.03, 0.05, 0.2, 1.0)


def test_the_msprt_statistic_grows_with_evidence_against_green():
    values = [msprt_one_sided(x, 1e-5, 0.01) for x in (-0.01, 0.0, 0.005, 0.01, 0.02)]
    assert values == sorted(values)
    assert values[1] < 1 < values[-1]


def test_false_rollbacks_stay_under_alpha_when_evaluated_after_every_batch():
    """Equal deployments, 30 looks per trial: the share of trials that ever fail is at most alpha."""
    rng = np.random.default_rng(11)
    alpha, trials, fails = 0.05, 400, 0
    for _ in range(trials):
        g = rng.binomial(100, 0.02, 30).cumsum()
        b = rng.binomial(900, 0.02, 30).cumsum()
        for look in range(30):
            t = compare_proportions(
                "error_rate",
                100 * (look + 1),
                int(g[look]),
                900 * (look + 1),
                int(b[look]),
                margin=0.01,
                alpha=alpha,
                beta=0.05,
                power=0.8,
                min_floor=0,
                prior_rate=0.02,
            )
            if t.outcome == "fail":
                fails += 1
                break
    assert fails / trials <= alpha


def test_for_rollout_splits_the_policys_alpha_over_the_gated_steps():
    from core.kernel.policy import RolloutPolicy

    config = GateConfig.for_rollout(RolloutPolicy(min_samples=500), gated_steps=3)
    assert config.alpha == pytest.approx(0.05 / 3)
    assert config.min_samples == 500


def test_the_fixed_threshold_baseline_rolls_back_after_n_failed_checks_and_passes_after_count():
    config = FixedThresholdConfig(max_error_rate=0.01, max_p95_ms=200.0, failure_limit=2, count=3)
    bad = stats("green", 100, 5, None)
    good = stats("green", 100, 0, None)
    verdict, state, numbers = evaluate_fixed_threshold(bad, config, FixedThresholdState())
    assert (verdict, numbers["ok"]) == ("need_more_data", False)
    verdict, state, _ = evaluate_fixed_threshold(bad, config, state)
    assert verdict == "fail"
    state = FixedThresholdState()
    for _ in range(3):
        verdict, state, _ = evaluate_fixed_threshold(good, config, state)
    assert verdict == "pass"


def test_one_early_error_on_a_handful_of_green_requests_is_not_a_rollback():
    # 1 error in 2 green requests against a clean blue: the normal approximation alone would
    # call this a regression (the demo once rolled back on it); too few events to know.
    early = compare_proportions(
        "error_rate", 2, 1, 40, 0, margin=0.1, alpha=0.05, beta=0.05, power=0.8, min_floor=0, prior_rate=0.01
    )
    assert early.fail_e_value >= early.fail_threshold
    assert early.outcome == "need_more_data"
    # the same share of errors over enough requests is a failure
    later = compare_proportions(
        "error_rate",
        12,
        6,
        240,
        0,
        margin=0.1,
        alpha=0.05,
        beta=0.05,
        power=0.8,
        min_floor=0,
        prior_rate=0.01,
    )
    assert later.outcome == "fail"


def test_a_healthy_green_passes_near_walds_optimum_not_at_the_fixed_sample_size():
    # 1% errors on both, green at 10%: Wald's SPRT needs ~850 green requests on average
    from core.rollout.traffic_gate import wald_asn

    optimum = wald_asn(0.01, 0.02, 0.05, 0.05)
    assert optimum == pytest.approx(849.5, abs=1)
    t = compare_proportions(
        "error_rate",
        1000,
        10,
        9000,
        90,
        margin=0.01,
        alpha=0.025,
        beta=0.05,
        power=0.8,
        min_floor=200,
        prior_rate=0.01,
    )
    assert t.outcome == "pass"
    assert min_sample_size(0.01, 0.01, 0.025, 0.2, 9.0) > 1000


def test_a_green_worse_by_the_margin_passes_at_most_beta_of_the_time_under_continuous_looks():
    rng = np.random.default_rng(12)
    beta, trials, passes = 0.05, 400, 0
    for _ in range(trials):
        g = rng.binomial(50, 0.02, 60).cumsum()
        b = rng.binomial(450, 0.01, 60).cumsum()
        for look in range(60):
            t = compare_proportions(
                "error_rate",
                50 * (look + 1),
                int(g[look]),
                450 * (look + 1),
                int(b[look]),
                margin=0.01,
                alpha=0.025,
                beta=beta,
                power=0.8,
                min_floor=200,
                prior_rate=0.01,
            )
            if t.outcome != "need_more_data":
                passes += t.outcome == "pass"
                break
    assert passes / trials <= beta
