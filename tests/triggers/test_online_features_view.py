"""The model view shows the online feature set: the version the champion serves, the newest one and its age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import triggers.operator_api as api
from core.kernel.policy import OnlineFeaturesPolicy
from tests.triggers.test_operator_api import call


def _serve_online(policies) -> None:
    policies["churn"] = policies["churn"].model_copy(update={"online_features": OnlineFeaturesPolicy()})


def test_the_model_view_shows_the_feature_set_the_champion_serves_and_how_fresh_the_newest_is(
    fakes, client, policies
):
    _serve_online(policies)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    fakes.online_features.materialize(
        "churn", "dv-1", {"c1": {"age": 1}}, entity_column="customer_id", ttl_seconds=60,
        materialized_at=an_hour_ago - timedelta(days=1),
    )  # fmt: skip
    fakes.online_features.materialize(
        "churn", "dv-2", {"c1": {"age": 2}, "c2": {"age": 3}}, entity_column="customer_id", ttl_seconds=60,
        materialized_at=an_hour_ago,
    )  # fmt: skip
    champion = fakes.registry.register(
        "churn", "runs:/a/model", {"lifecycle_id": "r1", "feature_set_version": "dv-1"}
    )
    fakes.registry.set_champion("churn", champion.version)

    status, body = call(api.operator_model, client, route={"model": "churn"})
    assert status == 200
    features = body["online_features"]
    assert (features["feature_set"], features["serving_version"], features["latest_version"]) == (
        "churn",
        "dv-1",
        "dv-2",
    )
    assert features["latest_entities"] == 2 and features["serving_is_latest"] is False
    assert 3500 < features["freshness_seconds"] < 3700


def test_a_model_without_online_features_shows_none_and_a_down_store_shows_why(fakes, client, policies):
    status, body = call(api.operator_model, client, route={"model": "churn"})
    assert body["online_features"] is None
    _serve_online(policies)

    def down(name):
        raise ConnectionError("feature store not reachable")

    fakes.online_features.versions = down
    status, body = call(api.operator_model, client, route={"model": "churn"})
    assert status == 200 and "not reachable" in body["online_features"]["unavailable"]
