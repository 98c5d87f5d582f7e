"""Materialize a data version into the online feature store: the latest vector per entity.

The vectors are the contract's columns less the label and the id (the id is the key), taken from the
training data both ingestion paths write (training/{model}/{data version}/train|eval/). With an id
column each entity sits on one side of the split, so the last row of an entity in that order is its
latest. Values are made JSON-native (numpy scalars and NaN do not survive a Cosmos document).
"""

from __future__ import annotations

import importlib
import io
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from core.kernel.contract import DataContract
from core.kernel.datafiles import IngestResult
from core.kernel.policy import OnlineFeaturesPolicy, Policy
from core.kernel.ports import DataLake, FeatureSetVersion, OnlineFeatureStore


class FeatureStoreError(ValueError):
    """The policy asks for online features the data cannot give (no id column, no data)."""


def online_features(policy: Policy) -> OnlineFeaturesPolicy:
    if policy.online_features is None:
        raise FeatureStoreError(f"policy {policy.model!r} has no online_features section")
    return policy.online_features


def feature_columns(contract: DataContract) -> list[str]:
    return [c for c in contract.column_names if c not in (contract.label, contract.id_column)]


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):  # numpy scalar
        return _plain(value.item())
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    return value


Transform = Callable[[pd.DataFrame], pd.DataFrame]


def load_transform(spec: str | None) -> Transform | None:
    """The policy's `online_features.transform` ('package.module:function'), imported from the app."""
    if spec is None:
        return None
    module, _, name = spec.partition(":")
    found = getattr(importlib.import_module(module), name, None)
    if not callable(found):
        raise FeatureStoreError(f"online_features.transform {spec!r}: {module} has no function {name!r}")
    return found


def latest_vectors(
    frame: pd.DataFrame, contract: DataContract, transform: Transform | None = None
) -> dict[str, dict[str, Any]]:
    """entity id -> its last row's features (through `transform`: what the model takes), in the frame's order."""
    if contract.id_column is None:
        raise FeatureStoreError(
            f"contract {contract.name!r} has no id_column: online features are keyed by entity id"
        )
    latest = frame.drop_duplicates(subset=[contract.id_column], keep="last").reset_index(drop=True)
    features = latest[feature_columns(contract)]
    if transform is not None:
        features = transform(features).reset_index(drop=True)
    columns = [str(c) for c in features.columns]
    ids = latest[contract.id_column].astype(str).tolist()
    return {
        entity: {c: _plain(v) for c, v in zip(columns, row, strict=True)}
        for entity, row in zip(ids, features.itertuples(index=False, name=None), strict=True)
    }


def _read_folder(lake: DataLake, container: str, prefix: str) -> list[pd.DataFrame]:
    parts = sorted(b.path for b in lake.list(container, prefix) if b.path.endswith(".parquet") and b.size > 0)
    return [pq.read_table(io.BytesIO(lake.read(container, p))).to_pandas() for p in parts]


def materialize(
    lake: DataLake,
    store: OnlineFeatureStore,
    policy: Policy,
    contract: DataContract,
    data: IngestResult,
    now: datetime,
) -> FeatureSetVersion:
    """Upsert the latest vector of every entity of `data` as feature set version = its data version."""
    config = online_features(policy)
    if data.status != "accepted" or not (data.data_version and data.train_ref and data.eval_ref):
        raise FeatureStoreError("only accepted data is materialized")
    frames = [
        *_read_folder(lake, data.train_ref.container, data.train_ref.path),
        *_read_folder(lake, data.eval_ref.container, data.eval_ref.path),
    ]
    if not frames:
        raise FeatureStoreError(f"no training data under {data.train_ref.path} to materialize")
    vectors = latest_vectors(pd.concat(frames, ignore_index=True), contract, load_transform(config.transform))
    assert contract.id_column is not None
    return store.materialize(
        config.name(policy.model),
        data.data_version,
        vectors,
        entity_column=contract.id_column,
        ttl_seconds=config.ttl_seconds,
        materialized_at=now,
    )
