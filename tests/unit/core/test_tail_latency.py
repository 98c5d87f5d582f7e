"""Tail latency is a test on the share of requests above a limit, never the p99 of a few requests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np

from core.kernel.ports import DeploymentStats, WindowStats
from core.rollout.traffic_gate import GateConfig, evaluate_gate

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
END = T0 + timedelta(seconds=20)


def _window(green: DeploymentStats, blue: DeploymentStats) -> WindowStats:
    return WindowStats("churn", T0, END, END, {"green": green, "blue": blue})


def _over(
    threshold: float, green_n: int, green_over: int, blue_n: int = 0, blue_over: int = 0
) -> WindowStats:
    g = DeploymentStats("green", green_n, 0, 0, None, None, None, green_over, threshold)
    b = DeploymentStats("blue", blue_n, 0, 0, None, None, None, blue_over, threshold)
    return _window(g, b)


def test_the_demos_healthy_green_with_one_slow_request_is_not_rolled_back():
    """Recorded in `make demo` (worse-live-accuracy, 50% step): 86 green requests, no errors, p50 4 ms
    like blue; green's p99 (its maximum) 18.8 ms against blue's 11.9 ms, over the old point-estimate
    limit of 11.9 * 1.3 = 15.5 ms. One slow request on a busy machine decides nothing now."""
    config = GateConfig(
        alpha=0.05 / 4 / 3, min_samples=60, p95_rel_margin=0.3, p99_rel_margin=0.3, slo_p99_ms=2000
    )
    green = DeploymentStats("green", 86, 0, 0, 4.0, 7.9, 18.8, 5, 7.9)
    blue = DeploymentStats("blue", 88, 0, 0, 4.0, 7.9, 11.92, 4, 7.9)
    assert green.p99_ms > blue.p99_ms * 1.3  # what rolled it back before
    tail = _over(11.92, 86, 1, 88, 0)  # the one slow request is the only one above blue's p99
    v = evaluate_gate(_window(green, blue), "green", "blue", config, tail=tail, over_slo=_over(2000, 86, 0))
    assert v.verdict != "fail"
    tail_test = next(t for t in v.tests if t.metric == "tail_share")
    assert tail_test.outcome == "need_more_data"
    assert v.slo["p99_vs_blue"] == {"limit_ms": 11.92, "green_over": 1, "blue_over": 0}


def test_the_demos_healthy_green_one_ms_slower_on_a_busy_machine_is_not_rolled_back():
    """Recorded in `make demo` (worse-live-accuracy, 10% step, 4 s in, the machine busy with a test
    run): green's process answered about 0.2 ms slower than blue's at p50 and 1 ms at p99, so 5 of its
    26 requests were above blue's p99 of 5.42 ms against 1 of blue's 173: a certain difference
    (e-value 49,340 >= 1,600), and a healthy green rolled back, far inside the policy's tolerance
    (p99 up to 3x blue's). Under min_increase_ms (2 ms) a latency share is no regression."""
    config = GateConfig(
        alpha=0.0025,
        min_samples=60,
        p95_rel_margin=1.0,
        p99_rel_margin=2.0,
        slo_p99_ms=2000,
        latency_floor_ms=2.0,
    )
    green = DeploymentStats("green", 26, 0, 0, 4.557, 6.32, 6.388, 5, 5.281)
    blue = DeploymentStats("blue", 173, 0, 0, 4.539, 5.281, 5.42, 8, 5.281)
    tail = _over(5.42, 26, 5, 173, 1)
    args = (_window(green, blue), "green", "blue")
    without_floor = evaluate_gate(
        *args, replace(config, latency_floor_ms=0.0), tail=tail, over_slo=_over(2000, 26, 0)
    )
    assert without_floor.verdict == "fail"  # what rolled it back
    v = evaluate_gate(*args, config, tail=tail, over_slo=_over(2000, 26, 0))
    assert v.verdict == "need_more_data"
    assert next(t for t in v.tests if t.metric == "tail_share").outcome == "need_more_data"
    assert any("by less than min_increase_ms=2: not a regression" in r for r in v.reasons)


def test_the_floor_never_hides_a_green_that_is_materially_slower():
    config = GateConfig(p95_rel_margin=0.2, p99_rel_margin=0.3, latency_floor_ms=2.0)
    green = DeploymentStats("green", 2000, 20, 0, 50.0, 114.0, 400.0, 100, 114.0)
    blue = DeploymentStats("blue", 18000, 180, 0, 50.0, 114.0, 160.0, 900, 114.0)
    v = evaluate_gate(_window(green, blue), "green", "blue", config, tail=_over(160.0, 2000, 80, 18000, 180))
    assert v.verdict == "fail" and next(t for t in v.tests if t.metric == "tail_share").outcome == "fail"


def test_a_green_with_a_real_heavy_tail_is_rolled_back_on_the_tail_share():
    config = GateConfig(p95_rel_margin=0.2, p99_rel_margin=0.3)
    green = DeploymentStats("green", 2000, 20, 0, 50.0, 114.0, 400.0, 100, 114.0)
    blue = DeploymentStats("blue", 18000, 180, 0, 50.0, 114.0, 160.0, 900, 114.0)
    v = evaluate_gate(_window(green, blue), "green", "blue", config, tail=_over(160.0, 2000, 80, 18000, 180))
    assert v.verdict == "fail"
    assert any("share of requests slower than blue's p99" in r or "tail_share" in r for r in v.reasons)
    assert next(t for t in v.tests if t.metric == "tail_share").outcome == "fail"


def test_a_green_well_under_its_slo_passes_and_one_with_a_few_slow_requests_is_not_failed():
    config = GateConfig(p95_rel_margin=None, p99_rel_margin=None, slo_p99_ms=500.0, min_samples=200)
    green = DeploymentStats("green", 3000, 30, 0, 50.0, 114.0, 160.0)
    blue = DeploymentStats("blue", 27000, 270, 0, 50.0, 114.0, 160.0)
    passed = evaluate_gate(_window(green, blue), "green", "blue", config, over_slo=_over(500.0, 3000, 6))
    assert passed.verdict == "pass"
    small = DeploymentStats("green", 150, 0, 0, 50.0, 114.0, 900.0)
    early = evaluate_gate(_window(small, blue), "green", "blue", config, over_slo=_over(500.0, 150, 2))
    assert early.verdict == "need_more_data"


def test_a_tail_test_without_its_counts_waits_instead_of_passing():
    config = GateConfig(p95_rel_margin=None, p99_rel_margin=0.3, slo_p99_ms=500.0)
    green = DeploymentStats("green", 3000, 30, 0, 50.0, 114.0, 160.0)
    blue = DeploymentStats("blue", 27000, 270, 0, 50.0, 114.0, 160.0)
    v = evaluate_gate(_window(green, blue), "green", "blue", config)
    assert v.verdict == "need_more_data"
    assert any("tail test waiting" in r for r in v.reasons)
    assert any("SLO test waiting" in r for r in v.reasons)


def test_equal_heavy_tailed_deployments_are_rarely_rolled_back_under_continuous_looks():
    """Log-normal body, 0.5% of requests 10x slower, on both: the tail tests keep their alpha."""
    rng = np.random.default_rng(5)
    config = GateConfig(alpha=0.05, p95_rel_margin=0.2, p99_rel_margin=0.3, slo_p99_ms=None, min_samples=200)
    trials, fails = 100, 0
    for _ in range(trials):
        g_lat = rng.lognormal(np.log(5), 0.5, 1500) * np.where(rng.random(1500) < 0.005, 10, 1)
        b_lat = rng.lognormal(np.log(5), 0.5, 1500) * np.where(rng.random(1500) < 0.005, 10, 1)
        for n in range(50, 1501, 50):
            g, b = g_lat[:n], b_lat[:n]
            p50, p95, p99 = (float(x) for x in np.quantile(b, [0.5, 0.95, 0.99], method="inverted_cdf"))
            green = DeploymentStats("green", n, 0, 0, None, None, None, int((g > p95).sum()), p95)
            blue = DeploymentStats("blue", n, 0, 0, p50, p95, p99, int((b > p95).sum()), p95)
            tail = _over(p99, n, int((g > p99).sum()), n, int((b > p99).sum()))
            v = evaluate_gate(_window(green, blue), "green", "blue", config, tail=tail)
            if v.verdict != "need_more_data":
                fails += v.verdict == "fail"
                break
    assert fails / trials <= 0.05


def test_a_green_over_its_slo_by_the_margin_passes_at_most_beta_of_the_time_under_continuous_looks():
    from core.rollout.traffic_gate import SLO_SHARE_MARGIN, compare_to_rate

    rng = np.random.default_rng(9)
    trials, passes = 300, 0
    for _ in range(trials):
        over = (rng.random(3000) < 0.01 + SLO_SHARE_MARGIN).cumsum()
        for n in range(50, 3001, 50):
            t = compare_to_rate(
                "slo_p99_share",
                n,
                int(over[n - 1]),
                rate=0.01,
                margin=SLO_SHARE_MARGIN,
                alpha=0.01,
                beta=0.05,
                min_floor=50,
            )
            if t.outcome != "need_more_data":
                passes += t.outcome == "pass"
                break
    assert passes / trials <= 0.05
