"""Rollout gates: may green take more traffic, must it be rolled back, or do we not know yet?

Green is compared with blue over the SAME window, so both see the same traffic mix, hour and
upstream load; a fixed threshold cannot tell "green is bad" from "the world is bad right now".

The statistics (why each choice):

* Error rate: share of requests answered 5xx, 408 or 424 (429 is capacity, not a model fault).
  Latency: share of green requests slower than blue's p95 in the same window ("slow share"); if
  both deployments have the same latency distribution it is a binomial proportion equal to blue's
  (about 5%), whatever the shape of the distribution. Both metrics are therefore a comparison of two
  binomial proportions, theta = p_green - p_blue.
* Sequential test with a known false-rollback rate under continuous monitoring: the one-sided
  mixture sequential probability ratio test (mSPRT) of Johari, Koomen, Pekelis & Walsh, "Always
  Valid Inference: Continuous Monitoring of A/B Tests", Operations Research 70(3), 2022 (also
  Robbins 1970 for the mixture martingale). Its statistic Lambda_n is a non-negative martingale
  under H0 (theta <= 0), so by Ville's inequality P(sup_n Lambda_n >= 1/alpha) <= alpha: the gate
  may be evaluated after every request and still rolls back a healthy green with probability at
  most alpha. We use a half-normal mixture over theta > 0 (only "worse" matters) with scale tau set
  to the effect size that matters, where the test is most powerful. The Gaussian likelihood of the
  difference of proportions is the usual large-sample approximation; bench/canary.py measures the
  realised false-rollback rate on simulated traffic.
* Pass needs evidence, not the absence of a fail: a sequential non-inferiority test of
  H0': theta >= margin against the point alternative theta = 0 (an equal green), Wald's sequential
  probability ratio in information time on the same Gaussian approximation: with the estimate D,
  its variance V at the null point and I = 1/V, Lambda'_n = exp(margin * I * (margin / 2 - D)) is
  a martingale at theta = margin and a supermartingale for every theta >= margin, so by Ville's
  inequality beta bounds the chance of EVER passing a green that is worse by the margin, however
  often it is evaluated. A point alternative (not a mixture) puts all the power where it matters
  for promotion, on the healthy green: on the 1% -> 2% error scenario it needs close to Wald's
  optimum (bench/canary.py prints both). It replaced a rule that also demanded a fixed-sample
  power calculation's minimum (Fleiss), which doubled the requests a healthy green needed while
  adding nothing to the always-valid guarantee. A pass still needs the policy's floor of green
  requests, and `min_samples` reports the sample the pass test expects to need for an equal green
  (its average sample number), so the gate can say how many requests it needs.
* Several tests share the alpha budget (Bonferroni): each metric gets alpha / (number of metrics).
  The rollout splits the policy's alpha over its gated steps (see GateConfig.for_rollout), so the
  whole rollout keeps its false-rollback rate at or below the policy's alpha.
* The tail is tested, never read off a point estimate: the p99 of 86 requests is their maximum, and
  one slow request on a busy machine once rolled back a healthy green in the demo. The relative p99
  check is the slow-share test at blue's p99 ("tail share": an equal green has about 1% of its
  requests above it; `p99_rel_margin` slower moves that share by `tail_share_margin`). The absolute
  SLO (p99 <= SLA) is a one-sample test on the share of green's requests above the SLA: the SLO
  holds while at most 1% are, and the test fails when green is over it with alpha's confidence and
  passes when green is below 1% + SLO_SHARE_MARGIN with beta's (an exact Bernoulli SPRT, so a
  green far under its SLO passes after about 150 requests, not after ten slow ones). Both are metrics of the gate, with
  their share of alpha, the same always-valid tests as the error and p95 ones.
* Missing or lagging telemetry (window not ingested yet, no green or no blue requests) is never a
  pass: it is need_more_data, and the ramp decides what the deadline means (policy).

`evaluate_fixed_threshold` is the baseline in the style of Argo Rollouts / Flagger (per-interval
error rate and p95 against fixed thresholds, roll back after N failed checks) for bench/canary.py.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from scipy.stats import norm

from core.kernel.ports import DeploymentStats, WindowStats
from core.rollout.verdicts import GateConfig, GateVerdict, MetricTest, Verdict

# What a gate's evidence says: a verdict, or "unavailable" when the telemetry could not be read

# Blue's p95 splits blue's requests 95 / 5: the slow share of an equal green is about this.
P95_SHARE = 0.05
Z95 = float(norm.ppf(0.95))
# Blue's p99 splits blue's requests 99 / 1; a p99 SLO allows 1% of the requests above its limit.
P99_SHARE = 0.01
Z99 = float(norm.ppf(0.99))
# The absolute SLO's pass test: green passes once it is shown to have fewer than 1% + this above the limit.
SLO_SHARE_MARGIN = 0.01


# --------------------------------------------------------------------------- statistics


def msprt_one_sided(estimate: float, variance: float, tau: float) -> float:
    """Half-normal mixture likelihood ratio for H1: mean > 0 vs H0: mean <= 0, given an estimate
    ~ N(mean, variance). Closed form of  int_0^inf N-likelihood ratio * 2 phi(m / tau) / tau dm:
        Lambda = 2 sqrt(V / (V + tau^2)) exp(tau^2 x^2 / (2 V (V + tau^2))) Phi(x tau / sqrt(V (V + tau^2)))
    computed in log space (it overflows for strong evidence)."""
    if variance <= 0:
        return math.inf if estimate > 0 else 0.0
    s = variance + tau * tau
    log_lambda = (
        math.log(2.0)
        + 0.5 * math.log(variance / s)
        + tau * tau * estimate * estimate / (2.0 * variance * s)
        + _log_normal_cdf(estimate * tau / math.sqrt(variance * s))
    )
    return math.exp(min(log_lambda, 700.0))


def _log_normal_cdf(x: float) -> float:
    # erfc is exact enough (and 50x faster than scipy) until it underflows far in the left tail
    return math.log(0.5 * math.erfc(-x / math.sqrt(2.0))) if x > -30 else float(norm.logcdf(x))


def sprt_non_inferiority(estimate: float, variance: float, margin: float) -> float:
    """Wald's likelihood ratio of mean 0 against mean `margin` for an estimate ~ N(mean, variance):
        Lambda' = exp(margin (margin - 2 estimate) / (2 variance)).
    In information time (I = 1 / variance) it is exp(-margin S + margin^2 I / 2) with S = estimate * I
    a Brownian motion with drift theta: a martingale at theta = margin and a supermartingale for any
    theta >= margin, so Ville's inequality bounds P(ever >= 1/beta) by beta on all of H0'."""
    if variance <= 0:
        return math.inf if estimate < margin else 0.0
    log_lambda = margin * (margin - 2.0 * estimate) / (2.0 * variance)
    return math.exp(min(log_lambda, 700.0))


def _arcsine(p: float) -> float:
    return math.asin(math.sqrt(min(max(p, 0.0), 1.0)))


def expected_pass_sample(p_blue: float, margin: float, beta: float, blue_per_green: float) -> int:
    """Green requests the pass test expects to need for an equal green: the information at which
    Lambda' reaches 1/beta on average, margin^2 I / 2 = log(1/beta), on the arcsine scale of
    `compare_proportions` (Wald's approximation, overshoot ignored)."""
    p0 = min(max(p_blue, 1e-6), 1 - 1e-6)
    q = min(p0 + margin, 1 - 1e-9)
    margin_a = _arcsine(q) - _arcsine(p0)
    unit_variance = 0.25 * (1 + p0 * (1 - p0) / (q * (1 - q)) / max(blue_per_green, 1e-6))
    return math.ceil(2.0 * math.log(1 / beta) * unit_variance / (margin_a * margin_a))


def wald_asn(p0: float, p1: float, alpha: float, beta: float) -> float:
    """Wald's average sample number under p = p0 of the one-sample Bernoulli SPRT of p0 against p1
    (p0 known): the optimum no sequential test at these error rates can beat on average (Wald and
    Wolfowitz 1948); bench/canary.py prints it beside our figure."""
    a = math.log((1 - beta) / alpha)
    b = math.log(beta / (1 - alpha))
    drift = p0 * math.log(p1 / p0) + (1 - p0) * math.log((1 - p1) / (1 - p0))
    return ((1 - alpha) * b + alpha * a) / drift


@functools.lru_cache(maxsize=256)
def _z(p: float) -> float:
    return float(norm.ppf(p))


def min_sample_size(p_blue: float, margin: float, alpha: float, beta: float, blue_per_green: float) -> int:
    """Green requests a one-sided fixed-sample two-proportion z-test needs to detect
    p_green = p_blue + margin with power 1 - beta, when blue gets `blue_per_green` requests for each
    green one (Fleiss; variance p1 q1 / n + p0 q0 / (k n))."""
    p0 = min(max(p_blue, 1e-6), 1 - 1e-6)
    p1 = min(p0 + margin, 1 - 1e-6)
    k = max(blue_per_green, 1e-6)
    z = _z(1 - alpha) + _z(1 - beta)
    return math.ceil(z * z * (p1 * (1 - p1) + p0 * (1 - p0) / k) / (margin * margin))


def slow_share_margin(
    p50_ms: float | None, p95_ms: float | None, rel_increase: float, sigma_prior: float
) -> float:
    """The increase of the slow share (above blue's p95) that a `rel_increase` slower p95 causes,
    for a lognormal latency whose spread is read off blue's p50 and p95."""
    sigma = sigma_prior
    if p50_ms and p95_ms and p95_ms > p50_ms > 0:
        sigma = min(max(math.log(p95_ms / p50_ms) / Z95, 0.05), 3.0)
    share = float(norm.sf(Z95 - math.log1p(rel_increase) / sigma))
    return max(share - P95_SHARE, 1e-3)


def tail_share_margin(
    p50_ms: float | None, p99_ms: float | None, rel_increase: float, sigma_prior: float
) -> float:
    """The increase of the tail share (above blue's p99) that a `rel_increase` slower p99 causes,
    for a lognormal latency whose spread is read off blue's p50 and p99."""
    sigma = sigma_prior
    if p50_ms and p99_ms and p99_ms > p50_ms > 0:
        sigma = min(max(math.log(p99_ms / p50_ms) / Z99, 0.05), 3.0)
    share = float(norm.sf(Z99 - math.log1p(rel_increase) / sigma))
    return max(share - P99_SHARE, 1e-3)


MIN_FAIL_EVENTS = 5
# The same holds on the pass side, at the null point: passing needs green to have had time to show
# the events a green worse by the margin would make (np >= 10), else a lucky run of zero errors
# on a few hundred requests looks like proof (it is, under a normal law; a binomial is not one).
MIN_PASS_EVENTS = 10


def compare_proportions(
    metric: str,
    green_n: int,
    green_events: int,
    blue_n: int,
    blue_events: int,
    *,
    margin: float,
    alpha: float,
    beta: float,
    power: float,
    min_floor: int,
    prior_rate: float,
) -> MetricTest:
    """Sequential comparison: fail when the mSPRT says green is worse (level alpha, always valid);
    pass when the SPRT says green is worse by less than the margin (level beta, always valid) and
    the policy's floor of green requests is in; otherwise need more data. `power` is kept for the
    callers' signature; the pass rule no longer uses a fixed-sample size."""
    pg = green_events / green_n
    pb = blue_events / blue_n
    diff = pg - pb
    # H0 (equal): pooled variance, floored at half an event so zero counts stay honest.
    pooled = max((green_events + blue_events) / (green_n + blue_n), 0.5 / (green_n + blue_n))
    var0 = pooled * (1 - pooled) * (1 / green_n + 1 / blue_n)
    fail_e = msprt_one_sided(diff, var0, margin)
    # H0' (green worse by the margin, pg >= pb + margin), on the arcsine scale where a proportion's
    # variance is 1 / (4 n) whatever the rate (Anscombe's 3/8 correction for the small counts):
    # asin(sqrt(pg)) - asin(sqrt(pb + margin)) >= 0, against the point alternative pg = pb.
    pb_f = max(pb, 0.5 / blue_n)
    q = min(pb_f + margin, 1 - 1e-9)
    margin_a = _arcsine(q) - _arcsine(pb_f)
    green_a = _arcsine((green_events + 0.375) / (green_n + 0.75))
    # blue enters through asin(sqrt(pb + margin)): its delta-method variance is scaled by h'(q)^2 / h'(pb)^2
    var_a = 0.25 / green_n + 0.25 * (pb_f * (1 - pb_f)) / (q * (1 - q)) / blue_n
    pass_e = sprt_non_inferiority(green_a - _arcsine(q) + margin_a, var_a, margin_a)
    p_for_plan = pb if blue_events >= 5 else max(pb, prior_rate)
    need = max(min_floor, expected_pass_sample(p_for_plan, margin, beta, blue_n / green_n))
    # The mSPRT works on a normal approximation of the difference of two binomials, which is not
    # valid with a handful of events: one error among two green requests against a clean blue
    # would otherwise "prove" a regression. Fail only once green has MIN_FAIL_EVENTS events (np >= 5).
    if fail_e >= 1 / alpha and green_events >= MIN_FAIL_EVENTS:
        outcome: Verdict = "fail"
    elif pass_e >= 1 / beta and green_n >= min_floor and green_n * (pb_f + margin) >= MIN_PASS_EVENTS:
        outcome = "pass"
    else:
        outcome = "need_more_data"
    return MetricTest(
        metric=metric,
        green_n=green_n,
        green_events=green_events,
        blue_n=blue_n,
        blue_events=blue_events,
        green_rate=pg,
        blue_rate=pb,
        difference=diff,
        margin=margin,
        alpha=alpha,
        beta=beta,
        fail_e_value=fail_e,
        fail_threshold=1 / alpha,
        pass_e_value=pass_e,
        pass_threshold=1 / beta,
        min_samples=need,
        outcome=outcome,
    )


_QUANTILE = {"slow_share": "p95", "tail_share": "p99"}


def _material(
    test: MetricTest, g: DeploymentStats, b: DeploymentStats, config: GateConfig, reasons: list[str]
) -> MetricTest:
    """A latency share proven worse is a regression only when green's quantile is at least
    `floor_ms` above blue's in the window (like min_psi for drift: a certain but negligible
    difference, e.g. a green process 5% slower than blue's on a busy machine at 5 ms, does not roll
    back). The fail itself stays the sequential test's; the quantiles only withhold it, and the
    pass test then decides as it would have."""
    floor_ms = config.latency_floor_ms
    if test.outcome != "fail" or floor_ms <= 0 or test.metric not in _QUANTILE:
        return test
    q = _QUANTILE[test.metric]
    green_ms, blue_ms = getattr(g, f"{q}_ms"), getattr(b, f"{q}_ms")
    if green_ms is None or blue_ms is None or green_ms - blue_ms >= floor_ms:
        return test
    reasons.append(
        f"{test.metric}: green is slower ({q} {green_ms:.1f} ms vs blue {blue_ms:.1f} ms), by less than "
        f"min_increase_ms={floor_ms:g}: not a regression"
    )
    passed = (
        test.pass_e_value >= test.pass_threshold
        and test.green_n >= config.min_samples
        and test.green_n * (max(test.blue_rate, 0.5 / test.blue_n) + test.margin) >= MIN_PASS_EVENTS
    )
    return replace(test, outcome="pass" if passed else "need_more_data")


def compare_to_rate(
    metric: str, n: int, events: int, *, rate: float, margin: float, alpha: float, beta: float, min_floor: int
) -> MetricTest:
    """One-sample test of a share against an absolute limit (an SLO): fail when the mSPRT says
    green's share is above `rate` (level alpha, once MIN_FAIL_EVENTS are in), pass when green is
    shown below `rate + margin` (level beta) and the policy's floor is in.

    The pass side is exact, not a normal approximation: Wald's Bernoulli likelihood ratio of
    p1 = rate / 2 against q = rate + margin, (p1 / q)^k ((1 - p1) / (1 - q))^(n - k), has expectation
    p p1 / q + (1 - p)(1 - p1) / (1 - q) <= 1 per request for every share p >= q, so it is a
    supermartingale on all of H0' and Ville's inequality bounds P(ever passing) by beta, with no
    minimum count of events. A green far under its SLO passes after about ln(1/beta) / q requests."""
    pg = events / n
    fail_e = msprt_one_sided(pg - rate, rate * (1 - rate) / n, margin)
    q = min(rate + margin, 1 - 1e-9)
    p1 = rate / 2
    log_pass = events * math.log(p1 / q) + (n - events) * math.log((1 - p1) / (1 - q))
    pass_e = math.exp(min(log_pass, 700.0))
    drift = p1 * math.log(p1 / q) + (1 - p1) * math.log((1 - p1) / (1 - q))  # per request, at p = p1
    need = max(min_floor, math.ceil(math.log(1 / beta) / drift))
    if fail_e >= 1 / alpha and events >= MIN_FAIL_EVENTS:
        outcome: Verdict = "fail"
    elif pass_e >= 1 / beta and n >= min_floor:
        outcome = "pass"
    else:
        outcome = "need_more_data"
    return MetricTest(
        metric=metric,
        green_n=n,
        green_events=events,
        blue_n=0,
        blue_events=0,
        green_rate=pg,
        blue_rate=rate,
        difference=pg - rate,
        margin=margin,
        alpha=alpha,
        beta=beta,
        fail_e_value=fail_e,
        fail_threshold=1 / alpha,
        pass_e_value=pass_e,
        pass_threshold=1 / beta,
        min_samples=need,
        outcome=outcome,
    )


# --------------------------------------------------------------------------- the gate


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _over(window: WindowStats | None, name: str) -> tuple[int, float] | None:
    """Requests of `name` above the window's threshold, and the threshold (None: not counted)."""
    stats = window.by_deployment.get(name) if window is not None else None
    if stats is None or stats.slow is None or stats.slow_threshold_ms is None:
        return None
    return stats.slow, stats.slow_threshold_ms


def evaluate_gate(
    window: WindowStats,
    green: str,
    blue: str,
    config: GateConfig,
    *,
    tail: WindowStats | None = None,
    over_slo: WindowStats | None = None,
) -> GateVerdict:
    """Green vs blue over one window. The window's slow counts must use blue's p95 as threshold
    (query once for blue's p95, then again with it) for the latency test to run; `tail` counts the
    requests above blue's p99 (the relative p99 test) and `over_slo` those above the SLO's limit,
    each over the same window. A test whose counts are missing waits: it is never a pass."""
    g = window.by_deployment.get(green)
    b = window.by_deployment.get(blue)
    base: dict[str, Any] = {
        "endpoint": window.endpoint,
        "green": green,
        "blue": blue,
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        "ingested_until": _iso(window.ingested_until),
        "green_requests": g.requests if g else 0,
        "blue_requests": b.requests if b else 0,
        "alpha": config.alpha,
        "query": window.query,
    }
    if window.ingested_until is None or window.ingested_until < window.end:
        return GateVerdict(
            verdict="need_more_data",
            reasons=[
                f"telemetry lagging: ingested until {_iso(window.ingested_until)}, window ends {window.end.isoformat()}"
            ],
            min_samples=config.min_samples,
            **base,
        )
    if g is None or g.requests == 0 or b is None or b.requests == 0:
        who = [name for name, s in ((green, g), (blue, b)) if s is None or s.requests == 0]
        return GateVerdict(
            verdict="need_more_data",
            reasons=[f"no requests in the window for {', '.join(who)}"],
            min_samples=config.min_samples,
            **base,
        )
    alpha_each = config.alpha / config.metrics
    common: dict[str, Any] = {
        "alpha": alpha_each,
        "beta": config.beta,
        "power": config.power,
        "min_floor": config.min_samples,
    }
    tests = [
        compare_proportions(
            "error_rate",
            g.requests,
            g.errors,
            b.requests,
            b.errors,
            margin=config.error_rate_margin,
            prior_rate=config.prior_error_rate,
            **common,
        )
    ]
    reasons: list[str] = []
    waiting = 0
    if config.p95_rel_margin is not None:
        if g.slow is None or b.slow is None or b.p95_ms is None:
            waiting += 1
            reasons.append("latency test waiting: the window has no slow counts at blue's p95")
        else:
            margin = slow_share_margin(b.p50_ms, b.p95_ms, config.p95_rel_margin, config.prior_latency_sigma)
            tests.append(
                compare_proportions(
                    "slow_share",
                    g.requests,
                    g.slow,
                    b.requests,
                    b.slow,
                    margin=margin,
                    prior_rate=P95_SHARE,
                    **common,
                )
            )
    slo: dict[str, Any] = {}
    if config.p99_rel_margin is not None:
        g_tail, b_tail = _over(tail, green), _over(tail, blue)
        if g_tail is None or b_tail is None:
            waiting += 1
            reasons.append("tail test waiting: the window has no counts above blue's p99")
        else:
            margin = tail_share_margin(b.p50_ms, b.p99_ms, config.p99_rel_margin, config.prior_latency_sigma)
            tests.append(
                compare_proportions(
                    "tail_share",
                    g.requests,
                    g_tail[0],
                    b.requests,
                    b_tail[0],
                    margin=margin,
                    prior_rate=P99_SHARE,
                    **common,
                )
            )
            slo["p99_vs_blue"] = {"limit_ms": g_tail[1], "green_over": g_tail[0], "blue_over": b_tail[0]}
    if config.slo_p99_ms is not None:
        g_slo = _over(over_slo, green)
        if g_slo is None:
            waiting += 1
            reasons.append(f"SLO test waiting: the window has no counts above {config.slo_p99_ms} ms")
        else:
            tests.append(
                compare_to_rate(
                    "slo_p99_share",
                    g.requests,
                    g_slo[0],
                    rate=P99_SHARE,
                    margin=SLO_SHARE_MARGIN,
                    alpha=alpha_each,
                    beta=config.beta,
                    min_floor=config.min_samples,
                )
            )
            slo["p99_ms"] = {"limit_ms": g_slo[1], "green_over": g_slo[0], "green_requests": g.requests}
    tests = [_material(t, g, b, config, reasons) for t in tests]
    need = max(t.min_samples for t in tests)
    for t in tests:
        if t.outcome == "fail":
            reasons.append(f"{t.metric}: {describe(t)}")
    if any(t.outcome == "fail" for t in tests):
        verdict: Verdict = "fail"
    elif not waiting and all(t.outcome == "pass" for t in tests):
        verdict = "pass"
        reasons.append(f"all tests pass with {g.requests} green requests (expected about {need})")
    else:
        verdict = "need_more_data"
        reasons += [
            f"{t.metric}: not decided (fail e {t.fail_e_value:.2f} < {t.fail_threshold:.0f}, pass e "
            f"{t.pass_e_value:.2f} vs {t.pass_threshold:.0f}, n {t.green_n}/{t.min_samples})"
            for t in tests
            if t.outcome == "need_more_data"
        ]
    return GateVerdict(verdict=verdict, reasons=reasons, min_samples=need, tests=tests, slo=slo, **base)


METRIC_WORDS = {
    "error_rate": "error rate",
    "slow_share": "share of requests slower than blue's p95",
    "tail_share": "share of requests slower than blue's p99",
    "slo_p99_share": "share of requests over the p99 SLO",
}


def describe(t: MetricTest) -> str:
    """One test in words, e.g. "green 3.5% vs blue 4.7% (e-value 0.2 < 80)"."""
    if t.blue_n == 0:
        head = f"green {t.green_rate:.2%} vs at most {t.blue_rate:.0%} allowed"
    else:
        head = f"green {t.green_rate:.2%} vs blue {t.blue_rate:.2%}"
    return (
        f"{head} (e-value {t.fail_e_value:.1f} >= {t.fail_threshold:.1f})"
        if t.outcome == "fail"
        else (f"{head}, {'not worse' if t.outcome == 'pass' else 'not decided'}")
    )


# --------------------------------------------------------------------------- baseline


@dataclass(frozen=True)
class FixedThresholdConfig:
    """Argo Rollouts AnalysisTemplate / Flagger canary analysis: every interval, the interval's
    own error rate and p95 are checked against fixed limits; rollback after `failure_limit` failed
    checks; pass after `count` checks. No minimum sample, no comparison with blue."""

    max_error_rate: float = 0.01
    max_p95_ms: float = 500.0
    failure_limit: int = 3
    count: int = 10


@dataclass(frozen=True)
class FixedThresholdState:
    checks: int = 0
    failures: int = 0


def evaluate_fixed_threshold(
    interval: DeploymentStats, config: FixedThresholdConfig, state: FixedThresholdState
) -> tuple[Verdict, FixedThresholdState, dict[str, Any]]:
    """One analysis run on one interval's stats of green; returns verdict, new state, numbers."""
    if interval.requests == 0:
        ok = False  # Flagger counts "no values found" as a failed check
        rate = None
    else:
        rate = interval.errors / interval.requests
        ok = rate <= config.max_error_rate and (interval.p95_ms or 0.0) <= config.max_p95_ms
    state = replace(state, checks=state.checks + 1, failures=state.failures + (not ok))
    verdict: Verdict = "need_more_data"
    if state.failures >= config.failure_limit:
        verdict = "fail"
    elif state.checks >= config.count:
        verdict = "pass"
    numbers = {"error_rate": rate, "p95_ms": interval.p95_ms, "ok": ok, **asdict(state)}
    return verdict, state, numbers
