"""The shadow gate's pair budget: how many mirrored pairs an equal green needs to pass."""

from __future__ import annotations

import numpy as np
import pytest

from core.rollout.pair_budget import pairs_at, pairs_to_decide
from core.rollout.predictions import ScorePair
from core.rollout.shadow_gate import evaluate_shadow
from core.rollout.verdicts import ShadowConfig


def test_a_green_that_disagrees_closer_to_the_threshold_needs_more_pairs_and_the_policy_floor_holds():
    config = ShadowConfig(min_pairs=10)
    near = pairs_to_decide(config, disagreement=0.04)
    far = pairs_to_decide(config, disagreement=0.01)
    assert near > 10 * far
    assert pairs_to_decide(config, confidence=0.5) < pairs_to_decide(config, confidence=0.95)
    assert pairs_to_decide(ShadowConfig(min_pairs=5000)) == 5000
    with pytest.raises(ValueError, match="never passes"):
        pairs_to_decide(config, disagreement=0.05)


def test_the_plan_at_the_observed_disagreement_grows_near_the_threshold_and_stays_finite_past_it():
    config = ShadowConfig(min_pairs=10)
    assert pairs_at(config, None) == pairs_to_decide(config)
    assert (
        pairs_at(config, 0.034) == pairs_to_decide(config, disagreement=0.034) > 5 * pairs_to_decide(config)
    )
    beyond = pairs_at(config, 0.08)  # seen past the threshold: planned at 90% of it, never an error
    assert beyond == pairs_at(config, 0.045) == pairs_to_decide(config, disagreement=0.045)


def test_a_smaller_beta_or_a_tighter_threshold_needs_more_pairs():
    base = pairs_to_decide(ShadowConfig(min_pairs=1))
    assert pairs_to_decide(ShadowConfig(min_pairs=1, beta=0.01)) > base
    assert pairs_to_decide(ShadowConfig(min_pairs=1, max_disagreement=0.02, max_mean_shift=0.02)) > base


def test_an_equal_green_with_the_planned_pairs_passes_the_gate_about_as_often_as_planned():
    """Green's score is blue's plus noise of spread 0.03, so about 2.4% of classes flip."""
    config = ShadowConfig(alpha=0.05 / 3, min_pairs=50)
    spread = 0.03
    n = pairs_to_decide(config, disagreement=0.798 * spread, shift_sd=spread, confidence=0.95)
    rng = np.random.default_rng(1)
    passes = 0
    for _ in range(60):
        blue = rng.random(n)
        green = np.clip(blue + rng.normal(0, spread, n), 0, 1)
        pairs = [
            ScorePair(str(i), float(b), float(g)) for i, (b, g) in enumerate(zip(blue, green, strict=True))
        ]
        passes += evaluate_shadow(pairs, "green", "blue", config).verdict == "pass"
    assert passes / 60 >= 0.85
