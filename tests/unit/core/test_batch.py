"""Batch scoring decisions: the default moves only after a passed smoke, pruning never touches
the default or the previous default, and A/B arms are chosen by row key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.batch.rules import (
    ab_arms,
    batch_deployment_name,
    choose_default,
    deployments_to_prune,
    judge_smoke,
    predictions_location,
    restore_default,
    split_rows,
)
from core.kernel.ports import BatchDeploymentInfo, BatchEndpointInfo

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _dep(name: str, minutes: int, state: str = "succeeded") -> BatchDeploymentInfo:
    return BatchDeploymentInfo(
        name, "churn", name.rsplit("v", 1)[-1], state, created_at=T0 + timedelta(minutes=minutes)
    )  # type: ignore[arg-type]


def _endpoint(default: str | None, *deps: BatchDeploymentInfo) -> BatchEndpointInfo:
    return BatchEndpointInfo("churn-batch", "", default, {d.name: d for d in deps})


def test_a_passed_smoke_makes_the_candidate_default_and_remembers_the_previous_one():
    smoke = judge_smoke(3, [0.1, 0.9, 0.5])
    decision = choose_default("churn-v1", "churn-v2", smoke)
    assert smoke.passed
    assert (decision.verdict, decision.default, decision.previous_default) == (
        "switch",
        "churn-v2",
        "churn-v1",
    )
    assert decision.reasons[-1] == "default churn-v1 -> churn-v2"


@pytest.mark.parametrize(
    ("predictions", "state", "why"),
    [
        ([0.1, 0.2], "completed", "2 predictions for 3 rows"),
        ([0.1, float("nan"), None], "completed", "2 of 3 predictions are missing or not finite"),
        ([], "failed", "the smoke job ended failed: boom"),
    ],
)
def test_a_failed_smoke_keeps_the_previous_default(predictions, state, why):
    smoke = judge_smoke(3, predictions, job_state=state, message="boom")
    decision = choose_default("churn-v1", "churn-v2", smoke)
    assert not smoke.passed and why in smoke.reasons
    assert (decision.verdict, decision.default) == ("keep", "churn-v1")
    assert "default stays churn-v1" in decision.reasons


def test_a_failed_smoke_on_a_new_endpoint_leaves_it_without_a_default():
    decision = choose_default(None, "churn-v1", judge_smoke(2, [0.3]))
    assert (decision.verdict, decision.default) == ("keep", None)


def test_the_candidate_that_is_already_default_is_kept():
    assert choose_default("churn-v2", "churn-v2", judge_smoke(1, [1])).verdict == "keep"


def test_a_rollback_restores_the_previous_default_only_if_it_still_works():
    info = _endpoint("churn-v3", _dep("churn-v2", 1), _dep("churn-v3", 2), _dep("churn-v1", 0, "failed"))
    assert restore_default(info, "churn-v2") == "churn-v2"
    assert restore_default(info, "churn-v1") is None  # failed
    assert restore_default(info, "churn-v9") is None  # pruned
    assert restore_default(info, "churn-v3") is None  # already default
    assert restore_default(info, None) is None


def test_pruning_keeps_the_newest_n_and_never_the_default_or_previous_default():
    deps = [_dep(f"churn-v{i}", i) for i in range(1, 8)]
    prune = deployments_to_prune(deps, default="churn-v2", previous_default="churn-v1", keep_last=3)
    assert prune == ["churn-v3", "churn-v4"]  # v5..v7 newest, v1/v2 protected


def test_pruning_skips_deployments_still_in_flight():
    deps = [_dep("churn-v1", 1, "creating"), _dep("churn-v2", 2, "deleting"), _dep("churn-v3", 3)]
    assert deployments_to_prune(deps, default="churn-v3", previous_default=None, keep_last=1) == []
    with pytest.raises(ValueError, match="keep_last"):
        deployments_to_prune(deps, default=None, previous_default=None, keep_last=0)


def test_ab_arms_are_the_default_and_the_newest_other_succeeded_deployment():
    info = _endpoint(
        "churn-v2",
        _dep("churn-v1", 1),
        _dep("churn-v2", 2),
        _dep("churn-v3", 3),
        _dep("churn-v4", 4, "failed"),
    )
    arms = ab_arms(info)
    assert (arms.a, arms.b) == ("churn-v2", "churn-v3")
    alone = ab_arms(_endpoint("churn-v2", _dep("churn-v2", 2)))
    assert (alone.a, alone.b) == ("churn-v2", None)
    with pytest.raises(ValueError, match="no default deployment"):
        ab_arms(_endpoint(None, _dep("churn-v2", 2)))


def test_an_ab_split_is_deterministic_by_key_and_close_to_the_percent():
    keys = [f"cust-{i}" for i in range(10_000)]
    a, b = split_rows(keys, 20, "ab")
    assert sorted(a + b) == list(range(10_000))
    assert 1800 < len(b) < 2200
    # the same key lands in the same arm regardless of its position or the other rows
    b_keys = {keys[i] for i in b}
    shuffled = list(reversed(keys[:500]))
    _, b2 = split_rows(shuffled, 20, "ab")
    assert {shuffled[i] for i in b2} == b_keys & set(shuffled)
    # another salt reshuffles
    _, b3 = split_rows(keys, 20, "other")
    assert {keys[i] for i in b3} != b_keys
    with pytest.raises(ValueError):
        split_rows(keys, 0, "ab")


def test_deployment_names_fit_azure_mls_limits():
    assert batch_deployment_name("churn", "12") == "churn-v12"
    long = batch_deployment_name("a-very-long-model-name-for-batch", "123")
    assert len(long) <= 32 and long.startswith("a-very-long")
    assert long != batch_deployment_name("a-very-long-model-name-for-batch", "124")


def test_predictions_go_under_the_models_prefix_one_folder_per_run():
    assert predictions_location("predictions/{model}/", "churn", "score-1") == (
        "predictions",
        "churn/score-1/",
    )
    assert predictions_location("out/{model}", "churn", "r") == ("out", "churn/r/")
