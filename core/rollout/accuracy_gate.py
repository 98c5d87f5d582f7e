"""Online accuracy gate: is green's live metric, on labels that arrived later, not worse than blue's?

Each deployment's live predictions are joined to ground truth on the entity id (core/rollout/predictions.py)
over the same period; the gate compares green's metric (the policy's: AUC or accuracy) with blue's.

* accuracy: the share of wrong predictions is a binomial proportion per deployment, so the test is
  exactly core.rollout.traffic_gate.compare_proportions on misclassifications (fail: green worse, mSPRT at alpha;
  pass: worse by less than the margin, SPRT at beta; both always valid).
* AUC: the Mann-Whitney estimate per deployment with DeLong's variance; the difference
  blue - green is asymptotically normal, and the same two statistics (mSPRT for "worse", SPRT for
  "within the margin") are applied to it, as Johari et al. do for any asymptotically normal
  estimate. AUC needs both classes: each deployment needs `min_per_class` positives and negatives.

Missing data is never a pass: until each deployment has `min_labels` labelled predictions (and the
classes AUC needs) the verdict is need_more_data, with the counts; what the label deadline means is
the policy's, applied by core.rollout.ramp.next_move (tests/unit/core/test_ramp.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
from scipy.stats import rankdata

from core.rollout.predictions import LabelledScore
from core.rollout.traffic_gate import (
    Reading,
    Verdict,
    compare_proportions,
    msprt_one_sided,
    sprt_non_inferiority,
)

Metric = Literal["auc", "accuracy"]


@dataclass(frozen=True)
class OnlineAccuracyConfig:
    metric: Metric = "auc"
    margin: float = 0.02  # green may be worse than blue by less than this (absolute)
    alpha: float = 0.05  # this gate's false-rollback budget
    beta: float = 0.05
    min_labels: int = 200  # labelled predictions per deployment before any pass
    min_per_class: int = 20  # AUC: positives and negatives per deployment
    decision_threshold: float = 0.5  # accuracy: score >= this predicts the positive class

    @classmethod
    def for_rollout(cls, rollout: Any) -> OnlineAccuracyConfig:
        """From the policy's `rollout` section (gates.online_accuracy must be set). The gate is judged
        once per rollout (before the last step), so its alpha is split over gate kinds only."""
        gates = rollout.gates
        online = gates.online_accuracy
        if online is None:
            raise ValueError(
                "rollout.gates.online_accuracy is not set: the policy has no online accuracy gate"
            )
        return cls(
            metric=online.metric,
            margin=online.margin,
            alpha=gates.alpha / gates.gate_kinds,
            min_labels=online.min_labels,
        )

    def __post_init__(self) -> None:
        if not 0 < self.margin < 1:
            raise ValueError(f"margin={self.margin} must be in (0, 1), e.g. 0.02")
        if not 0 < self.alpha < 1 or not 0 < self.beta < 1:
            raise ValueError(f"alpha={self.alpha} and beta={self.beta} must be in (0, 1)")


@dataclass(frozen=True)
class OnlineAccuracyVerdict:
    verdict: Reading
    reasons: list[str]
    metric: str
    green: str
    blue: str
    green_labelled: int
    blue_labelled: int
    green_value: float | None
    blue_value: float | None
    difference: float | None  # blue - green: > 0 means green is worse
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
    details: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return asdict(self)


def auc_with_variance(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Mann-Whitney AUC and DeLong's variance (DeLong, DeLong & Clarke-Pearson 1988), with mid-ranks
    for ties."""
    pos = scores[labels == 1]
    neg = scores[labels == 0]
    m, n = pos.size, neg.size
    ranks_all = rankdata(np.concatenate([pos, neg]))
    v10 = (ranks_all[:m] - rankdata(pos)) / n  # per positive: share of negatives it outranks
    v01 = 1.0 - (ranks_all[m:] - rankdata(neg)) / m  # per negative: share of positives above it
    auc = float(v10.mean())
    variance = float(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n) if m > 1 and n > 1 else math.inf
    return auc, max(variance, 1e-12)


def evaluate_online_accuracy(
    green_labelled: Sequence[LabelledScore],
    blue_labelled: Sequence[LabelledScore],
    green: str,
    blue: str,
    config: OnlineAccuracyConfig,
    *,
    labels_until: datetime | None = None,
) -> OnlineAccuracyVerdict:
    base: dict[str, Any] = {
        "metric": config.metric,
        "green": green,
        "blue": blue,
        "green_labelled": len(green_labelled),
        "blue_labelled": len(blue_labelled),
        "margin": config.margin,
        "alpha": config.alpha,
        "beta": config.beta,
        "fail_threshold": 1 / config.alpha,
        "pass_threshold": 1 / config.beta,
        "min_labels": config.min_labels,
        "labels_until": labels_until.isoformat() if labels_until else None,
    }
    empty: dict[str, Any] = {"green_value": None, "blue_value": None, "difference": None, "variance": None}
    short = [name for name, rows in ((green, green_labelled), (blue, blue_labelled)) if not rows]
    if short:
        return OnlineAccuracyVerdict(
            "need_more_data",
            [f"waiting for labels: no labelled predictions yet for {', '.join(short)}"],
            fail_e_value=None,
            pass_e_value=None,
            **empty,
            **base,
        )
    g_s = np.array([r.score for r in green_labelled], dtype=float)
    g_y = np.array([r.label for r in green_labelled], dtype=int)
    b_s = np.array([r.score for r in blue_labelled], dtype=float)
    b_y = np.array([r.label for r in blue_labelled], dtype=int)
    if config.metric == "accuracy":
        return _accuracy(g_s, g_y, b_s, b_y, config, base)
    classes = {name: (int(y.sum()), int(y.size - y.sum())) for name, y in ((green, g_y), (blue, b_y))}
    lacking = [
        f"{k} has {p} positives/{q} negatives"
        for k, (p, q) in classes.items()
        if min(p, q) < config.min_per_class
    ]
    if lacking:
        return OnlineAccuracyVerdict(
            "need_more_data",
            [f"waiting for labels: AUC needs {config.min_per_class} of each class ({'; '.join(lacking)})"],
            fail_e_value=None,
            pass_e_value=None,
            details={"classes": classes},
            **empty,
            **base,
        )
    auc_g, var_g = auc_with_variance(g_s, g_y)
    auc_b, var_b = auc_with_variance(b_s, b_y)
    diff = auc_b - auc_g
    variance = var_g + var_b
    fail_e = msprt_one_sided(diff, variance, config.margin)
    pass_e = sprt_non_inferiority(diff, variance, config.margin)
    enough = min(len(green_labelled), len(blue_labelled)) >= config.min_labels
    return _decide(auc_g, auc_b, diff, variance, fail_e, pass_e, enough, config, base, {"classes": classes})


def _accuracy(
    g_s: np.ndarray,
    g_y: np.ndarray,
    b_s: np.ndarray,
    b_y: np.ndarray,
    config: OnlineAccuracyConfig,
    base: dict[str, Any],
) -> OnlineAccuracyVerdict:
    g_wrong = int(((g_s >= config.decision_threshold).astype(int) != g_y).sum())
    b_wrong = int(((b_s >= config.decision_threshold).astype(int) != b_y).sum())
    test = compare_proportions(
        "misclassification",
        g_y.size,
        g_wrong,
        b_y.size,
        b_wrong,
        margin=config.margin,
        alpha=config.alpha,
        beta=config.beta,
        power=0.8,
        min_floor=config.min_labels,
        prior_rate=0.2,
    )
    outcome: Verdict = test.outcome
    if outcome == "pass" and b_y.size < config.min_labels:
        outcome = "need_more_data"  # blue's accuracy needs its labels too
    variance = (
        test.green_rate * (1 - test.green_rate) / g_y.size + test.blue_rate * (1 - test.blue_rate) / b_y.size
    )
    return _decide(
        1 - test.green_rate,
        1 - test.blue_rate,
        test.difference,
        variance,
        test.fail_e_value,
        test.pass_e_value,
        True,
        config,
        base,
        {"green_wrong": g_wrong, "blue_wrong": b_wrong, "expected_labels": test.min_samples},
        outcome=outcome,
    )


def _decide(
    green_value: float,
    blue_value: float,
    diff: float,
    variance: float,
    fail_e: float,
    pass_e: float,
    enough: bool,
    config: OnlineAccuracyConfig,
    base: dict[str, Any],
    details: dict[str, Any],
    outcome: Verdict | None = None,
) -> OnlineAccuracyVerdict:
    m = config.metric
    if outcome is None:
        outcome = "need_more_data"
        if fail_e >= 1 / config.alpha:
            outcome = "fail"
        elif pass_e >= 1 / config.beta and enough:
            outcome = "pass"
    if outcome == "fail":
        reason = f"live {m}: green {green_value:.4f} worse than blue {blue_value:.4f} (e-value {fail_e:.1f} >= {1 / config.alpha:.1f})"
    elif outcome == "pass":
        reason = (
            f"live {m}: green {green_value:.4f} vs blue {blue_value:.4f}, within the margin {config.margin}"
        )
    else:
        reason = (
            f"live {m}: green {green_value:.4f} vs blue {blue_value:.4f}, not decided (fail e {fail_e:.2f}, "
            f"pass e {pass_e:.2f}; labelled {base['green_labelled']}/{base['blue_labelled']}, needs {config.min_labels} each)"
        )
    return OnlineAccuracyVerdict(
        outcome,
        [reason],
        green_value=green_value,
        blue_value=blue_value,
        difference=diff,
        variance=variance,
        fail_e_value=fail_e,
        pass_e_value=pass_e,
        details=details,
        **base,
    )


def unavailable_accuracy(
    green: str, blue: str, config: OnlineAccuracyConfig, reasons: list[str]
) -> OnlineAccuracyVerdict:
    """The verdict recorded when the predictions or labels could not be read: no numbers, no pass."""
    return OnlineAccuracyVerdict(
        verdict="unavailable",
        reasons=reasons,
        metric=config.metric,
        green=green,
        blue=blue,
        green_labelled=0,
        blue_labelled=0,
        green_value=None,
        blue_value=None,
        difference=None,
        variance=None,
        margin=config.margin,
        alpha=config.alpha,
        beta=config.beta,
        fail_e_value=None,
        fail_threshold=1 / config.alpha,
        pass_e_value=None,
        pass_threshold=1 / config.beta,
        min_labels=config.min_labels,
    )


def labels_to_decide(
    config: OnlineAccuracyConfig, *, positive_rate: float = 0.3, value: float = 0.8, confidence: float = 0.95
) -> int:
    """Labelled predictions per deployment with which an EQUAL green passes the gate with probability
    `confidence` (a single look; the sequential test often passes earlier): the label budget a
    rollout plans with, from the margin, beta, the class balance and the metric's level.

    The pass test passes once D <= margin / 2 - V ln(1/beta) / margin (D: blue - green, V its
    variance, see evaluate_online_accuracy). For an equal green D ~ N(0, V); asking that bound to
    be z_confidence standard errors away gives (ln(1/beta) / margin) s^2 + z s - margin / 2 = 0 for
    s = sqrt(V). Per-label variance: Hanley & McNeil (1982) for AUC, p (1 - p) for accuracy."""
    from scipy.stats import norm

    if config.metric == "auc":
        q1, q2 = value / (2 - value), 2 * value * value / (1 + value)
        unit = (q1 - value * value) / (1 - positive_rate) + (q2 - value * value) / positive_rate
    else:
        unit = value * (1 - value)
    log_b = math.log(1 / config.beta)
    z = float(norm.ppf(confidence))
    s = (-z + math.sqrt(z * z + 2 * log_b)) * config.margin / (2 * log_b)
    return max(config.min_labels, math.ceil(2 * unit / (s * s)))


def label_plan(
    needed: int, labels_per_second: float | None, delay_seconds: float, wait_seconds: int
) -> tuple[bool, int | None, str]:
    """Can the label wait be met at the observed label rate? Returns (meets, expected seconds to
    decide, reason in words). Unknown rate: no promise either way, said so."""
    if not labels_per_second or labels_per_second <= 0:
        return True, None, f"needs about {needed} labels per deployment; no label rate observed yet"
    expected = math.ceil(delay_seconds + needed / labels_per_second)
    words = (
        f"needs about {needed} labels per deployment: at {labels_per_second:.2f} labels/s and "
        f"{delay_seconds:.0f} s label delay, about {expected} s"
    )
    if expected > wait_seconds:
        return False, expected, f"{words}, more than the policy's label wait of {wait_seconds} s"
    return True, expected, f"{words}, within the policy's label wait of {wait_seconds} s"
