"""CosmosOnlineFeatureStore against the Cosmos stand-in (@vercel/cosmosdb-server): vectors keyed by entity
id, versions side by side, what a lookup of an unknown entity answers, and what Cosmos receives."""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime

import pytest

from adapters.azure.feature_store import WORKERS, CosmosOnlineFeatureStore
from tests.integration.azure.test_cosmos_ledger import cosmos_client  # noqa: F401  (the stand-in, one per module)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_names = itertools.count()


@pytest.fixture
def store(cosmos_client) -> CosmosOnlineFeatureStore:  # noqa: F811
    return CosmosOnlineFeatureStore(
        CosmosOnlineFeatureStore.ensure_container(cosmos_client, "fs", f"features{next(_names)}")
    )


def test_a_materialized_vector_is_found_by_its_entity_id_and_an_unknown_entity_by_none(store):
    store.materialize(
        "churn",
        "dv-1",
        {"c1": {"age": 30, "contract": "one-year"}, "c2": {"age": 41, "contract": "two-year"}},
        entity_column="customer_id",
        ttl_seconds=3600,
        materialized_at=T0,
    )
    assert store.lookup("churn", "dv-1", ["c2", "nobody", "c1"]) == {
        "c2": {"age": 41, "contract": "two-year"},
        "nobody": None,
        "c1": {"age": 30, "contract": "one-year"},
    }


def test_versions_live_side_by_side_so_blue_and_green_each_read_their_own(store):
    store.materialize(
        "churn", "dv-1", {"c1": {"age": 30}}, entity_column="customer_id", ttl_seconds=60, materialized_at=T0
    )
    later = T0.replace(hour=13)
    store.materialize(
        "churn",
        "dv-2",
        {"c1": {"age": 31}},
        entity_column="customer_id",
        ttl_seconds=60,
        materialized_at=later,
    )
    assert store.lookup("churn", "dv-1", ["c1"]) == {"c1": {"age": 30}}
    assert store.lookup("churn", "dv-2", ["c1"]) == {"c1": {"age": 31}}
    assert [(v.version, v.entities, v.materialized_at) for v in store.versions("churn")] == [
        ("dv-2", 1, later),
        ("dv-1", 1, T0),
    ]


def test_each_vector_is_one_item_in_its_entitys_partition_with_the_policys_ttl(store):
    store.materialize(
        "churn",
        "dv-1",
        {"c1": {"age": 30}},
        entity_column="customer_id",
        ttl_seconds=604800,
        materialized_at=T0,
    )
    again = store.materialize(
        "churn",
        "dv-1",
        {"c1": {"age": 30}},
        entity_column="customer_id",
        ttl_seconds=604800,
        materialized_at=T0,
    )
    items = list(store._c.query_items("SELECT * FROM c WHERE c.entityId = 'c1'", partition_key="c1"))
    assert len(items) == 1  # an upsert: materializing again rewrites, never duplicates
    (item,) = items
    assert (item["id"], item["featureSet"], item["version"], item["ttl"]) == (
        "churn:dv-1",
        "churn",
        "dv-1",
        604800,
    )
    assert again.features == ["age"] and again.entity_column == "customer_id"


def test_a_materialization_reuses_its_connections_instead_of_opening_one_per_vector(store, caplog):
    """A Cosmos DB account keeps HTTP connections alive, and so does the stand-in as devstack starts it: with a
    connection per request (its CLI's `Connection: close`), each upsert paid a TLS handshake and a new SSL
    context, and the demo's 9,000-customer materialization took 6 minutes."""
    vectors = {f"c{i}": {"age": i} for i in range(300)}
    with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
        store.materialize(
            "churn", "dv-1", vectors, entity_column="customer_id", ttl_seconds=60, materialized_at=T0
        )
    opened = [r for r in caplog.records if "Starting new HTTPS connection" in r.getMessage()]
    dropped = [r for r in caplog.records if "Resetting dropped connection" in r.getMessage()]
    assert len(opened) <= WORKERS and not dropped, (len(opened), len(dropped))
    assert store.lookup("churn", "dv-1", ["c0", "c299"]) == {"c0": {"age": 0}, "c299": {"age": 299}}
