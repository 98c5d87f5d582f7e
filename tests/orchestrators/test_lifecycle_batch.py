"""The lifecycle hands its outcome to `batch_deploy` once the online rollout ended: a promoted
champion goes to the batch endpoint (after its batch smoke), an online rollback restores the
batch default, and neither changes or delays the online outcome the rollout recorded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import wiring
from core.kernel.policy import BatchPolicy
from tests.orchestrators.test_lifecycle import World, _good, lifecycle, run

BATCH = BatchPolicy(endpoint="churn-batch", scoring_prefix="churn-scoring/", smoke_rows=5, poll_seconds=1)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    rollout = w.policy.rollout.model_copy(
        update={"enabled": True, "mirror": None, "min_bake_seconds": 1, "approval": None, "smoke_rows": 5}
    )
    batch = BATCH.model_copy(update={"transform": "samples.churn.features:to_features"})
    w.policy = w.policy.model_copy(update={"rollout": rollout, "batch": batch})
    with wiring.override(
        settings=w.settings, policies={"churn": w.policy}, code_version="abc", **w.fakes.as_overrides()
    ):
        yield w


def test_the_first_champion_is_deployed_to_the_batch_endpoint_after_its_promotion(world, tmp_path):
    status = run(tmp_path, lifecycle(_good(world), timeout=60))
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"]["status"] == "promoted"
    assert status["customStatus"]["batch"]["status"] == "deployed"
    assert world.fakes.batch_endpoints.get("churn-batch").default_deployment == "churn-v1"
    types = world.fakes.events.types()
    assert types.index("mllifecycle.promoted") < types.index("mllifecycle.batch_deployed")
    assert world.fakes.ledger.get_run("run-1").status == "promoted"


def test_a_batch_failure_leaves_the_promotion_standing(world, tmp_path):
    world.fakes.batch_endpoints.broken_versions.add("1")  # its batch smoke fails
    status = run(tmp_path, lifecycle(_good(world), timeout=60))
    assert status["output"]["status"] == "promoted", status
    assert status["customStatus"]["batch"]["status"] == "kept"
    assert world.fakes.registry.champion("churn").version == "1"  # the online champion moved
    assert world.fakes.batch_endpoints.get("churn-batch").default_deployment is None


def test_an_online_rollback_restores_the_batch_default_to_the_champion(world, tmp_path):
    world.champion(0.70)  # v1, beaten by the challenger (v2) on paper
    eps = world.fakes.batch_endpoints
    eps.add("churn-batch", "churn-v1", "1", age=0)
    eps.add("churn-batch", "churn-v7", "7", default=True, age=1)  # the default moved away from v1
    world.fakes.endpoints.score = lambda deployment, payload: []  # the online smoke fails
    status = run(tmp_path, lifecycle(_good(world), timeout=60))
    assert status["output"]["status"] == "failed", status  # the rollout's own rollback
    assert status["customStatus"]["batch"]["status"] == "restored"
    assert eps.get("churn-batch").default_deployment == "churn-v1"
