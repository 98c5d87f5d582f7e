"""Serving by entity id: what a deployment is told about its online features, and how a request that
carries only entity ids gets its features.

A model version records the feature set and version it was trained with (lineage tags written by the
lifecycle); its deployment gets them as environment variables, so blue and green each read their own
version and a rollout covers features too. The filling rule is pure (a lookup function in, a frame or
per-row errors out): the local endpoint stand-in uses it, and a scoring wrapper on Azure would too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

FEATURE_SET_ENV = "FEATURE_SET"
FEATURE_SET_VERSION_ENV = "FEATURE_SET_VERSION"
ENTITY_COLUMN_ENV = "FEATURE_ENTITY_COLUMN"
TAGS = {
    "feature_set": FEATURE_SET_ENV,
    "feature_set_version": FEATURE_SET_VERSION_ENV,
    "feature_entity_column": ENTITY_COLUMN_ENV,
}

Lookup = Callable[[str, str, list[str]], Mapping[str, Mapping[str, Any] | None]]


def feature_environment(tags: Mapping[str, str]) -> dict[str, str]:
    """The deployment's environment for a model version's feature lineage ({} for a model without one)."""
    if not tags.get("feature_set") or not tags.get("feature_set_version"):
        return {}
    return {env: tags[tag] for tag, env in TAGS.items() if tags.get(tag)}


def needs_features(frame: pd.DataFrame, entity_column: str) -> bool:
    """A request that carries only the entity id needs its features; one that carries features keeps them."""
    return entity_column in frame.columns and set(frame.columns) <= {entity_column}


def fill_features(
    frame: pd.DataFrame, environment: Mapping[str, str], lookup: Lookup
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """(the frame to score, per-row errors). Errors name each row whose entity the deployment's feature
    set version does not know; then nothing is scored (a partial answer would hide the miss)."""
    feature_set, version = environment.get(FEATURE_SET_ENV), environment.get(FEATURE_SET_VERSION_ENV)
    entity_column = environment.get(ENTITY_COLUMN_ENV, "")
    if not (feature_set and version and entity_column) or not needs_features(frame, entity_column):
        return frame, []
    ids = ["" if pd.isna(v) else str(v) for v in frame[entity_column].tolist()]
    found = lookup(feature_set, version, sorted(set(ids)))
    errors = [
        {
            "row": row,
            "entity_id": entity,
            "code": "UnknownEntity",
            "message": f"entity {entity!r} has no features in feature set {feature_set} version {version}",
        }
        for row, entity in enumerate(ids)
        if found.get(entity) is None
    ]
    if errors:
        return frame, errors
    filled = pd.DataFrame([dict(found[entity] or {}) for entity in ids])
    # JSON (Cosmos) keeps no int/float distinction: 20.0 comes back as 20. Numeric features go back to
    # float64, what the vectors held (a model whose signature wants integer columns is not served this way)
    for column in filled.columns:
        if pd.api.types.is_numeric_dtype(filled[column]) and not pd.api.types.is_bool_dtype(filled[column]):
            filled[column] = filled[column].astype("float64")
    return filled, []
