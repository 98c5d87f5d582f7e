"""Shadow gates: does green answer the SAME inputs like blue does, within the policy's tolerance?

Errors and latency cannot see a challenger that answers fast, without errors and differently.
On paired requests (mirror phase, and every ramp step where the prediction log pairs a request's
answers) the gate compares green's predictions with blue's:

* `disagreement_rate`: share of pairs whose predicted class differs (score >= decision threshold),
  against the policy's `max_disagreement`.
* `score_shift`: mean of green's score minus blue's on the same input, against `max_mean_shift`
  (both directions: a challenger that scores everyone higher is as suspect as one scoring lower).
* `psi`: population stability index of green's scores against blue's, on blue's deciles: the
  familiar drift figure, against `max_psi`.

The first two are sequential tests with the always-valid guarantee of core/rollout/traffic_gate.py, but exact
rather than asymptotic: each is a test of a bounded mean by betting (Waudby-Smith & Ramdas,
"Estimating means of bounded random variables by betting", JRSS-B 86(1), 2024). For H0: E x <= m
with x >= lower, the wealth K_n = prod (1 + lambda_i (x_i - m)) with a predictable bet
lambda_i in [0, 1 / (m - lower)) is a non-negative supermartingale under H0 for ANY distribution of
x, so by Ville's inequality P(ever K_n >= 1/alpha) <= alpha: no normal approximation, no minimum
count for validity, any number of looks. The bet is aGRAPA (the growth-rate-optimal bet for the
mean and variance seen so far, halved). A fail needs evidence that the metric exceeds its
threshold (level alpha, split over the metrics and, for the two-sided shift, over both sides); a
pass needs evidence that it is below (level beta) and the policy's minimum of pairs.

PSI has no such test here: it is a point-estimate guardrail like the SLOs of core/rollout/traffic_gate.py,
enforced once the minimum of pairs is in (its bias on n pairs is about (bins - 1) / n, far below the
usual 0.1-0.25 thresholds at a few hundred pairs); it can fail or hold a gate, never pass one alone.

The pairs must be given in a stable order (the order green answered): the betting statistic reads
them as a stream, and re-reading the same stream at a later look continues the same martingale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from core.rollout.predictions import ScorePair
from core.rollout.traffic_gate import Reading, Verdict


@dataclass(frozen=True)
class ShadowConfig:
    """One shadow gate's rules; `alpha` is THIS gate's false-rollback budget."""

    alpha: float = 0.05
    beta: float = 0.05
    max_disagreement: float | None = 0.05  # share of pairs whose predicted class differs
    decision_threshold: float = 0.5  # score >= this is the positive class
    max_mean_shift: float | None = 0.05  # |mean(green score - blue score)|
    max_psi: float | None = 0.2
    psi_bins: int = 10
    min_pairs: int = 200

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1 or not 0 < self.beta < 1:
            raise ValueError(f"alpha={self.alpha} and beta={self.beta} must be in (0, 1)")
        if self.max_disagreement is not None and not 0 < self.max_disagreement < 1:
            raise ValueError(f"max_disagreement={self.max_disagreement} must be in (0, 1), e.g. 0.05")
        if self.max_mean_shift is not None and not 0 < self.max_mean_shift < 1:
            raise ValueError(f"max_mean_shift={self.max_mean_shift} must be in (0, 1), e.g. 0.05")
        if self.psi_bins < 2:
            raise ValueError(f"psi_bins={self.psi_bins} must be at least 2")

    @classmethod
    def for_rollout(cls, rollout: Any, gated_steps: int) -> ShadowConfig:
        """From the policy's `rollout` section (gates.shadow must be set): this gate kind's share
        of the policy's alpha, split over the gated steps as GateConfig.for_rollout does."""
        gates = rollout.gates
        shadow = gates.shadow
        if shadow is None:
            raise ValueError("rollout.gates.shadow is not set: the policy has no shadow gate")
        return cls(
            alpha=gates.alpha / max(1, gated_steps) / gates.gate_kinds,
            max_disagreement=shadow.max_disagreement,
            decision_threshold=shadow.decision_threshold,
            max_mean_shift=shadow.max_mean_shift,
            max_psi=shadow.max_psi,
            psi_bins=shadow.psi_bins,
            min_pairs=shadow.min_pairs,
        )

    @property
    def sequential_metrics(self) -> int:
        return (self.max_disagreement is not None) + (self.max_mean_shift is not None)


@dataclass(frozen=True)
class ShadowTest:
    """One metric's evaluation, with every number that led to it."""

    metric: str  # disagreement_rate | score_shift | psi
    n: int
    statistic: float
    threshold: float
    alpha: float  # this metric's share of the gate's alpha (0 for a guardrail)
    beta: float
    fail_e_value: float | None  # betting wealth for "worse than the threshold"; None for PSI
    fail_threshold: float | None
    pass_e_value: float | None  # betting wealth for "within the threshold"
    pass_threshold: float | None
    outcome: Verdict


@dataclass(frozen=True)
class ShadowVerdict:
    verdict: Reading
    reasons: list[str]
    green: str
    blue: str
    pairs: int
    min_pairs: int
    alpha: float
    beta: float
    tests: list[ShadowTest] = field(default_factory=list)
    window_start: str | None = None
    window_end: str | None = None

    def to_record(self) -> dict[str, Any]:
        """Everything the ledger keeps about the evaluation (JSON-able)."""
        return asdict(self)


# --------------------------------------------------------------------------- statistics


def betting_e_value(x: Sequence[float] | np.ndarray, null_mean: float, lower: float) -> float:
    """Wealth after betting against H0: E x <= null_mean, for x >= lower, with aGRAPA bets computed
    from the observations before each one (predictable). >= 1/alpha rejects H0 at level alpha,
    at any look."""
    values = np.asarray(x, dtype=float)
    if values.size == 0:
        return 1.0
    if np.any(values < lower - 1e-12):
        raise ValueError(f"observations below the stated lower bound {lower}")
    room = null_mean - lower
    if room <= 0:
        return 1.0  # H0 holds for every distribution on [lower, inf) with mean <= lower
    n = values.size
    seen = np.arange(n, dtype=float)  # observations before each one
    sums = np.concatenate([[0.0], np.cumsum(values)[:-1]])
    squares = np.concatenate([[0.0], np.cumsum(values * values)[:-1]])
    # one pseudo-observation at the null mean with variance room^2 / 4 keeps the first bets small
    mean = (sums + null_mean) / (seen + 1)
    centred = squares - np.divide(sums * sums, seen, out=np.zeros(n), where=seen > 0)
    variance = (np.maximum(centred, 0.0) + room * room / 4) / (seen + 1)
    edge = mean - null_mean
    bet = np.clip(edge / (variance + edge * edge), 0.0, 0.5 / room)
    log_wealth = float(np.sum(np.log1p(bet * (values - null_mean))))
    return math.exp(min(log_wealth, 700.0))


def population_stability_index(reference: np.ndarray, current: np.ndarray, bins: int) -> float:
    """PSI = sum (c_i - r_i) ln(c_i / r_i) over the reference's quantile bins (half a count added to
    empty bins so one empty bin does not make it infinite)."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    r = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=edges.size + 1)
    c = np.bincount(np.searchsorted(edges, current, side="right"), minlength=edges.size + 1)
    rp = (r + 0.5) / (r.sum() + 0.5 * r.size)
    cp = (c + 0.5) / (c.sum() + 0.5 * c.size)
    return float(np.sum((cp - rp) * np.log(cp / rp)))


def _sequential(
    metric: str,
    statistic: float,
    n: int,
    threshold: float,
    fail_e: float,
    pass_e: float,
    alpha: float,
    beta: float,
    min_pairs: int,
) -> ShadowTest:
    outcome: Verdict = "need_more_data"
    if fail_e >= 1 / alpha:
        outcome = "fail"
    elif pass_e >= 1 / beta and n >= min_pairs:
        outcome = "pass"
    return ShadowTest(
        metric, n, statistic, threshold, alpha, beta, fail_e, 1 / alpha, pass_e, 1 / beta, outcome
    )


def disagreement_test(blue: np.ndarray, green: np.ndarray, config: ShadowConfig, alpha: float) -> ShadowTest:
    assert config.max_disagreement is not None
    t = config.max_disagreement
    differ = ((green >= config.decision_threshold) != (blue >= config.decision_threshold)).astype(float)
    fail_e = betting_e_value(differ, t, 0.0)  # H0: rate <= t
    pass_e = betting_e_value(-differ, -t, -1.0)  # H0': rate >= t
    rate = float(differ.mean())
    return _sequential(
        "disagreement_rate", rate, differ.size, t, fail_e, pass_e, alpha, config.beta, config.min_pairs
    )


def score_shift_test(blue: np.ndarray, green: np.ndarray, config: ShadowConfig, alpha: float) -> ShadowTest:
    """Two-sided: each side's fail test gets alpha / 2; a pass needs both sides' pass tests (each at
    beta: only one of them can be wrong about a given green)."""
    assert config.max_mean_shift is not None
    delta = config.max_mean_shift
    d = np.clip(green - blue, -1.0, 1.0)
    fail_e = max(betting_e_value(d, delta, -1.0), betting_e_value(-d, delta, -1.0)) / 2
    pass_e = min(betting_e_value(-d, -delta, -1.0), betting_e_value(d, -delta, -1.0))
    # fail_e is halved so that one threshold 1/alpha stands for both sides at alpha/2 each
    return _sequential(
        "score_shift", float(d.mean()), d.size, delta, fail_e, pass_e, alpha, config.beta, config.min_pairs
    )


# --------------------------------------------------------------------------- the gate


def evaluate_shadow(
    pairs: Sequence[ScorePair],
    green: str,
    blue: str,
    config: ShadowConfig,
    *,
    window_start: str | None = None,
    window_end: str | None = None,
) -> ShadowVerdict:
    """Green vs blue on paired requests: fail when a metric is proven beyond its threshold (or PSI,
    once enforced, is over its limit), pass when every metric is proven within its threshold on at
    least `min_pairs` pairs, else need more data. No pairs is never a pass."""
    base: dict[str, Any] = {
        "green": green,
        "blue": blue,
        "pairs": len(pairs),
        "min_pairs": config.min_pairs,
        "alpha": config.alpha,
        "beta": config.beta,
        "window_start": window_start,
        "window_end": window_end,
    }
    if not pairs:
        return ShadowVerdict("need_more_data", [f"no paired requests of {green} and {blue} yet"], **base)
    b = np.array([p.blue for p in pairs], dtype=float)
    g = np.array([p.green for p in pairs], dtype=float)
    alpha_each = config.alpha / max(1, config.sequential_metrics)
    tests: list[ShadowTest] = []
    if config.max_disagreement is not None:
        tests.append(disagreement_test(b, g, config, alpha_each))
    if config.max_mean_shift is not None:
        tests.append(score_shift_test(b, g, config, alpha_each))
    if config.max_psi is not None:
        psi = population_stability_index(b, g, config.psi_bins)
        enforced = len(pairs) >= config.min_pairs
        psi_outcome: Verdict = (
            "need_more_data" if not enforced else ("fail" if psi > config.max_psi else "pass")
        )
        tests.append(
            ShadowTest("psi", len(pairs), psi, config.max_psi, 0.0, 0.0, None, None, None, None, psi_outcome)
        )
    reasons = [
        f"{t.metric}: {t.statistic:.4f} vs threshold {t.threshold}"
        + (f" (e-value {t.fail_e_value:.1f} >= {t.fail_threshold:.1f})" if t.fail_e_value is not None else "")
        for t in tests
        if t.outcome == "fail"
    ]
    if reasons:
        return ShadowVerdict("fail", reasons, tests=tests, **base)
    if tests and all(t.outcome == "pass" for t in tests):
        return ShadowVerdict(
            "pass",
            [f"all shadow tests pass on {len(pairs)} pairs (needs {config.min_pairs})"],
            tests=tests,
            **base,
        )
    waiting = [
        f"{t.metric}: {t.statistic:.4f} vs {t.threshold}, not decided"
        + (
            f" (fail e {t.fail_e_value:.2f} < {t.fail_threshold:.0f}, pass e {t.pass_e_value:.2f} vs "
            f"{t.pass_threshold:.0f})"
            if t.fail_e_value is not None
            and t.pass_e_value is not None
            and t.fail_threshold
            and t.pass_threshold
            else ""
        )
        + f", pairs {t.n}/{config.min_pairs}"
        for t in tests
        if t.outcome == "need_more_data"
    ]
    return ShadowVerdict("need_more_data", waiting or ["no shadow metric configured"], tests=tests, **base)
