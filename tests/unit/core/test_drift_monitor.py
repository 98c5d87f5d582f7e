"""One drift check over the ports: the champion's training data is the reference, the champion's
logged inputs are the window, the fact lands in the ledger and the figures go where the alert rule reads."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from core.kernel.datafiles import PART
from core.kernel.policy import MonitoringPolicy, load_policy
from core.kernel.ports import ModelVersion
from core.kernel.records import PredictionRecord
from core.monitoring.figures import DriftFigure
from core.monitoring.monitor import SCORE_COLUMN, DriftMonitor, ledger_id
from samples.churn.data import generate
from samples.churn.features import to_features
from tests.fakes import FakeDataLake, FakeEndpoints, FakeModelRegistry, FakePredictionLog, FakeRunLedger

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "churn" / "policy.yaml"
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
MONITORING = MonitoringPolicy(
    transform="samples.churn.features:to_features",
    window_seconds=600,
    max_window_seconds=3600,
    min_rows=200,
    cooldown_seconds=3600,
)


class RecordedFigures:
    def __init__(self) -> None:
        self.rows: list[DriftFigure] = []

    def publish(self, figures):
        self.rows.extend(figures)


class World:
    def __init__(self) -> None:
        self.policy = load_policy(SAMPLE).model_copy(update={"monitoring": MONITORING})
        self.lake, self.registry, self.endpoints = FakeDataLake(), FakeModelRegistry(), FakeEndpoints()
        self.log, self.ledger, self.figures = (
            FakePredictionLog("churn-endpoint"),
            FakeRunLedger(),
            RecordedFigures(),
        )
        self.monitor = DriftMonitor(
            self.registry, self.lake, self.log, self.endpoints, self.ledger, self.figures
        )
        self.sent = 0

    def champion_trained_on(self, drift: float, data_version: str, deployment: str) -> ModelVersion:
        frame = generate(3000, seed=hash(data_version) % 1000, drift=drift)
        buffer = io.BytesIO()
        frame.to_parquet(buffer)
        self.lake.put("training", f"churn/{data_version}/train/{PART}", buffer.getvalue())
        model = self.registry.register(
            "churn", "runs:/x/model", {"data_version": data_version, "lifecycle_id": data_version}
        )
        self.registry.set_champion("churn", model.version)
        self.endpoints.begin_deploy("churn-endpoint", deployment, model)
        self.endpoints.set_traffic("churn-endpoint", {deployment: 100})
        return model

    def customers_scored(
        self,
        n: int,
        drift: float,
        deployment: str,
        version: str,
        minutes_ago: float = 5,
        score: Callable[[np.random.Generator, int], np.ndarray] | None = None,
        at: datetime = NOW,
    ) -> None:
        """n live customers scored by `deployment` over the last few minutes before `at` (the encoded
        rows the endpoint receives, with the customer id); their scores 0.3, or drawn by `score`."""
        customers = generate(n, seed=100 + self.sent, drift=drift)
        scores = score(np.random.default_rng(self.sent), n) if score else np.full(n, 0.3)
        rows = to_features(customers)
        rows.insert(0, "customer_id", customers["customer_id"].to_numpy())
        for i, row in enumerate(rows.to_dict(orient="records")):
            when = at - timedelta(minutes=minutes_ago) + timedelta(seconds=i * minutes_ago * 60 / n)
            self.log.add(
                PredictionRecord(
                    f"r{self.sent + i}",
                    deployment,
                    version,
                    f"{row['customer_id']}-{self.sent}",  # a new customer each call
                    float(scores[i]),
                    when.isoformat(),
                    inputs=row,
                )
            )
        self.sent += n

    def check(self, at: datetime = NOW):
        return self.monitor.check(self.policy, at, f"churn:{at.isoformat()}")


@pytest.fixture
def world() -> World:
    return World()


def test_live_customers_who_drifted_raise_the_alert_with_per_feature_figures(world):
    champion = world.champion_trained_on(drift=0.0, data_version="dv-0", deployment="blue")
    world.customers_scored(400, drift=1.0, deployment="blue", version=champion.version)

    fact = world.check()

    assert fact is not None and fact.verdict == "drift" and fact.alert
    assert fact.reference_version == champion.version and fact.reference_data == "dv-0"
    assert "monthly_charges" in {c.column for c in fact.columns if c.drifted}
    assert "customer_id" not in {c.column for c in fact.columns}  # the entity id is no feature
    entries = world.ledger.entries(ledger_id("churn"), "monitor")
    assert [e.data["kind"] for e in entries] == ["score_reference_set", "drift_evaluated"]
    assert entries[1].data["alert"] is True
    assert {r.FeatureName for r in world.figures.rows} == {c.column for c in fact.columns}
    assert all(r.Alert and r.Verdict == "drift" and r.Model == "churn" for r in world.figures.rows)


def test_live_customers_like_the_training_data_raise_no_alert(world):
    champion = world.champion_trained_on(drift=0.0, data_version="dv-0", deployment="blue")
    world.customers_scored(400, drift=0.0, deployment="blue", version=champion.version)

    fact = world.check()

    assert fact is not None and fact.verdict == "no_drift" and not fact.alert
    assert not any(r.Alert for r in world.figures.rows)


def test_a_doubled_tick_checks_an_occurrence_once(world):
    champion = world.champion_trained_on(drift=0.0, data_version="dv-0", deployment="blue")
    world.customers_scored(300, drift=0.0, deployment="blue", version=champion.version)
    assert world.check() is not None
    assert world.check() is None
    kinds = [e.data["kind"] for e in world.ledger.entries(ledger_id("churn"), "monitor")]
    assert kinds.count("drift_evaluated") == 1


def test_drift_still_seen_within_the_cooldown_does_not_alert_again(world):
    champion = world.champion_trained_on(drift=0.0, data_version="dv-0", deployment="blue")
    world.customers_scored(400, drift=1.0, deployment="blue", version=champion.version)
    assert world.check().alert
    world.customers_scored(400, drift=1.0, deployment="blue", version=champion.version, minutes_ago=1)
    again = world.check(NOW + timedelta(minutes=10))
    assert again is not None and again.verdict == "cooling_down" and not again.alert


def test_a_new_champion_trained_on_the_drifted_data_becomes_the_reference_and_the_alerts_stop(world):
    old = world.champion_trained_on(drift=0.0, data_version="dv-0", deployment="blue")
    world.customers_scored(400, drift=1.0, deployment="blue", version=old.version)
    assert world.check().alert
    new = world.champion_trained_on(drift=1.0, data_version="dv-1", deployment="green")
    later = NOW + timedelta(hours=2)  # past the cooldown: only the reference can keep it quiet
    for i in range(400):
        at = later - timedelta(minutes=5) + timedelta(seconds=i * 0.75)
        world.log.add(
            PredictionRecord(f"n{i}", "green", new.version, None, 0.3, at.isoformat(), inputs=_drifted_row(i))
        )
    fact = world.check(later)
    assert fact is not None and fact.reference_version == new.version and fact.reference_data == "dv-1"
    assert fact.verdict == "no_drift"


def _drifted_row(i: int) -> dict:
    return to_features(generate(1, seed=5000 + i, drift=1.0)).iloc[0].to_dict()


def test_too_few_logged_rows_is_need_more_data_and_mirrored_copies_do_not_count(world):
    champion = world.champion_trained_on(drift=0.0, data_version="dv-0", deployment="blue")
    world.customers_scored(150, drift=1.0, deployment="blue", version=champion.version)
    world.log.add(
        *[
            PredictionRecord(f"m{i}", "blue", champion.version, None, 0.3, (NOW - timedelta(minutes=1)).isoformat(),
                             mirrored=True, inputs={"tenure_months": 1.0})
            for i in range(300)
        ]
    )  # fmt: skip
    fact = world.check()
    assert fact is not None and fact.verdict == "need_more_data" and fact.rows == 150


def test_no_champion_means_nothing_to_watch(world):
    assert world.check() is None and world.figures.rows == []


def test_a_champion_without_its_training_data_version_is_an_error_that_says_why(world):
    model = world.registry.register("churn", "runs:/x/model", {})
    world.registry.set_champion("churn", model.version)
    with pytest.raises(ValueError, match="no data_version tag"):
        world.check()


def test_features_the_reference_does_not_have_are_refused_with_the_columns_it_has(world):
    world.champion_trained_on(drift=0.0, data_version="dv-0", deployment="blue")
    world.policy = world.policy.model_copy(
        update={"monitoring": MONITORING.model_copy(update={"features": ["shoe_size"]})}
    )
    with pytest.raises(ValueError, match="shoe_size"):
        world.check()


def test_the_reference_is_the_champions_training_split_encoded_as_the_endpoint_receives_it(world):
    world.champion_trained_on(drift=0.0, data_version="dv-0", deployment="blue")
    reference = world.monitor.reference(world.policy, world.registry.champion("churn"))
    assert "tenure_months" in reference.columns and "contract=one-year" in reference.columns
    assert all(r.rows == 3000 for r in reference.columns.values())


def test_a_customer_scored_again_and_again_counts_once(world):
    champion = world.champion_trained_on(drift=0.0, data_version="dv-0", deployment="blue")
    row = to_features(generate(1, seed=3)).iloc[0].to_dict()
    at = (NOW - timedelta(minutes=1)).isoformat()
    world.log.add(
        *[PredictionRecord(f"p{i}", "blue", champion.version, "C-1", 0.3, at, inputs=row) for i in range(500)]
    )
    fact = world.check()
    assert fact is not None and fact.rows == 1 and fact.verdict == "need_more_data"


def test_a_check_another_process_made_before_a_restart_is_not_made_again(world):
    champion = world.champion_trained_on(drift=0.0, data_version="dv-0", deployment="blue")
    world.customers_scored(300, drift=0.0, deployment="blue", version=champion.version)
    assert world.check() is not None
    restarted = DriftMonitor(
        world.registry, world.lake, world.log, world.endpoints, world.ledger, world.figures
    )
    assert restarted.check(world.policy, NOW, f"churn:{NOW.isoformat()}") is None


def _scores(mean: float) -> Callable[[np.random.Generator, int], np.ndarray]:
    return lambda rng, n: np.clip(rng.normal(mean, 0.1, n), 0, 1)


def test_the_champions_first_window_becomes_its_score_reference_and_a_shifted_score_alerts(world):
    """Inputs stay like the training data; the score moves (what a broken upstream join or a label
    shift shows first): the score column alerts, against the champion's own first window."""
    champion = world.champion_trained_on(drift=0.0, data_version="dv-0", deployment="blue")
    world.customers_scored(400, drift=0.0, deployment="blue", version=champion.version, score=_scores(0.3))
    first = world.check()
    assert first is not None and SCORE_COLUMN not in {c.column for c in first.columns}  # not judged on itself
    [reference] = [e.data for e in world.ledger.entries(ledger_id("churn"), "monitor")
                   if e.data["kind"] == "score_reference_set"]  # fmt: skip
    assert (reference["version"], reference["rows"]) == (champion.version, 400)

    later = NOW + timedelta(hours=1)
    world.customers_scored(
        400, drift=0.0, deployment="blue", version=champion.version, score=_scores(0.3), at=later
    )
    same = world.check(later)
    assert same is not None and not same.alert
    assert next(c for c in same.columns if c.column == SCORE_COLUMN).rows == 400

    shifted = NOW + timedelta(hours=2)
    world.customers_scored(
        400, drift=0.0, deployment="blue", version=champion.version, score=_scores(0.5), at=shifted
    )
    fact = world.check(shifted)
    assert fact is not None and fact.alert
    assert {c.column for c in fact.columns if c.drifted} == {SCORE_COLUMN}
    assert SCORE_COLUMN in {r.FeatureName for r in world.figures.rows if r.Alert}


def test_the_score_reference_survives_a_restart_and_a_new_champion_gets_its_own(world):
    champion = world.champion_trained_on(drift=0.0, data_version="dv-0", deployment="blue")
    world.customers_scored(400, drift=0.0, deployment="blue", version=champion.version, score=_scores(0.3))
    world.check()
    restarted = DriftMonitor(
        world.registry, world.lake, world.log, world.endpoints, world.ledger, world.figures
    )
    later = NOW + timedelta(hours=2)
    world.customers_scored(
        400, drift=0.0, deployment="blue", version=champion.version, score=_scores(0.5), at=later
    )
    fact = restarted.check(world.policy, later, f"churn:{later.isoformat()}")
    assert fact is not None and SCORE_COLUMN in {c.column for c in fact.columns if c.drifted}

    new = world.champion_trained_on(drift=0.0, data_version="dv-1", deployment="green")
    newer = NOW + timedelta(hours=30)  # past the cooldown
    world.customers_scored(
        400, drift=0.0, deployment="green", version=new.version, score=_scores(0.5), at=newer
    )
    fact = restarted.check(world.policy, newer, f"churn:{newer.isoformat()}")
    assert fact is not None and SCORE_COLUMN not in {
        c.column for c in fact.columns
    }  # its reference is set now
    versions = [e.data["version"] for e in world.ledger.entries(ledger_id("churn"), "monitor")
                if e.data["kind"] == "score_reference_set"]  # fmt: skip
    assert versions == [champion.version, new.version]


def test_with_score_off_only_the_inputs_are_watched(world):
    world.policy = world.policy.model_copy(
        update={"monitoring": MONITORING.model_copy(update={"score": False})}
    )
    champion = world.champion_trained_on(drift=0.0, data_version="dv-0", deployment="blue")
    world.customers_scored(400, drift=0.0, deployment="blue", version=champion.version, score=_scores(0.3))
    fact = world.check()
    assert fact is not None and SCORE_COLUMN not in {c.column for c in fact.columns}
    assert [e.data["kind"] for e in world.ledger.entries(ledger_id("churn"), "monitor")] == [
        "drift_evaluated"
    ]
