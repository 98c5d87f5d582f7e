"""The policy's batch section and cross-environment fields: defaults, clear errors, and
deploy-only policies that need no data or training."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from core.kernel.policy import (
    DeployOnlyPolicy,
    Policy,
    PolicyError,
    load_policies,
    load_policy_set,
    parse_any_policy,
    parse_policy,
)

MINIMAL = """
model: churn
data: {prefix: churn/, contract: contract.yaml}
training: {job: jobs/train.yml, evaluation_job: jobs/evaluate.yml, experiment: churn}
"""

DEPLOY_ONLY = """
model: churn
source: {registry: shared-ml}
rollout: {enabled: true, endpoint: churn-prod}
"""


def _parse(text: str) -> Policy:
    return parse_policy(textwrap.dedent(text), Path("models/churn/policy.yaml"))


def _any(text: str) -> Policy | DeployOnlyPolicy:
    return parse_any_policy(textwrap.dedent(text), Path("prod/churn/policy.yaml"))


def _error(text: str, parse=_parse) -> str:
    with pytest.raises(PolicyError) as info:
        parse(text)
    return str(info.value)


def test_a_batch_section_gets_documented_defaults():
    policy = _parse(MINIMAL + "batch: {endpoint: churn-batch, scoring_prefix: churn-scoring/}\n")
    assert policy.batch is not None
    assert policy.batch.smoke_rows == 20
    assert policy.batch.keep_last == 3
    assert policy.batch.ab is None
    assert policy.batch.output_prefix == "predictions/{model}/"
    assert policy.batch.schedule is None


def test_a_policy_without_batch_or_promotion_keeps_its_hash():
    """Runs recorded before these sections existed stay comparable by hash."""
    plain = _parse(MINIMAL)
    assert plain.batch is None and plain.promotion is None
    dumped = plain.model_dump(mode="json")
    del dumped["batch"], dumped["promotion"]
    del dumped["online_features"], dumped["data"]["data_factory"]  # added later still (issue 22), unset here
    import hashlib
    import json

    expected = hashlib.sha256(json.dumps(dumped, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert plain.hash == "sha256:" + expected
    with_batch = _parse(MINIMAL + "batch: {endpoint: churn-batch, schedule: '0 0 4 * * *'}\n")
    assert with_batch.hash != plain.hash


def test_a_batch_section_that_nothing_would_start_is_refused():
    message = _error(MINIMAL + "batch: {endpoint: churn-batch}\n")
    assert "batch: batch needs scoring_prefix or schedule" in message


def test_a_scoring_prefix_inside_the_training_prefix_is_refused():
    message = _error(MINIMAL + "batch: {endpoint: churn-batch, scoring_prefix: churn/score/}\n")
    assert "overlaps the training prefix 'churn/'" in message
    assert "churn-scoring/" in message


def test_batch_fields_are_validated_with_the_fix():
    assert "NCRONTAB needs six" in _error(MINIMAL + "batch: {endpoint: churn-batch, schedule: '0 4 * * *'}\n")
    assert "valid batch endpoint name" in _error(MINIMAL + "batch: {endpoint: 9x, schedule: '0 0 4 * * *'}\n")
    assert "containing {model}" in _error(
        MINIMAL + "batch: {endpoint: churn-batch, schedule: '0 0 4 * * *', output_prefix: predictions/}\n"
    )
    message = _error(
        MINIMAL + "batch: {endpoint: churn-batch, schedule: '0 0 4 * * *', ab: {percent: 100, key: id}}\n"
    )
    assert "batch.ab.percent" in message
    misspelt = _error(MINIMAL + "batch: {endpoint: churn-batch, schedule: '0 0 4 * * *', keep: 2}\n")
    assert "batch.keep" in misspelt and "keep_last" in misspelt


def test_an_ab_split_names_the_row_key():
    policy = _parse(
        MINIMAL + "batch: {endpoint: churn-batch, scoring_prefix: s/, ab: {key: customer_id, percent: 30}}\n"
    )
    assert policy.batch is not None and policy.batch.ab is not None
    assert (policy.batch.ab.key, policy.batch.ab.percent, policy.batch.ab.salt) == ("customer_id", 30, "ab")


def test_a_training_policy_can_name_the_shared_registry():
    policy = _parse(MINIMAL + "promotion: {registry: shared-ml}\n")
    assert policy.promotion is not None and policy.promotion.registry == "shared-ml"


def test_a_deploy_only_policy_needs_no_data_or_training():
    policy = _any(DEPLOY_ONLY)
    assert isinstance(policy, DeployOnlyPolicy)
    assert policy.source.registry == "shared-ml"
    assert policy.registry_model == "churn"
    assert policy.accepted_sources == ["/mllifecycle/models/churn"]
    assert policy.rollout.steps == [10, 50, 100]
    assert policy.hash.startswith("sha256:")


def test_a_deploy_only_policy_with_training_sections_says_it_trains_nothing():
    message = _error(DEPLOY_ONLY + MINIMAL.replace("model: churn\n", ""), parse=_any)
    assert "data: " in message and "a deploy-only policy (with `source:`) trains nothing" in message


def test_a_deploy_only_policy_must_deploy():
    message = _error("model: churn\nsource: {registry: shared-ml}\nrollout: {endpoint: churn-prod}\n", _any)
    assert "set rollout.enabled: true and rollout.endpoint" in message


def test_a_policy_missing_data_mentions_the_deploy_only_alternative():
    message = _error("model: churn\ntraining: {job: a, evaluation_job: b, experiment: c}\n")
    assert "data: Field required; fix: add this field (or, for a deploy-only model" in message


def test_parse_policy_refuses_a_deploy_only_file():
    assert "this is a deploy-only policy" in _error(DEPLOY_ONLY)


def test_a_policy_directory_holds_both_kinds_one_policy_per_model(tmp_path: Path):
    sample = Path(__file__).resolve().parents[3] / "samples" / "churn"
    (tmp_path / "churn").mkdir()
    (tmp_path / "churn" / "policy.yaml").write_text(
        (sample / "policy.yaml")
        .read_text()
        .replace("contract: contract.yaml", f"contract: {sample}/contract.yaml")
        .replace("job: jobs/", f"job: {sample}/jobs/")
        .replace("evaluation_job: jobs/", f"evaluation_job: {sample}/jobs/")
    )
    (tmp_path / "fraud").mkdir()
    (tmp_path / "fraud" / "policy.yaml").write_text(DEPLOY_ONLY.replace("churn", "fraud"))
    found = load_policy_set(tmp_path)
    assert sorted(found.lifecycle) == ["churn"] and sorted(found.deploy_only) == ["fraud"]
    assert sorted(load_policies(tmp_path)) == ["churn"]

    (tmp_path / "again").mkdir()
    (tmp_path / "again" / "policy.yaml").write_text(DEPLOY_ONLY)
    with pytest.raises(PolicyError, match="model 'churn' is already defined"):
        load_policy_set(tmp_path)
