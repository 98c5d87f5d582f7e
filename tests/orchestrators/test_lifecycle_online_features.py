"""A lifecycle whose policy serves by entity id: its data version is materialized into the online feature
store before training, and the model version records the feature set it was trained with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import wiring
from core.kernel.policy import OnlineFeaturesPolicy
from tests.orchestrators.test_lifecycle import World, _good, lifecycle, run


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    w.policy = w.policy.model_copy(update={"online_features": OnlineFeaturesPolicy(ttl_seconds=86_400)})
    with wiring.override(
        settings=w.settings, policies={"churn": w.policy}, code_version="abc123", **w.fakes.as_overrides()
    ):
        yield w


def test_the_latest_vector_of_every_customer_is_materialized_as_the_data_version(world, tmp_path):
    status = run(tmp_path, lifecycle(_good(world)))
    assert status["output"]["status"] == "registered", status
    dv = status["output"]["data_version"]
    store = world.fakes.online_features
    (version,) = store.versions("churn")
    assert (version.version, version.entities, version.entity_column) == (dv, 400, "customer_id")
    assert "churned" not in version.features and "customer_id" not in version.features
    assert "tenure_months" in version.features
    some = next(k for k in store.vectors if k[:2] == ("churn", dv))
    assert store.ttl[some] == 86_400
    assert status["customStatus"]["feature_set_version"] == dv


def test_the_model_version_records_the_feature_set_version_it_was_trained_with(world, tmp_path):
    status = run(tmp_path, lifecycle(_good(world)))
    tags = world.fakes.registry.get("churn", "1").tags
    assert (tags["feature_set"], tags["feature_set_version"]) == ("churn", status["output"]["data_version"])
    assert tags["feature_set_version"] == tags["data_version"]


def test_a_policy_without_online_features_materializes_nothing_and_tags_no_feature_set(tmp_path):
    w = World(tmp_path)
    with wiring.override(
        settings=w.settings, policies={"churn": w.policy}, code_version="x", **w.fakes.as_overrides()
    ):
        status = run(tmp_path, lifecycle(_good(w)))
    assert status["output"]["status"] == "registered"
    assert w.fakes.online_features.versions("churn") == []
    assert "feature_set" not in w.fakes.registry.get("churn", "1").tags
