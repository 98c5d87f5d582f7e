"""OnlineFeatureStore on Azure Cosmos DB (azure-cosmos): the online feature store of the reference
deployment ("online feature vectors keyed by entity IDs for low-latency lookups").

One container, partition key `/entityId`, so an entity's vectors of every version and feature set live in
one logical partition and a lookup is a single-partition read. Items:

    {featureSet}:{version}        entityId={id}                 the vector (ttl = the policy's TTL)
    version:{featureSet}:{version} entityId=_featureset:{name}  the version's record (written last)

The container has TTL on with no default (`defaultTtl: -1`, infra/app/featurestore.bicep), so each vector
expires `ttl` seconds after its last upsert and version records never do. Upserts run in parallel
(azure-cosmos for Python has no bulk executor) on WORKERS threads, no more than the 10 connections the
requests pool of azure-core keeps (more threads open and discard a TLS connection per request); each is
idempotent, so a retried materialization rewrites the same items. Lookups are single-partition queries rather than point reads because the
@vercel/cosmosdb-server stand-in answers a missing point read with 500, not 404 (see adapters/azure/ledger.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from azure.cosmos import ContainerProxy, CosmosClient, PartitionKey

from core.kernel.ports import FeatureSetVersion

DEFAULT_CONTAINER = "features"
PARTITION_PATH = "/entityId"
WORKERS = 8


def _version_partition(feature_set: str) -> str:
    return f"_featureset:{feature_set}"


class CosmosOnlineFeatureStore:
    def __init__(self, container: ContainerProxy, *, workers: int = WORKERS) -> None:
        self._c = container
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="features")

    @classmethod
    def connect(
        cls,
        endpoint: str,
        credential: Any,
        database: str,
        container: str = DEFAULT_CONTAINER,
        **client_kwargs: Any,
    ) -> CosmosOnlineFeatureStore:
        """Azure: a token credential with the data-plane role (infra creates the container). Locally: the
        Cosmos stand-in's key, and the container is created if missing."""
        client = CosmosClient(endpoint, credential=credential, **client_kwargs)
        if isinstance(credential, str):
            return cls(cls.ensure_container(client, database, container))
        return cls(client.get_database_client(database).get_container_client(container))

    @staticmethod
    def ensure_container(
        client: CosmosClient, database: str, container: str = DEFAULT_CONTAINER
    ) -> ContainerProxy:
        db = client.create_database_if_not_exists(database)
        return db.create_container_if_not_exists(
            id=container, partition_key=PartitionKey(path=PARTITION_PATH), default_ttl=-1
        )

    def materialize(
        self,
        feature_set: str,
        version: str,
        vectors: dict[str, dict[str, Any]],
        *,
        entity_column: str,
        ttl_seconds: int,
        materialized_at: datetime,
    ) -> FeatureSetVersion:
        at = materialized_at.isoformat()

        def upsert(item: tuple[str, dict[str, Any]]) -> None:
            entity, features = item
            self._c.upsert_item(
                {
                    "id": f"{feature_set}:{version}",
                    "entityId": entity,
                    "featureSet": feature_set,
                    "version": version,
                    "features": features,
                    "materializedAt": at,
                    "ttl": ttl_seconds,
                }
            )

        for _ in self._pool.map(upsert, vectors.items()):
            pass
        names = sorted({k for v in vectors.values() for k in v})
        record = FeatureSetVersion(feature_set, version, len(vectors), materialized_at, entity_column, names)
        self._c.upsert_item(
            {
                "id": f"version:{feature_set}:{version}",
                "entityId": _version_partition(feature_set),
                "featureSet": feature_set,
                "version": version,
                "entities": record.entities,
                "materializedAt": at,
                "entityColumn": entity_column,
                "features": names,
            }
        )
        return record

    def _one(self, feature_set: str, version: str, entity: str) -> dict[str, Any] | None:
        items = list(
            self._c.query_items(
                "SELECT * FROM c WHERE c.entityId = @e AND c.id = @id",
                parameters=[
                    {"name": "@e", "value": entity},
                    {"name": "@id", "value": f"{feature_set}:{version}"},
                ],
                partition_key=entity,
            )
        )
        return items[0]["features"] if items else None

    def lookup(
        self, feature_set: str, version: str, entity_ids: list[str]
    ) -> dict[str, dict[str, Any] | None]:
        unique = list(dict.fromkeys(entity_ids))
        found = self._pool.map(lambda e: self._one(feature_set, version, e), unique)
        return dict(zip(unique, found, strict=True))

    def versions(self, feature_set: str) -> list[FeatureSetVersion]:
        partition = _version_partition(feature_set)
        items: Iterable[dict[str, Any]] = self._c.query_items(
            "SELECT * FROM c WHERE c.entityId = @p",
            parameters=[{"name": "@p", "value": partition}],
            partition_key=partition,
        )
        out = [
            FeatureSetVersion(
                i["featureSet"],
                i["version"],
                int(i["entities"]),
                datetime.fromisoformat(i["materializedAt"]),
                i["entityColumn"],
                list(i.get("features", [])),
            )
            for i in items
        ]
        return sorted(out, key=lambda v: v.materialized_at, reverse=True)
