"""Online accuracy on delayed labels: green's live metric vs blue's, never a pass on missing labels."""

from __future__ import annotations

import numpy as np
import pytest

from core.kernel.records import LabelRecord, PredictionRecord
from core.rollout.accuracy_gate import (
    OnlineAccuracyConfig,
    auc_with_variance,
    evaluate_online_accuracy,
)
from core.rollout.predictions import LabelledScore, join_labels


def labelled(rng, n, skill, prefix):
    """Scores whose AUC grows with `skill` (0: random)."""
    y = (rng.random(n) < 0.3).astype(int)
    z = skill * (2 * y - 1) + rng.normal(0, 1, n)
    return [
        LabelledScore(f"{prefix}{i}", float(1 / (1 + np.exp(-s))), int(lab))
        for i, (s, lab) in enumerate(zip(z, y, strict=True))
    ]


@pytest.mark.parametrize("metric", ["auc", "accuracy"])
def test_a_green_worse_on_live_labels_fails(metric):
    rng = np.random.default_rng(1)
    v = evaluate_online_accuracy(
        labelled(rng, 1500, 0.3, "g"),
        labelled(rng, 1500, 1.2, "b"),
        "green",
        "blue",
        OnlineAccuracyConfig(metric=metric),
    )
    assert v.verdict == "fail"
    assert v.green_value < v.blue_value and v.difference > 0
    assert v.fail_e_value >= v.fail_threshold


@pytest.mark.parametrize("metric", ["auc", "accuracy"])
def test_an_equal_green_passes_with_enough_labels(metric):
    rng = np.random.default_rng(2)
    v = evaluate_online_accuracy(
        labelled(rng, 4000, 1.0, "g"),
        labelled(rng, 4000, 1.0, "b"),
        "green",
        "blue",
        OnlineAccuracyConfig(metric=metric),
    )
    assert v.verdict == "pass"


def test_missing_labels_are_never_a_pass():
    rng = np.random.default_rng(3)
    config = OnlineAccuracyConfig(min_labels=200)
    none = evaluate_online_accuracy([], labelled(rng, 500, 1.0, "b"), "green", "blue", config)
    assert none.verdict == "need_more_data" and "waiting for labels" in none.reasons[0]
    one_class = [LabelledScore(f"g{i}", 0.9, 1) for i in range(500)]
    v = evaluate_online_accuracy(one_class, labelled(rng, 500, 1.0, "b"), "green", "blue", config)
    assert v.verdict == "need_more_data" and "of each class" in v.reasons[0]
    few = evaluate_online_accuracy(
        labelled(rng, 150, 1.0, "g"), labelled(rng, 150, 1.0, "b"), "green", "blue", config
    )
    assert few.verdict != "pass"


def test_the_auc_and_its_delong_variance_match_the_textbook():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.55, 0.5, 0.4, 0.3, 0.2, 0.1])
    labels = np.array([1, 1, 0, 1, 0, 1, 0, 0, 0, 0])
    auc, var = auc_with_variance(scores, labels)
    assert auc == pytest.approx(21 / 24)  # 21 of the 24 positive-negative pairs ordered right
    assert 0 < var < 0.05


def test_labels_join_live_predictions_on_the_entity_id_first_answer_first():
    records = [
        PredictionRecord("r1", "green", "2", "c1", 0.7, "2026-03-01T00:00:01"),
        PredictionRecord("r2", "green", "2", "c1", 0.2, "2026-03-01T00:00:05"),
        PredictionRecord("r3", "green", "2", "c2", 0.6, "2026-03-01T00:00:02", mirrored=True),
        PredictionRecord("r4", "blue", "1", "c3", 0.1, "2026-03-01T00:00:03"),
        PredictionRecord("r5", "green", "2", "c4", 0.3, "2026-03-01T00:00:04"),
    ]
    labels = [
        LabelRecord("c1", 1, "2026-03-02"),
        LabelRecord("c2", 0, "2026-03-02"),
        LabelRecord("c3", 0, "t"),
    ]
    assert join_labels(records, labels, "green") == [LabelledScore("c1", 0.7, 1)]


def test_a_label_older_than_the_prediction_is_an_earlier_outcome_and_is_not_joined():
    records = [
        PredictionRecord("r1", "green", "2", "c1", 0.7, "2026-03-01T12:00:00+00:00"),
        PredictionRecord("r2", "green", "2", "c2", 0.4, "2026-03-01T12:00:00+00:00"),
    ]
    labels = [
        LabelRecord("c1", 0, "2026-02-01T00:00:00Z"),  # the customer's outcome last month: stale
        LabelRecord("c1", 1, "2026-03-02T00:00:00Z"),
        LabelRecord("c2", 1, "2026-02-01T00:00:00Z"),  # only a stale label: c2 waits for its own
    ]
    assert join_labels(records, labels, "green") == [LabelledScore("c1", 0.7, 1)]


def test_the_policy_needs_an_entity_id_for_online_accuracy_and_old_policies_stay_valid():
    from core.kernel.policy import GatesPolicy, OnlineAccuracyGate

    with pytest.raises(ValueError, match="entity_id_column"):
        GatesPolicy(online_accuracy=OnlineAccuracyGate(labels_prefix="churn-labels/"))
    gates = GatesPolicy(
        entity_id_column="customer_id", online_accuracy=OnlineAccuracyGate(labels_prefix="l/")
    )
    assert gates.online_accuracy is not None and gates.online_accuracy.on_label_deadline == "rollback"
    assert GatesPolicy().shadow is None and GatesPolicy().online_accuracy is None
