"""The shadow gate's pair budget: how many mirrored pairs a green that answers like blue needs to
pass, like core/rollout/label_budget.py for labels. Pure arithmetic, no numpy or scipy, so the
rollout orchestrator plans with it without loading the statistics (tests/unit/test_cold_start.py).

The shadow gate passes a metric once the betting wealth against "green is beyond the threshold"
reaches 1/beta (core/rollout/shadow_gate.py). Its log grows like a random walk: per pair by
mu = E log(1 + lambda (threshold - x)) with the bet lambda the gate settles on for the green's
true mean and variance (aGRAPA: gap / (variance + gap^2), capped at 0.5 / room), with spread
sigma. After n pairs the log wealth is about n mu +- sqrt(n) sigma; asking it to clear ln(1/beta)
with z_confidence standard deviations to spare gives n mu - z sqrt(n) sigma = ln(1/beta), a
quadratic in sqrt(n). The first bets are smaller than that (the gate learns the variance), so a
single look at the budget passes slightly less often than `confidence`; looks before it pass
early, which more than makes up for it (tests/unit/core/test_pair_budget.py checks both on the
gate itself).

An equal green is not an identical one: a retrained model of the same quality flips the class of
some borderline inputs. The budget assumes the disagreement rate given (default: half the
policy's max_disagreement) and score differences of mean zero and spread `shift_sd`; the closer
the disagreement to the threshold, the more pairs (without bound at the threshold itself).
"""

from __future__ import annotations

import math
from statistics import NormalDist

from core.rollout.verdicts import ShadowConfig


def pairs_to_decide(
    config: ShadowConfig,
    *,
    disagreement: float | None = None,
    shift_sd: float = 0.05,
    confidence: float = 0.95,
) -> int:
    """Paired requests with which an equal green passes every sequential shadow test with
    probability about `confidence` at a single look (the policy's min_pairs at least)."""
    log_b = math.log(1 / config.beta)
    z = NormalDist().inv_cdf(confidence)
    need = config.min_pairs
    if config.max_disagreement is not None:
        t = config.max_disagreement
        r = t / 2 if disagreement is None else disagreement
        if not 0 <= r < t:
            raise ValueError(
                f"disagreement={r} must be at least 0 and below max_disagreement={t}: "
                "a green that disagrees that often never passes"
            )
        lam = _bet(t - r, r * (1 - r), 1 - t)
        agree, differ = math.log1p(lam * t), math.log1p(-lam * (1 - t))  # one pair's log growth
        mu = (1 - r) * agree + r * differ
        sigma = math.sqrt(r * (1 - r)) * (agree - differ)
        need = max(need, _pairs(mu, sigma, log_b, z))
    if config.max_mean_shift is not None:
        delta = config.max_mean_shift
        variance = shift_sd * shift_sd
        lam = _bet(delta, variance, 1 - delta)
        mu = lam * delta - lam * lam * (variance + delta * delta) / 2  # second order: lambda |x| is small
        need = max(need, _pairs(mu, lam * shift_sd, log_b, z))
    return need


def _bet(gap: float, variance: float, room: float) -> float:
    """The bet aGRAPA settles on for a mean `gap` inside the threshold (shadow_gate.betting_e_value)."""
    return min(gap / (variance + gap * gap), 0.5 / room)


def _pairs(mu: float, sigma: float, log_b: float, z: float) -> int:
    """Smallest n with n mu - z sqrt(n) sigma >= ln(1/beta)."""
    root = (z * sigma + math.sqrt(max(z * z * sigma * sigma + 4 * mu * log_b, 0.0))) / (2 * mu)
    return math.ceil(max(root, 0.0) ** 2)


def pairs_at(config: ShadowConfig, disagreement: float | None, *, confidence: float = 0.95) -> int:
    """pairs_to_decide at the disagreement observed so far (None: the default assumption). An
    observed rate at or past 90% of max_disagreement is planned as 90% of it: the budget is then
    far beyond any deadline (the plan's cap applies), and the gate itself decides such a green."""
    t = config.max_disagreement
    if disagreement is not None and t is not None:
        disagreement = min(max(disagreement, 0.0), 0.9 * t)
    return pairs_to_decide(config, disagreement=disagreement, confidence=confidence)
