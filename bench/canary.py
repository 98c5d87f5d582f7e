"""Canary gate benchmark: our sequential gate vs a fixed-threshold gate (Argo Rollouts / Flagger style).

    python -m bench.canary [--trials 1000] [--seed 7] [--whole-trials 100] [--whole-scale demo|production|both]

Simulated traffic with known effects, one rollout step at 10% green, both gates evaluated at the
SAME looks (every `look` green requests) up to the step deadline; at the deadline an undecided gate
rolls back (the policy default), and that counts. Scenarios: green equal to blue; green's error rate
1% -> 2%; green's latency +30% (every quantile, so p95 too). Per gate and scenario: rollback rate
(false rollbacks when equal, detection otherwise), and green requests needed to decide (median).

Every decision is core.rollout.ramp.next_move, the function the rollout orchestrator carries out
(a rollback at the deadline counts as a rollback). `python -m bench.whole_gate` runs every gate
kind together on heavy-tailed latency.

Sections `rollback_latency` and `router_latency` measure the local endpoint server when it exists.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from core.kernel.ports import DeploymentStats, WindowStats
from core.rollout.accuracy_gate import evaluate_online_accuracy
from core.rollout.evidence_plan import DEADLINE_CAP, plan_evidence
from core.rollout.label_budget import labels_to_decide
from core.rollout.pair_budget import pairs_at
from core.rollout.predictions import LabelledScore, ScorePair
from core.rollout.ramp import Evidence, Phase, RampPlan, Split, StepState, next_move
from core.rollout.shadow_gate import ShadowConfig, evaluate_shadow
from core.rollout.traffic_gate import (
    FixedThresholdConfig,
    FixedThresholdState,
    GateConfig,
    evaluate_fixed_threshold,
    evaluate_gate,
    wald_asn,
)
from core.rollout.verdicts import OnlineAccuracyConfig

RESULTS = Path(__file__).resolve().parent / "results" / "canary.json"


@dataclass(frozen=True)
class Traffic:
    green_share: float = 0.10  # first ramp step
    look: int = 200  # green requests in one analysis interval of the fixed-threshold baselines
    gate_look: int = 50  # green requests between two evaluations of our gate (a query is cheap)
    max_looks: int = 25  # step deadline, in looks
    blue_error_rate: float = 0.01
    median_ms: float = 50.0
    sigma: float = 0.5  # lognormal spread: p95 = median * e^(1.645 sigma) = 2.3x median

    @property
    def blue_p95_ms(self) -> float:
        return self.median_ms * math.exp(1.6448536 * self.sigma)


@dataclass(frozen=True)
class Scenario:
    name: str
    green_error_rate: float
    green_latency_factor: float
    bad: bool


SCENARIOS = [
    Scenario("equal", 0.01, 1.0, bad=False),
    Scenario("error_1_to_2pct", 0.02, 1.0, bad=True),
    Scenario("p95_plus_30pct", 0.01, 1.3, bad=True),
]


def _stats(name: str, errors: np.ndarray, latency: np.ndarray, threshold: float | None) -> DeploymentStats:
    p50, p95, p99 = np.quantile(latency, [0.5, 0.95, 0.99], method="inverted_cdf")
    return DeploymentStats(
        deployment=name,
        requests=len(latency),
        errors=int(errors.sum()),
        throttled=0,
        p50_ms=float(p50),
        p95_ms=float(p95),
        p99_ms=float(p99),
        slow=None if threshold is None else int((latency > threshold).sum()),
        slow_threshold_ms=threshold,
    )


def run_trial(
    rng: np.random.Generator,
    traffic: Traffic,
    scenario: Scenario,
    ours: GateConfig,
    baselines: dict[str, FixedThresholdConfig],
) -> dict[str, tuple[str, int]]:
    """One step of one rollout; returns gate -> (decision, green requests at decision)."""
    n_green = traffic.look * traffic.max_looks
    n_blue = round(n_green * (1 - traffic.green_share) / traffic.green_share)
    mu = math.log(traffic.median_ms)
    g_lat = rng.lognormal(mu, traffic.sigma, n_green) * scenario.green_latency_factor
    b_lat = rng.lognormal(mu, traffic.sigma, n_blue)
    g_err = rng.random(n_green) < scenario.green_error_rate
    b_err = rng.random(n_blue) < traffic.blue_error_rate
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    decided: dict[str, tuple[str, int]] = {}
    states = {name: FixedThresholdState() for name in baselines}
    for ng in range(traffic.gate_look, n_green + 1, traffic.gate_look):
        nb = round(ng * (1 - traffic.green_share) / traffic.green_share)
        if "ours" not in decided:
            # the activity's queries: blue's percentiles first, then counts above blue's p95 and p99
            p95, p99 = (float(x) for x in np.quantile(b_lat[:nb], [0.95, 0.99], method="inverted_cdf"))

            def counted(threshold: float, ng: int = ng, nb: int = nb) -> WindowStats:
                return WindowStats(
                    endpoint="bench",
                    start=t0,
                    end=t0 + timedelta(seconds=ng),
                    ingested_until=t0 + timedelta(seconds=ng),
                    by_deployment={
                        "green": _stats("green", g_err[:ng], g_lat[:ng], threshold),
                        "blue": _stats("blue", b_err[:nb], b_lat[:nb], threshold),
                    },
                )

            verdict = evaluate_gate(counted(p95), "green", "blue", ours, tail=counted(p99)).verdict
            move = decide(Evidence("traffic", verdict), ng, n_green, traffic.gate_look)
            if move is not None:
                decided["ours"] = (move, ng)
        if ng % traffic.look == 0:
            interval = slice(ng - traffic.look, ng)
            g_interval = _stats("green", g_err[interval], g_lat[interval], None)
            for name, config in baselines.items():
                if name in decided:
                    continue
                verdict, states[name], _ = evaluate_fixed_threshold(g_interval, config, states[name])
                if verdict != "need_more_data":
                    decided[name] = (verdict, ng)
        if len(decided) == 1 + len(baselines):
            break
    for name in ["ours", *baselines]:
        decided.setdefault(name, ("deadline", n_green))
    return decided


def decide(
    evidence: Evidence,
    now: int,
    deadline: int,
    interval: int,
    *,
    labels: bool = False,
    planned_deadline: int | None = None,
) -> str | None:
    """The rollout's one decision (core.rollout.ramp.next_move) on one gated step, one simulated
    second per green request: "pass", "fail", "deadline" (a rollback at the deadline) or None (hold).
    `planned_deadline`: the step deadline the pair plan gave the step (as the orchestrator does)."""
    plan = RampPlan(
        phases=(Phase("live", 10, 0), Phase("live", 100, 0)),
        step_deadline_seconds=deadline,
        eval_interval_seconds=interval,
        shadow=evidence.kind == "shadow",
        labels=labels,
        label_wait_seconds=deadline,
    )
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    found = [evidence] if evidence.kind == "traffic" else [Evidence("traffic", "pass"), evidence]
    step = StepState(
        0, t0, t0 + timedelta(seconds=now), gates_passed=labels, step_deadline_seconds=planned_deadline
    )
    move = next_move(plan, step, found, Split({"blue": 100}, {}), "green")
    if move.action in ("hold", "wait_labels"):
        return None
    if move.action == "rollback":
        return "deadline" if move.deadline else "fail"
    return "pass"


def simulate(
    trials: int, seed: int, traffic: Traffic, ours: GateConfig, baselines: dict[str, FixedThresholdConfig]
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    for scenario in SCENARIOS:
        rows = [run_trial(rng, traffic, scenario, ours, baselines) for _ in range(trials)]
        per_gate = {}
        for gate in ["ours", *baselines]:
            decisions = [r[gate][0] for r in rows]
            needed = np.array([r[gate][1] for r in rows])
            # an undecided gate at the step deadline rolls back (policy default on_inconclusive)
            rollbacks = sum(d in ("fail", "deadline") for d in decisions)
            rate = rollbacks / trials
            per_gate[gate] = {
                "rollback_rate": rate,
                "rollback_rate_ci95": _wilson(rollbacks, trials),
                "fail_verdicts": decisions.count("fail"),
                "deadline_rollbacks": decisions.count("deadline"),
                "passes": decisions.count("pass"),
                "median_green_requests_to_decide": float(np.median(needed)),
                "mean_green_requests_to_decide": float(np.mean(needed)),
            }
        out[scenario.name] = {"bad": scenario.bad, "gates": per_gate}
    return out


def _wilson(k: int, n: int, z: float = 1.96) -> list[float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [max(0.0, centre - half), min(1.0, centre + half)]


# --------------------------------------------------------------------------- prediction-only scenarios


@dataclass(frozen=True)
class MlScenario:
    name: str
    gate: str  # shadow | online_accuracy
    green_shift: float = 0.0  # logit shift of green's scores on the same input (shadow)
    green_skill: float = 1.0  # separation of green's scores on live labels (online accuracy)
    bad: bool = False


ML_SCENARIOS = [
    MlScenario("same_predictions", "shadow"),
    MlScenario("shifted_scores", "shadow", green_shift=0.6, bad=True),
    MlScenario("same_live_accuracy", "online_accuracy"),
    MlScenario("worse_live_accuracy", "online_accuracy", green_skill=0.6, bad=True),
]


def _ml_trial(rng: np.random.Generator, scenario: MlScenario, look: int, max_n: int) -> tuple[str, int]:
    """Green differs only in its predictions: errors and latency are equal, so the error/latency
    gate sees the `equal` scenario. Returns (decision, pairs or labels per deployment at decision)."""
    if scenario.gate == "shadow":
        most = DEADLINE_CAP * max_n
        z = rng.normal(-1.0, 1.5, most)
        blue = 1 / (1 + np.exp(-z))
        green = 1 / (1 + np.exp(-(z + rng.normal(0, 0.2, most) + scenario.green_shift)))
        pairs = [
            ScorePair(str(i), float(b), float(g)) for i, (b, g) in enumerate(zip(blue, green, strict=True))
        ]
        config = ShadowConfig()
        for n in range(look, DEADLINE_CAP * max_n + 1, look):
            verdict = evaluate_shadow(pairs[:n], "green", "blue", config)
            # the pair plan at the disagreement seen so far moves the step deadline (one pair a second)
            seen = [t.statistic for t in verdict.tests if t.metric == "disagreement_rate"]
            budget = pairs_at(config, seen[0] if seen else None)
            plan = plan_evidence(
                "pairs",
                expected=budget,
                budget=budget,
                have=n,
                rate=1.0,
                elapsed=n,
                policy_seconds=max_n,
                extend=True,
            )
            move = decide(
                Evidence("shadow", verdict.verdict), n, max_n, look, planned_deadline=plan.deadline_seconds
            )
            if move is not None:
                return move, n
        return "deadline", DEADLINE_CAP * max_n

    def labelled(skill: float) -> list[LabelledScore]:
        y = (rng.random(max_n) < 0.3).astype(int)
        s = 1 / (1 + np.exp(-(skill * (2 * y - 1) + rng.normal(0, 1, max_n))))
        return [LabelledScore(str(i), float(a), int(b)) for i, (a, b) in enumerate(zip(s, y, strict=True))]

    g, b = labelled(scenario.green_skill), labelled(1.0)
    config = ONLINE
    for n in range(look, max_n + 1, look):
        verdict = evaluate_online_accuracy(g[:n], b[:n], "green", "blue", config).verdict
        move = decide(Evidence("online_accuracy", verdict), n, max_n, look, labels=True)
        if move is not None:
            return move, n
    return "deadline", max_n


ONLINE = OnlineAccuracyConfig(metric="auc", margin=0.02)


def simulate_ml(trials: int, seed: int, ops_equal_rollback_rate: float) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    for scenario in ML_SCENARIOS:
        max_n, look = 3000, 50
        if scenario.gate == "online_accuracy":  # the label wait follows the plan (labels_to_decide)
            max_n = labels_to_decide(ONLINE, positive_rate=0.3, value=0.92, confidence=0.95)
            look = max(50, max_n // 60)
        rows = [_ml_trial(rng, scenario, look=look, max_n=max_n) for _ in range(trials)]
        decisions = [d for d, _ in rows]
        rollbacks = sum(d in ("fail", "deadline") for d in decisions)
        out[scenario.name] = {
            "gate": scenario.gate,
            "bad": scenario.bad,
            "ours": {
                "rollback_rate": rollbacks / trials,
                "rollback_rate_ci95": _wilson(rollbacks, trials),
                "fail_verdicts": decisions.count("fail"),
                "passes": decisions.count("pass"),
                "deadline_rollbacks": decisions.count("deadline"),
                "median_to_decide": float(np.median([n for _, n in rows])),
                "deadline_n": max_n,  # shadow: the policy's step deadline, which the pair plan extends
            },
            # errors and latency are equal: the error/latency gate sees the `equal` scenario
            "error_latency_only": {"rollback_rate": ops_equal_rollback_rate},
        }
    return out


# --------------------------------------------------------------------------- local endpoint figures


@functools.cache
def _endpoint_figures() -> dict[str, Any]:
    """One local endpoint server run (bench.endpoint) serves both sections below."""
    from bench import endpoint

    try:
        return endpoint.measure(requests_n=500, rollbacks=5)
    except Exception as exc:  # the simulated figures above must still be written
        failed = {"error": f"local endpoint not measured: {type(exc).__name__}: {exc}"}
        return {"rollback_latency": failed, "router_latency": failed}


def rollback_latency() -> dict[str, Any] | None:
    """Fail verdict -> live traffic back on blue as seen by requests (local endpoint server)."""
    return _endpoint_figures()["rollback_latency"]


def router_latency() -> dict[str, Any] | None:
    """The local router's added latency (p50/p99) over calling the model directly."""
    return _endpoint_figures()["router_latency"]


# --------------------------------------------------------------------------- report


def _print(results: dict[str, Any], alpha: float, baselines: list[str]) -> None:
    gates = ["ours", *baselines]
    print(
        f"\ncanary gates, {results['trials']} trials per scenario, green at {results['traffic']['green_share']:.0%}, "
        f"ours looks every {results['traffic']['gate_look']}, the baselines every {results['traffic']['look']} green requests, deadline {results['traffic']['max_looks']} looks"
    )
    print(f"our gate alpha = {alpha} (false-rollback budget of one gate under continuous monitoring)\n")
    head = (
        f"{'scenario':<18}{'metric':<26}"
        + "".join(f"{g:>22}" for g in gates)
        + "".join(f"{'ours/' + b:>24}" for b in baselines)
    )
    print(head)
    print("-" * len(head))
    for name, sc in results["scenarios"].items():
        label = "false rollbacks" if not sc["bad"] else "detection (rollback)"
        for metric, key in (
            (label, "rollback_rate"),
            ("median requests to decide", "median_green_requests_to_decide"),
            ("mean requests to decide", "mean_green_requests_to_decide"),
        ):
            vals = [sc["gates"][g][key] for g in gates]
            cells = "".join(f"{(f'{v:.3f}' if key == 'rollback_rate' else f'{v:.0f}'):>22}" for v in vals)
            ratios = "".join(f"{(vals[0] / v if v else math.inf):>24.2f}" for v in vals[1:])
            print(f"{name:<18}{metric:<26}{cells}{ratios}")
    w = results["wald_optimum"]
    print(
        f"\nequal scenario: our median {w['ours_median']:.0f} green requests to pass vs Wald's optimum "
        f"{w['asn']:.0f} (SPRT 1% vs 2%, alpha = beta = 0.05, blue's rate known): {w['ratio']:.2f}x"
    )
    print(
        "\nprediction-only scenarios (errors and latency equal), looks every 50 pairs / labels per deployment"
    )
    print(
        "(rollback = fail verdict or undecided at the deadline: for pairs a 3,000-pair step deadline the "
        "pair plan extends (at most 3x) at the disagreement seen; for labels, the planned budget "
        "labels_to_decide at 95%; fail share is the alpha-bound part)"
    )
    print(
        f"{'scenario':<22}{'gate':<18}{'ours rollback':>16}{'ours fail':>10}{'median n':>10}{'error/latency only':>20}"
    )
    for name, sc in results["ml_scenarios"].items():
        print(
            f"{name:<22}{sc['gate']:<18}{sc['ours']['rollback_rate']:>16.3f}"
            f"{sc['ours']['fail_verdicts'] / results['ml_trials']:>10.3f}"
            f"{sc['ours']['median_to_decide']:>10.0f}{sc['error_latency_only']['rollback_rate']:>20.3f}"
        )
    print()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ml-trials", type=int, default=200)
    parser.add_argument("--no-endpoint", action="store_true", help="skip the local endpoint figures")
    parser.add_argument(
        "--whole-trials", type=int, default=100, help="trials of the whole gate (bench.whole_gate); 0: skip"
    )
    parser.add_argument("--whole-scale", choices=["demo", "production", "both"], default="demo")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    traffic = Traffic()
    ours = GateConfig(
        alpha=0.05,
        beta=0.05,
        power=0.8,
        error_rate_margin=0.01,
        p95_rel_margin=0.2,
        p99_rel_margin=0.3,
        min_samples=200,
    )
    baselines = {
        # Flagger's documented defaults: success rate >= 99%, rollback after 5 failed checks
        "flagger_1pct_f5": FixedThresholdConfig(
            max_error_rate=0.01, max_p95_ms=1.2 * traffic.blue_p95_ms, failure_limit=5, count=10
        ),
        # a tuned Argo AnalysisTemplate: limits between healthy and bad, failureLimit 3, count 10
        "argo_1.5pct_f3": FixedThresholdConfig(
            max_error_rate=0.015, max_p95_ms=1.15 * traffic.blue_p95_ms, failure_limit=3, count=10
        ),
    }
    started = time.perf_counter()
    results: dict[str, Any] = {
        "trials": args.trials,
        "seed": args.seed,
        "traffic": asdict(traffic),
        "ours": asdict(ours),
        "baselines": {k: asdict(v) for k, v in baselines.items()},
    }
    results["scenarios"] = simulate(args.trials, args.seed, traffic, ours, baselines)
    asn = wald_asn(traffic.blue_error_rate, traffic.blue_error_rate + ours.error_rate_margin, 0.05, 0.05)
    ours_median = results["scenarios"]["equal"]["gates"]["ours"]["median_green_requests_to_decide"]
    results["wald_optimum"] = {"asn": asn, "ours_median": ours_median, "ratio": ours_median / asn}
    equal_rate = results["scenarios"]["equal"]["gates"]["ours"]["rollback_rate"]
    results["ml_trials"] = args.ml_trials
    results["ml_scenarios"] = simulate_ml(args.ml_trials, args.seed, equal_rate)
    if args.whole_trials:
        from bench import whole_gate

        scales = list(whole_gate.SCALES) if args.whole_scale == "both" else [args.whole_scale]
        results["whole_gate"] = {}
        for name in scales:
            scenarios = whole_gate.simulate(args.whole_trials, args.seed, whole_gate.SCALES[name])
            results["whole_gate"][name] = scenarios
            whole_gate.print_table(name, scenarios, args.whole_trials)
    results["simulation_seconds"] = round(time.perf_counter() - started, 1)
    if not args.no_endpoint:
        results["rollback_latency"] = rollback_latency()
        results["router_latency"] = router_latency()
    _print(results, ours.alpha, list(baselines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out} in {results['simulation_seconds']} s")
    return results


if __name__ == "__main__":
    main()
