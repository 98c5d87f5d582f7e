"""The whole rollout gate, through the one decision function (core.rollout.ramp.next_move).

    python -m bench.whole_gate [--trials 200] [--seed 7] [--scale demo|production|both]

One gated step (the last before 100%, so it also waits for labels) with every gate on: error
rate, p95 (slow share), the relative p99 and absolute p99 SLO as tail-share tests, shadow
predictions on paired requests and online accuracy on delayed labels. Latency has a heavy tail:
a log-normal body, rare slow requests (x10) and bursts (x3 on every request, blue's and green's,
for a few seconds). A healthy green is a retrained model: its scores differ from blue's by a little
noise (0.1 on the logit scale; about 2% of predicted classes flip against a 5% limit). Each trial simulates the step request by request on one clock; every
`eval_interval` the evidence is gathered as the activities gather it (window counts at blue's
p95 and p99 and at the SLO, pairs so far, labels landed so far) and `next_move` decides. A
rollback is counted whether it comes from a fail verdict or from a deadline (step or labels).

Per scenario: the rollback rate with a Wilson 95% interval: healthy scenarios must stay at or
below the policy's alpha (0.05), bad ones at or above 0.95, and the Flagger- and Argo-style
fixed-threshold baselines on the same traffic (error rate and p95 only: they see no predictions).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from core.kernel.ports import DeploymentStats, WindowStats
from core.rollout.accuracy_gate import OnlineAccuracyConfig, evaluate_online_accuracy
from core.rollout.predictions import LabelledScore, ScorePair
from core.rollout.ramp import Evidence, Phase, RampPlan, Split, StepState, next_move
from core.rollout.shadow_gate import ShadowConfig, evaluate_shadow
from core.rollout.traffic_gate import (
    FixedThresholdConfig,
    FixedThresholdState,
    GateConfig,
    evaluate_fixed_threshold,
    evaluate_gate,
    tail_share_margin,
)

RESULTS = Path(__file__).resolve().parent / "results" / "whole_gate.json"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
BEFORE = Split({"blue": 100}, {})


@dataclass(frozen=True)
class Scale:
    name: str
    requests_per_second: float
    green_percent: int
    step_deadline_seconds: int
    eval_interval_seconds: int
    label_delay_seconds: int
    label_share: float  # share of requests whose label ever lands
    label_wait_seconds: int
    median_ms: float = 5.0
    sigma: float = 0.5
    slow_rate: float = 0.005  # rare slow requests, x10
    bursts_per_hour: float = 60.0  # every request slowed x3 for burst_seconds
    burst_seconds: float = 3.0
    blue_error_rate: float = 0.01
    error_margin: float = 0.01
    p95_margin: float = 0.2
    p99_margin: float = 0.3
    slo_p99_ms: float = 500.0
    accuracy_margin: float = 0.02
    min_samples: int = 200
    min_labels: int = 200
    pair_share: float = 1.0  # share of green requests the prediction log pairs with blue's answer
    alpha: float = 0.05


SCALES = {
    # about 50 requests/s, a few hundred green requests per look window, seconds-long label delay
    "demo": Scale(
        "demo",
        50,
        50,
        150,
        2,
        5,
        0.5,
        180,
        error_margin=0.1,
        p95_margin=1.0,
        p99_margin=2.0,
        slo_p99_ms=2000,
        accuracy_margin=0.05,
        min_samples=50,
        min_labels=100,
    ),
    # 100 requests/s, green at 10%, minutes of label delay
    "production": Scale("production", 100, 10, 3600, 30, 300, 0.3, 3600, median_ms=50.0, pair_share=0.2),
}


@dataclass(frozen=True)
class Scenario:
    """A green that is healthy, or worse than blue by more than the policy's margin on one metric
    (1.5x to 2x it: the gate's beta is guaranteed at the margin, so that is where "bad" starts)."""

    name: str
    bad: bool
    error_margins: float = 0.0  # green's error rate: blue's + this many error margins
    latency_margins: float = 0.0  # every green request slower by this many p95 margins
    tail_margins: float = 0.0  # extra slow green requests: this many tail-share margins
    score_shift: float = 0.0
    green_skill: float = 1.0


SCENARIOS = [
    Scenario("equal", bad=False),
    Scenario("errors_up", bad=True, error_margins=2.0),
    Scenario("latency_up", bad=True, latency_margins=1.5),
    Scenario("heavy_tail", bad=True, tail_margins=2.0),
    Scenario("shifted_scores", bad=True, score_shift=0.6),
    Scenario("worse_live_accuracy", bad=True, green_skill=0.6),
]


def _configs(scale: Scale) -> tuple[RampPlan, GateConfig, ShadowConfig, OnlineAccuracyConfig]:
    plan = RampPlan(
        phases=(Phase("live", scale.green_percent, 0), Phase("live", 100, 0)),
        step_deadline_seconds=scale.step_deadline_seconds,
        eval_interval_seconds=scale.eval_interval_seconds,
        shadow=True,
        labels=True,
        label_wait_seconds=scale.label_wait_seconds,
    )
    kinds = 3  # traffic, shadow, online accuracy share the rollout's alpha (one gated step)
    gate = GateConfig(
        alpha=scale.alpha / kinds,
        error_rate_margin=scale.error_margin,
        p95_rel_margin=scale.p95_margin,
        p99_rel_margin=scale.p99_margin,
        slo_p99_ms=scale.slo_p99_ms,
        min_samples=scale.min_samples,
    )
    shadow = ShadowConfig(alpha=scale.alpha / kinds)
    online = OnlineAccuracyConfig(
        margin=scale.accuracy_margin, alpha=scale.alpha / kinds, min_labels=scale.min_labels
    )
    return plan, gate, shadow, online


def _stats(name: str, errors: np.ndarray, latency: np.ndarray, threshold: float | None) -> DeploymentStats:
    if latency.size == 0:
        return DeploymentStats(name, 0, 0, 0, None, None, None, None if threshold is None else 0, threshold)
    p50, p95, p99 = np.quantile(latency, [0.5, 0.95, 0.99], method="inverted_cdf")
    slow = None if threshold is None else int((latency > threshold).sum())
    return DeploymentStats(
        name, int(latency.size), int(errors.sum()), 0, float(p50), float(p95), float(p99), slow, threshold
    )


def _window(end_s: float, green: DeploymentStats, blue: DeploymentStats) -> WindowStats:
    end = T0 + timedelta(seconds=end_s)
    return WindowStats("bench", T0, end, end, {"green": green, "blue": blue})


def run_trial(rng: np.random.Generator, scale: Scale, scenario: Scenario) -> dict[str, tuple[str, float]]:
    """One step; returns gate -> (decision, seconds to decide)."""
    plan, gate, shadow_config, online_config = _configs(scale)
    horizon = max(scale.step_deadline_seconds, scale.label_wait_seconds)  # traffic goes on while labels land
    n = int(scale.requests_per_second * horizon)
    t = np.sort(rng.uniform(0, horizon, n))
    is_green = rng.random(n) < scale.green_percent / 100
    z99 = 2.3263479
    extra_slow = scenario.tail_margins * tail_share_margin(
        scale.median_ms, scale.median_ms * math.exp(z99 * scale.sigma), scale.p99_margin, scale.sigma
    )
    slow_rate = np.where(is_green, scale.slow_rate + extra_slow, scale.slow_rate)
    latency = rng.lognormal(math.log(scale.median_ms), scale.sigma, n) * np.where(
        rng.random(n) < slow_rate, 10, 1
    )
    latency *= np.where(is_green, 1 + scenario.latency_margins * scale.p95_margin, 1.0)
    bursts = rng.uniform(
        0,
        scale.step_deadline_seconds,
        rng.poisson(scale.bursts_per_hour * scale.step_deadline_seconds / 3600),
    )
    in_burst = np.zeros(n, dtype=bool)
    for b in bursts:
        in_burst |= (t >= b) & (t < b + scale.burst_seconds)
    latency *= np.where(in_burst, 3.0, 1.0)
    green_error = scale.blue_error_rate + scenario.error_margins * scale.error_margin
    errors = rng.random(n) < np.where(is_green, green_error, scale.blue_error_rate)
    y = (rng.random(n) < 0.3).astype(int)
    noise = rng.normal(0, 1, n)
    blue_score = 1 / (1 + np.exp(-((2 * y - 1) + noise)))
    skill = np.where(is_green, scenario.green_skill, 1.0)
    served = 1 / (
        1 + np.exp(-(skill * (2 * y - 1) + noise + rng.normal(0, 0.1, n) + scenario.score_shift * is_green))
    )
    labelled_at = np.where(rng.random(n) < scale.label_share, t + scale.label_delay_seconds, np.inf)
    paired = is_green & (rng.random(n) < scale.pair_share)
    pairs = [ScorePair(str(i), float(blue_score[i]), float(served[i])) for i in np.flatnonzero(paired)]
    pair_time = t[paired]

    decided: dict[str, tuple[str, float]] = {}
    gates_passed = False
    baselines = _baselines(scale)
    states = {name: FixedThresholdState() for name in baselines}
    interval = max(scale.eval_interval_seconds, 10)  # the baselines' analysis interval
    now = 0.0
    while len(decided) < 1 + len(baselines) and now < horizon:
        now += scale.eval_interval_seconds
        seen = t < now
        g, b = seen & is_green, seen & ~is_green
        if "ours" not in decided:
            evidence = _evidence(
                scale,
                gate,
                shadow_config,
                online_config,
                now,
                latency,
                errors,
                g,
                b,
                served,
                y,
                labelled_at,
                pairs,
                pair_time,
            )
            move = next_move(
                plan,
                StepState(0, T0, T0 + timedelta(seconds=now), gates_passed=gates_passed),
                evidence,
                BEFORE,
                "green",
            )
            if move.action == "wait_labels":
                gates_passed = True
            elif move.action != "hold":
                outcome = (
                    "deadline"
                    if move.deadline and move.action == "rollback"
                    else ("fail" if move.action == "rollback" else "pass")
                )
                decided["ours"] = (outcome, now)
        if now % interval < scale.eval_interval_seconds and now <= scale.step_deadline_seconds:
            last = g & (t >= now - interval)
            stats = _stats("green", errors[last], latency[last], None)
            for name, config in baselines.items():
                if name not in decided:
                    verdict, states[name], _ = evaluate_fixed_threshold(stats, config, states[name])
                    if verdict != "need_more_data":
                        decided[name] = (verdict, now)
        if now >= scale.step_deadline_seconds:
            for name in baselines:
                decided.setdefault(name, ("deadline", now))
    decided.setdefault("ours", ("deadline", now))
    return decided


def _evidence(
    scale,
    gate,
    shadow_config,
    online_config,
    now,
    latency,
    errors,
    g,
    b,
    served,
    y,
    labelled_at,
    pairs,
    pair_time,
) -> list[Evidence]:
    g_lat, b_lat = latency[g], latency[b]
    if b_lat.size == 0 or g_lat.size == 0:
        traffic = Evidence("traffic", "need_more_data")
    else:
        p95, p99 = (float(x) for x in np.quantile(b_lat, [0.95, 0.99], method="inverted_cdf"))

        def counted(threshold: float) -> WindowStats:
            return _window(
                now, _stats("green", errors[g], g_lat, threshold), _stats("blue", errors[b], b_lat, threshold)
            )

        verdict = evaluate_gate(
            counted(p95), "green", "blue", gate, tail=counted(p99), over_slo=counted(scale.slo_p99_ms)
        )
        traffic = Evidence("traffic", verdict.verdict, tuple(verdict.reasons[:1]))
    k = int(np.searchsorted(pair_time, now))
    shadow = evaluate_shadow(pairs[:k], "green", "blue", shadow_config)
    landed = labelled_at < now
    green_l = [LabelledScore(str(i), float(served[i]), int(y[i])) for i in np.flatnonzero(landed & g)]
    blue_l = [LabelledScore(str(i), float(served[i]), int(y[i])) for i in np.flatnonzero(landed & b)]
    online = evaluate_online_accuracy(green_l, blue_l, "green", "blue", online_config)
    return [
        traffic,
        Evidence("shadow", shadow.verdict, tuple(shadow.reasons[:1])),
        Evidence("online_accuracy", online.verdict, tuple(online.reasons[:1])),
    ]


def _baselines(scale: Scale) -> dict[str, FixedThresholdConfig]:
    p95 = scale.median_ms * math.exp(1.6448536 * scale.sigma)
    return {
        "flagger_1pct_f5": FixedThresholdConfig(
            max_error_rate=0.01 + scale.blue_error_rate, max_p95_ms=1.2 * p95, failure_limit=5, count=10
        ),
        "argo_1.5pct_f3": FixedThresholdConfig(
            max_error_rate=0.015 + scale.blue_error_rate, max_p95_ms=1.15 * p95, failure_limit=3, count=10
        ),
    }


def _wilson(k: int, n: int, z: float = 1.96) -> list[float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


def simulate(trials: int, seed: int, scale: Scale) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    for scenario in SCENARIOS:
        rows = [run_trial(rng, scale, scenario) for _ in range(trials)]
        gates: dict[str, Any] = {}
        for name in rows[0]:
            decisions = [r[name][0] for r in rows]
            rollbacks = sum(d in ("fail", "deadline") for d in decisions)
            gates[name] = {
                "rollback_rate": rollbacks / trials,
                "rollback_rate_ci95": _wilson(rollbacks, trials),
                "fail_verdicts": decisions.count("fail"),
                "deadline_rollbacks": decisions.count("deadline"),
                "median_seconds_to_decide": float(np.median([r[name][1] for r in rows])),
            }
        ours = gates["ours"]
        ok = ours["rollback_rate"] >= 0.95 if scenario.bad else ours["rollback_rate"] <= scale.alpha
        out[scenario.name] = {"bad": scenario.bad, "meets_target": ok, "gates": gates}
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", choices=[*SCALES, "both"], default="both")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results: dict[str, Any] = {"trials": args.trials, "seed": args.seed, "scales": {}}
    for name in SCALES if args.scale == "both" else [args.scale]:
        scale = SCALES[name]
        results["scales"][name] = {
            "scale": asdict(scale),
            "scenarios": simulate(args.trials, args.seed, scale),
        }
        print_table(name, results["scales"][name]["scenarios"], args.trials)
    results["seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out} in {results['seconds']} s")
    return results


def print_table(scale: str, scenarios: dict[str, Any], trials: int) -> None:
    print(
        f"\nwhole gate at {scale} scale, {trials} trials per scenario (rollback rate [95% CI]; target: healthy <= 0.05, bad >= 0.95)"
    )
    names = sorted(next(iter(scenarios.values()))["gates"], key=lambda n: (n != "ours", n))
    print(
        f"{'scenario':<22}" + "".join(f"{n:>30}" for n in names) + f"{'ours: fail/deadline':>22}{'target':>8}"
    )
    for scenario, row in scenarios.items():
        cells = "".join(
            f"{row['gates'][n]['rollback_rate']:>12.3f} [{row['gates'][n]['rollback_rate_ci95'][0]:.3f}, {row['gates'][n]['rollback_rate_ci95'][1]:.3f}]"
            for n in names
        )
        ours = row["gates"]["ours"]
        print(
            f"{scenario:<22}{cells}{ours['fail_verdicts']:>14}/{ours['deadline_rollbacks']:<7}{'ok' if row['meets_target'] else 'MISS':>8}"
        )


if __name__ == "__main__":
    main()
