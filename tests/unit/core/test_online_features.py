"""Online features, the pure rules: which vector an entity gets, what a deployment is told, and how an
entity-id-only request is filled or refused row by row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core.kernel.contract import load_contract
from core.kernel.datafiles import read_csv, typed_frame
from core.rollout.online_features import feature_environment, fill_features
from core.training.online_features import FeatureStoreError, latest_vectors, load_transform
from samples.churn.data import generate, to_csv_bytes
from samples.churn.features import FEATURES

ROOT = Path(__file__).resolve().parents[3]
CONTRACT = load_contract(ROOT / "samples" / "churn" / "contract.yaml")
ENV = {"FEATURE_SET": "churn", "FEATURE_SET_VERSION": "dv-2", "FEATURE_ENTITY_COLUMN": "customer_id"}


def _customers(rows: int = 20) -> pd.DataFrame:
    return typed_frame(read_csv(to_csv_bytes(generate(rows, 5))), CONTRACT)


def test_an_entity_seen_twice_keeps_its_last_row_without_label_or_id():
    frame = _customers()
    again = frame.iloc[[0]].assign(age=77)
    vectors = latest_vectors(pd.concat([frame, again], ignore_index=True), CONTRACT)
    first = str(frame["customer_id"][0])
    assert vectors[first]["age"] == 77 and len(vectors) == 20
    assert "churned" not in vectors[first] and "customer_id" not in vectors[first]
    assert isinstance(vectors[first]["age"], int)  # JSON-native, not numpy


def test_the_transform_turns_vectors_into_what_the_model_takes():
    vectors = latest_vectors(_customers(), CONTRACT, load_transform("samples.churn.features:to_features"))
    assert list(next(iter(vectors.values()))) == list(FEATURES)


def test_a_contract_without_an_id_column_cannot_feed_an_online_store():
    with pytest.raises(FeatureStoreError, match="id_column"):
        latest_vectors(_customers(), CONTRACT.model_copy(update={"id_column": None}))


def test_a_deployment_is_told_the_feature_set_version_its_model_was_trained_with():
    tags = {
        "feature_set": "churn",
        "feature_set_version": "dv-2",
        "feature_entity_column": "customer_id",
        "x": "y",
    }
    assert feature_environment(tags) == ENV
    assert feature_environment({"data_version": "dv-2"}) == {}


def test_an_id_only_request_is_filled_from_the_deployments_version():
    store = {("churn", "dv-2", "c1"): {"a": 1, "b": 2.0}, ("churn", "dv-2", "c2"): {"a": 3, "b": 4.0}}
    asked: list[tuple[str, str, list[str]]] = []

    def lookup(fs, v, ids):
        asked.append((fs, v, ids))
        return {i: store.get((fs, v, i)) for i in ids}

    frame, errors = fill_features(pd.DataFrame({"customer_id": ["c2", "c1", "c2"]}), ENV, lookup)
    assert errors == [] and asked == [("churn", "dv-2", ["c1", "c2"])]
    assert frame.to_dict("records") == [{"a": 3.0, "b": 4.0}, {"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 4.0}]
    assert frame["a"].dtype == "float64"  # Cosmos's JSON gave back 3 for 3.0


def test_an_unknown_entity_is_a_per_row_error_and_nothing_is_scored():
    def lookup(fs, v, ids):
        return {i: ({"a": 1.0} if i == "c1" else None) for i in ids}

    request = pd.DataFrame({"customer_id": ["c1", "ghost"]})
    frame, errors = fill_features(request, ENV, lookup)
    assert frame is request
    assert errors == [
        {
            "row": 1,
            "entity_id": "ghost",
            "code": "UnknownEntity",
            "message": "entity 'ghost' has no features in feature set churn version dv-2",
        }
    ]


def test_a_request_that_carries_its_features_or_a_deployment_without_features_is_left_alone():
    def lookup(fs, v, ids):
        raise AssertionError("no lookup expected")

    inline = pd.DataFrame({"customer_id": ["c1"], "a": [1.0]})
    assert fill_features(inline, ENV, lookup) == (inline, [])
    ids_only = pd.DataFrame({"customer_id": ["c1"]})
    assert fill_features(ids_only, {}, lookup) == (ids_only, [])
