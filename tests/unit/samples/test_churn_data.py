"""The churn data generator: reproducible, drift that really changes the world, malformed files."""

from __future__ import annotations

import pandas as pd
import pytest

from samples.churn import data
from samples.churn.features import CATEGORIES, FEATURES, LABEL, to_features


def test_the_same_seed_gives_the_same_rows_and_another_seed_does_not() -> None:
    a = data.generate(rows=300, seed=7, noise=0.05, drift=0.3)
    b = data.generate(rows=300, seed=7, noise=0.05, drift=0.3)
    c = data.generate(rows=300, seed=8, noise=0.05, drift=0.3)
    pd.testing.assert_frame_equal(a, b)
    assert not a.drop(columns="customer_id").equals(c.drop(columns="customer_id"))
    assert data.to_csv_bytes(a) == data.to_csv_bytes(b)


def test_rows_have_the_documented_columns_and_stay_in_range() -> None:
    frame = data.generate(rows=2000, seed=1, drift=1.0)
    assert tuple(frame.columns) == data.COLUMNS
    assert frame["customer_id"].is_unique
    assert not frame.isna().any().any()
    for column, (low, high) in data.RANGES.items():
        assert frame[column].between(low, high).all(), column
    for column, values in CATEGORIES.items():
        assert set(frame[column]) <= set(values), column
    assert 0.15 < frame[LABEL].mean() < 0.5


def test_drift_moves_the_feature_distributions() -> None:
    before = data.generate(rows=4000, seed=1, drift=0.0)
    after = data.generate(rows=4000, seed=1, drift=1.0)
    assert after["monthly_charges"].mean() > before["monthly_charges"].mean() + 8
    assert after["support_calls"].mean() > before["support_calls"].mean() + 0.5
    assert (after["internet_service"] == "fiber-optic").mean() > (
        before["internet_service"] == "fiber-optic"
    ).mean() + 0.1


def test_drift_changes_who_churns_not_only_how_many() -> None:
    """Older customers churned less before the drift and more after it: the label relationship flips."""
    before = data.generate(rows=6000, seed=2, drift=0.0)
    after = data.generate(rows=6000, seed=2, drift=1.0)

    def old_minus_young(frame: pd.DataFrame) -> float:
        return frame.loc[frame["age"] >= 55, LABEL].mean() - frame.loc[frame["age"] <= 35, LABEL].mean()

    assert old_minus_young(before) < -0.05
    assert old_minus_young(after) > 0.1


def test_noise_flips_labels() -> None:
    clean = data.generate(rows=3000, seed=3, noise=0.0)
    noisy = data.generate(rows=3000, seed=3, noise=0.3)
    assert 0.2 < (clean[LABEL] != noisy[LABEL]).mean() < 0.4


@pytest.mark.parametrize("kwargs", [{"rows": 0}, {"noise": 0.7}, {"drift": 1.5}])
def test_out_of_range_options_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        data.generate(**kwargs)  # type: ignore[arg-type]


def test_malformed_files_break_in_the_named_way() -> None:
    good = data.generate(rows=200, seed=4)
    missing = data.corrupt(good, "missing_column")
    assert "monthly_charges" not in missing.columns

    bad_types = data.corrupt(good, "bad_types", fraction=0.1, seed=1)
    as_numbers = pd.to_numeric(bad_types["tenure_months"], errors="coerce")
    assert as_numbers.isna().sum() == 20

    out_of_range = data.corrupt(good, "out_of_range", fraction=0.05)
    assert (~out_of_range["age"].astype(int).between(18, 90)).sum() == 10
    assert (out_of_range["contract"] == "lifetime").sum() == 10

    nulls = data.corrupt(good, "nulls", fraction=0.05)
    assert nulls["support_calls"].isna().sum() == 10
    with pytest.raises(ValueError, match="unknown malformed kind"):
        data.corrupt(good, "sideways")


def test_the_cli_writes_the_same_csv_as_the_function(tmp_path) -> None:
    out = tmp_path / "raw" / "batch.csv"
    assert data.main(["--rows", "50", "--seed", "9", "--drift", "0.5", "--out", str(out)]) == 0
    assert out.read_bytes() == data.to_csv_bytes(data.generate(50, 9, 0.02, 0.5))
    bad = tmp_path / "bad.csv"
    data.main(["--rows", "50", "--malformed", "missing_column", "--out", str(bad)])
    assert "monthly_charges" not in pd.read_csv(bad).columns


def test_features_encode_categories_against_fixed_vocabularies() -> None:
    frame = data.generate(rows=20, seed=5)
    frame.loc[0, "contract"] = "Two-Year "  # tolerant of case and spaces
    frame.loc[1, "internet_service"] = "satellite"  # unseen: all zeros, not a new column
    encoded = to_features(frame)
    assert tuple(encoded.columns) == FEATURES
    assert (encoded.dtypes == "float64").all()
    assert encoded.loc[0, "contract=two-year"] == 1.0
    assert encoded.filter(like="internet_service=").loc[1].sum() == 0.0
    assert to_features(encoded).equals(encoded)  # already-encoded input passes through
    with pytest.raises(ValueError, match="missing the churn feature columns"):
        to_features(frame.drop(columns=["age"]))


def test_delayed_labels_name_each_scored_customer_once_after_it_was_scored() -> None:
    from datetime import UTC, datetime

    customers = data.generate(rows=500, seed=3, drift=1.0).drop(columns=LABEL)
    scored = datetime(2026, 3, 1, tzinfo=UTC)
    labels = data.delayed_labels(customers, drift=1.0, seed=4, scored_at=scored, delay_seconds=(60, 120))
    assert list(labels.columns) == ["customer_id", LABEL, "label_time"]
    assert sorted(labels["customer_id"]) == sorted(customers["customer_id"])
    times = pd.to_datetime(labels["label_time"])
    assert times.min() >= pd.Timestamp(scored) + pd.Timedelta(seconds=60)
    assert times.is_monotonic_increasing and set(labels[LABEL]) <= {0, 1}


def test_in_the_worse_live_accuracy_world_the_drift_trained_model_loses_on_live_labels() -> None:
    """The drifted world's own truth stands for a challenger trained on the drifted batch, the
    original world's for the champion: the challenger wins on drifted data, loses on live labels."""
    from datetime import UTC, datetime

    from sklearn.metrics import roc_auc_score

    def aucs(live_drift: float) -> tuple[float, float]:
        customers = data.generate(rows=6000, seed=5, drift=live_drift).drop(columns=LABEL)
        labels = data.delayed_labels(
            customers, drift=live_drift, seed=6, scored_at=datetime(2026, 3, 1, tzinfo=UTC)
        )
        y = customers[["customer_id"]].merge(labels, on="customer_id")[LABEL]
        challenger = roc_auc_score(y, data.churn_probability(customers, 1.0))
        champion = roc_auc_score(y, data.churn_probability(customers, 0.0))
        return challenger, champion

    challenger, champion = aucs(data.live_drift(1.0, worse_live_accuracy=False))
    assert challenger > champion + 0.05
    challenger, champion = aucs(data.live_drift(1.0, worse_live_accuracy=True))
    assert challenger < champion - 0.05


def test_the_cli_writes_labels_for_a_customers_file(tmp_path) -> None:
    customers = tmp_path / "scored.csv"
    data.generate(rows=50, seed=1).drop(columns=LABEL).to_csv(customers, index=False)
    out = tmp_path / "labels" / "1.csv"
    argv = ["--labels-for", str(customers), "--scored-at", "2026-03-01T00:00:00+00:00", "--out", str(out)]
    assert data.main([*argv, "--worse-live-accuracy"]) == 0
    assert len(pd.read_csv(out)) == 50
