"""The pure parts of batch scoring runs: which model a scoring blob belongs to, what a row to be
scored must satisfy, and how a policy names its transform."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.batch.payloads import BATCH_RUN_RE, batch_run_id
from core.batch.routing import route_scoring
from core.batch.runs import features_contract, load_transform, model_rows
from core.kernel.contract import load_contract, validate
from core.kernel.policy import BatchPolicy, load_policy
from samples.churn.data import generate
from samples.churn.features import FEATURES

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = load_policy(ROOT / "samples" / "churn" / "policy.yaml")
CONTRACT = load_contract(ROOT / "samples" / "churn" / "contract.yaml")


def _with(model: str, prefix: str):
    batch = BatchPolicy(endpoint=f"{model}-batch", scoring_prefix=prefix)
    data = SAMPLE.data.model_copy(update={"prefix": f"{model}/"})
    return SAMPLE.model_copy(update={"model": model, "batch": batch, "data": data})


def test_the_longest_scoring_prefix_claims_a_blob_and_other_containers_never_do():
    policies = [_with("churn", "scoring/"), _with("churn-eu", "scoring/eu/")]
    assert route_scoring(policies, "raw", "scoring/eu/a.csv") == "churn-eu"
    assert route_scoring(policies, "raw", "scoring/us/a.csv") == "churn"
    assert route_scoring(policies, "other", "scoring/a.csv") is None
    assert route_scoring(policies, "raw", "scoring/../churn/a.csv") is None
    assert route_scoring([SAMPLE], "raw", "churn/a.csv") is None  # no batch section


def test_rows_to_score_need_the_features_but_not_the_label():
    frame = generate(5, 1).drop(columns=["churned"]).astype(str)
    assert not validate(frame, CONTRACT).valid  # the training contract wants the label
    assert validate(frame, features_contract(CONTRACT)).valid
    assert not validate(frame.drop(columns=["age"]), features_contract(CONTRACT)).valid


def test_the_model_gets_typed_features_through_the_transform_without_id_or_label():
    frame = generate(5, 1).astype(str)
    plain = model_rows(frame, CONTRACT, None)
    assert "customer_id" not in plain.columns and "churned" not in plain.columns
    encoded = model_rows(frame, CONTRACT, load_transform("samples.churn.features:to_features"))
    assert list(encoded.columns) == list(FEATURES) and len(encoded) == 5


def test_a_transform_must_name_a_function_of_a_module():
    with pytest.raises(ValidationError, match=r"package\.module:function"):
        BatchPolicy(endpoint="churn-batch", scoring_prefix="s/", transform="os.system('x')")
    with pytest.raises(ValueError, match="has no function"):
        load_transform("samples.churn.features:nope")


def test_scoring_run_ids_are_stable_per_delivery_and_recognisable():
    first = batch_run_id("churn", "blob:url|etag1")
    assert first == batch_run_id("churn", "blob:url|etag1") != batch_run_id("churn", "blob:url|etag2")
    assert BATCH_RUN_RE.fullmatch(first)["model"] == "churn"
