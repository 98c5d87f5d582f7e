"""The online accuracy gate's label budget: how many labelled predictions an equal green needs to pass
(whether the policy's label wait can be met at the observed label rate is
core/rollout/evidence_plan.py's, with the pairs of core/rollout/pair_budget.py). Pure arithmetic,
no numpy or scipy, so the rollout orchestrator plans with it without loading the statistics
(tests/unit/test_cold_start.py)."""

from __future__ import annotations

import math
from statistics import NormalDist

from core.rollout.verdicts import OnlineAccuracyConfig


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
    if config.metric == "auc":
        q1, q2 = value / (2 - value), 2 * value * value / (1 + value)
        unit = (q1 - value * value) / (1 - positive_rate) + (q2 - value * value) / positive_rate
    else:
        unit = value * (1 - value)
    log_b = math.log(1 / config.beta)
    z = NormalDist().inv_cdf(confidence)
    s = (-z + math.sqrt(z * z + 2 * log_b)) * config.margin / (2 * log_b)
    return max(config.min_labels, math.ceil(2 * unit / (s * s)))
