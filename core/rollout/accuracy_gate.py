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
from datetime import datetime
from typing import Any

import numpy as np
from scipy.stats import rankdata

from core.rollout.predictions import LabelledScore
from core.rollout.traffic_gate import compare_proportions, msprt_one_sided, sprt_non_inferiority
from core.rollout.verdicts import OnlineAccuracyConfig, OnlineAccuracyVerdict, Verdict


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
