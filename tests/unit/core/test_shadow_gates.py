"""Shadow gates: green's answers to the same inputs as blue's, judged with a known false-rollback rate."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.kernel.records import PredictionRecord
from core.rollout.predictions import ScorePair, pair_by_request
from core.rollout.shadow_gate import (
    ShadowConfig,
    betting_e_value,
    evaluate_shadow,
    population_stability_index,
)


def paired(rng, n, shift=0.0, noise=0.2):
    z = rng.normal(-1.0, 1.5, n)
    blue = 1 / (1 + np.exp(-z))
    green = 1 / (1 + np.exp(-(z + rng.normal(0, noise, n) + shift)))
    return [ScorePair(str(i), float(b), float(g)) for i, (b, g) in enumerate(zip(blue, green, strict=True))]


def test_a_green_that_scores_everyone_higher_fails_and_the_record_shows_why():
    v = evaluate_shadow(paired(np.random.default_rng(1), 400, shift=1.0), "green", "blue", ShadowConfig())
    assert v.verdict == "fail"
    failed = {t.metric for t in v.tests if t.outcome == "fail"}
    assert {"disagreement_rate", "score_shift"} <= failed
    record = json.loads(json.dumps(v.to_record()))
    assert record["pairs"] == 400
    shift = next(t for t in record["tests"] if t["metric"] == "score_shift")
    assert (
        shift["statistic"] > 0.05
        and shift["threshold"] == 0.05
        and shift["fail_e_value"] >= shift["fail_threshold"]
    )


def test_a_green_that_answers_like_blue_passes_once_the_pairs_are_in():
    pairs = paired(np.random.default_rng(2), 3000, noise=0.05)
    early = evaluate_shadow(pairs[:100], "green", "blue", ShadowConfig())
    assert early.verdict == "need_more_data"
    late = evaluate_shadow(pairs, "green", "blue", ShadowConfig())
    assert late.verdict == "pass"


def test_no_pairs_is_never_a_pass():
    v = evaluate_shadow([], "green", "blue", ShadowConfig())
    assert v.verdict == "need_more_data" and "no paired requests" in v.reasons[0]


def test_a_psi_over_the_limit_fails_only_once_the_minimum_of_pairs_is_in():
    config = ShadowConfig(max_disagreement=None, max_mean_shift=None, max_psi=0.1, min_pairs=300)
    pairs = paired(np.random.default_rng(3), 600, shift=0.8)
    assert evaluate_shadow(pairs[:100], "green", "blue", config).verdict == "need_more_data"
    v = evaluate_shadow(pairs, "green", "blue", config)
    assert v.verdict == "fail" and v.tests[0].metric == "psi" and v.tests[0].statistic > 0.1


def test_the_psi_of_a_distribution_with_itself_is_zero_and_grows_with_the_shift():
    x = np.random.default_rng(4).random(5000)
    assert population_stability_index(x, x, 10) == pytest.approx(0.0, abs=1e-12)
    assert population_stability_index(x, x**0.8, 10) < population_stability_index(x, x**0.5, 10)


def test_betting_keeps_the_false_rollback_rate_under_alpha_at_every_look():
    """Disagreement exactly at the threshold (the worst null), 400 pairs read after each pair."""
    rng = np.random.default_rng(5)
    alpha, trials, rejected = 0.05, 400, 0
    for _ in range(trials):
        x = (rng.random(400) < 0.05).astype(float)
        wealth = np.array([betting_e_value(x[:n], 0.05, 0.0) for n in range(1, 401, 10)])
        rejected += bool((wealth >= 1 / alpha).any())
    assert rejected / trials <= alpha


def test_betting_finds_a_mean_above_the_null():
    x = (np.random.default_rng(6).random(500) < 0.15).astype(float)
    assert betting_e_value(x, 0.05, 0.0) > 1e3
    assert betting_e_value(np.array([]), 0.05, 0.0) == 1.0


def test_mirrored_and_live_answers_to_one_request_are_paired_in_green_order():
    records = [
        PredictionRecord("r2", "blue", "1", "c2", 0.2, "2026-03-01T00:00:02"),
        PredictionRecord("r1", "blue", "1", "c1", 0.1, "2026-03-01T00:00:01"),
        PredictionRecord("r1", "green", "2", "c1", 0.3, "2026-03-01T00:00:03", mirrored=True),
        PredictionRecord("r2", "green", "2", "c2", 0.4, "2026-03-01T00:00:01", mirrored=True),
        PredictionRecord("r3", "green", "2", "c3", 0.5, "2026-03-01T00:00:04", mirrored=True),
    ]
    assert pair_by_request(records, "blue", "green") == [ScorePair("r2", 0.2, 0.4), ScorePair("r1", 0.1, 0.3)]


def test_for_rollout_gives_each_gate_kind_its_share_of_the_policy_alpha():
    from core.kernel.policy import GatesPolicy, RolloutPolicy, ShadowGate
    from core.rollout.traffic_gate import GateConfig

    rollout = RolloutPolicy(gates=GatesPolicy(shadow=ShadowGate(max_psi=None)))
    assert ShadowConfig.for_rollout(rollout, gated_steps=3).alpha == pytest.approx(0.05 / 3 / 2)
    assert GateConfig.for_rollout(rollout, gated_steps=3).alpha == pytest.approx(0.05 / 3 / 2)
    assert GateConfig.for_rollout(RolloutPolicy(), gated_steps=3).alpha == pytest.approx(0.05 / 3)
