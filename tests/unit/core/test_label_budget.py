"""The label budget: how many labels an equal green needs to pass (the wait: test_evidence_plan.py)."""

from __future__ import annotations

import numpy as np

from core.rollout.accuracy_gate import evaluate_online_accuracy
from core.rollout.label_budget import labels_to_decide
from core.rollout.predictions import LabelledScore
from core.rollout.verdicts import OnlineAccuracyConfig


def test_a_smaller_margin_needs_more_labels_and_the_policy_floor_holds():
    wide = labels_to_decide(OnlineAccuracyConfig(margin=0.05, min_labels=10))
    narrow = labels_to_decide(OnlineAccuracyConfig(margin=0.02, min_labels=10))
    assert narrow > 4 * wide
    assert labels_to_decide(OnlineAccuracyConfig(margin=0.2, min_labels=500)) == 500


def test_an_equal_green_with_the_planned_labels_passes_about_as_often_as_planned():
    config = OnlineAccuracyConfig(margin=0.05, alpha=0.0167, min_labels=20)
    n = labels_to_decide(config, positive_rate=0.3, value=0.84, confidence=0.95)
    rng = np.random.default_rng(3)

    def labelled() -> list[LabelledScore]:
        y = (rng.random(n) < 0.3).astype(int)
        s = 1 / (1 + np.exp(-((2 * y - 1) + rng.normal(0, 1, n))))
        return [LabelledScore(str(i), float(a), int(b)) for i, (a, b) in enumerate(zip(s, y, strict=True))]

    passes = sum(
        evaluate_online_accuracy(labelled(), labelled(), "green", "blue", config).verdict == "pass"
        for _ in range(200)
    )
    assert passes / 200 >= 0.9
