"""Promotion across environments, run on devhost's durable engine with fakes behind every port:
dev's rollout shares its new champion into the shared registry and `promoted` names the registry
version; prod's `deploy` lifecycle rolls out exactly that registry version on its own endpoint,
smoke-tested with the model's input example, and a version the registry lacks deploys nothing."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import wiring
from core.environments.facts import DeployRequested, ModelShared
from core.environments.payloads import DeployRunInput
from core.kernel.policy import (
    DeployOnlyPolicy,
    ReleasePolicy,
    StaticPolicies,
    load_policy,
    parse_any_policy,
)
from core.kernel.ports import DeploymentInfo
from core.kernel.settings import Settings
from core.run.facts import read_fact
from devhost.durable.clock import TimeSkippingClock
from devhost.durable.engine import DurableEngine
from tests.fakes import FakeAdapters, FakeModelRegistryShare
from tests.orchestrators.test_rollout import World, healthy

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = {"columns": ["tenure", "charges"], "data": [[1, 20.5], [30, 80.0], [12, 55.1]]}


class ExampleShare(FakeModelRegistryShare):
    """A registry whose models logged an input example (what prod's smoke test scores)."""

    def download(self, name: str, version: str, dest: Path) -> Path:
        folder = super().download(name, version, dest)
        meta = {"saved_input_example_info": {"artifact_path": "input_example.json", "type": "dataframe"}}
        (folder / "MLmodel").write_text(json.dumps(meta))
        (folder / "input_example.json").write_text(json.dumps(EXAMPLE))
        return folder


@functools.cache
def _functions() -> list[Any]:
    from tests.conftest import app_functions

    return app_functions()


def run(tmp_path: Path, name: str, instance: str, payload: dict, timeout: float = 60) -> dict:
    async def main() -> dict:
        engine = DurableEngine(
            db_path=tmp_path / f"{instance}.db",
            functions=_functions(),
            activity_concurrency=2,
            clock=TimeSkippingClock(),
        )
        await engine.start("http://127.0.0.1:7071")
        try:
            await engine.start_new(name, instance_id=instance, input=payload)
            return await engine.wait_for(instance, timeout)
        finally:
            await engine.stop()

    return asyncio.run(main())


# --------------------------------------------------------------------------- dev: share on promote


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    w.policy = w.policy.model_copy(update={"promotion": ReleasePolicy(registry="shared-ml")})
    w.fakes.model_share = FakeModelRegistryShare("shared-ml", w.fakes.registry, copy_polls=2)
    with wiring.override(settings=w.settings, policies={"churn": w.policy}, **w.fakes.as_overrides()):
        yield w


def test_dev_shares_its_new_champion_and_promoted_names_the_registry_version(dev, tmp_path):
    dev.live_champion({"blue": 100})
    status = run(tmp_path, "rollout", "run-1-rollout", dev.input())
    assert status["output"]["status"] == "promoted", status

    share = dev.fakes.model_share
    assert share is not None
    copy = share.get("churn", "1")
    assert copy.tags["source_version"] == "2" and copy.tags["lifecycle_id"] == "run-1"  # lineage kept
    assert "champion" not in copy.tags
    promoted = [e for e in dev.fakes.events.published if e.type == "mllifecycle.promoted"][-1]
    assert promoted.data["registry"] == "shared-ml"
    assert (promoted.data["registry_model"], promoted.data["registry_version"]) == ("churn", "1")
    assert promoted.data["version"] == "2" and promoted.data["lineage"]["lifecycle_id"] == "run-1"
    shared = [
        f
        for f in (read_fact(e.data) for e in dev.fakes.ledger.entries("run-1"))
        if isinstance(f, ModelShared)
    ]
    assert [(f.registry_version, f.error) for f in shared] == [("1", None)]


def test_a_share_that_fails_is_recorded_and_the_champion_stays_promoted(dev, tmp_path):
    dev.fakes.model_share = None  # the policy names a registry this environment is not configured for
    with wiring.override(model_share=None):
        status = run(tmp_path, "rollout", "run-1-rollout", dev.input())
    assert status["output"]["status"] == "promoted", status
    facts = [read_fact(e.data) for e in dev.fakes.ledger.entries("run-1")]
    failed = [f for f in facts if isinstance(f, ModelShared)]
    assert failed and "SHARED_REGISTRY_NAME" in (failed[0].error or "")
    promoted = [e for e in dev.fakes.events.published if e.type == "mllifecycle.promoted"][-1]
    assert "registry_version" not in promoted.data  # prod refuses it, with reasons


# --------------------------------------------------------------------------- prod: deploy lifecycle

PROD_POLICY = """
model: churn-prod
source: {registry: shared-ml, registry_model: churn, accept_sources: [/mllifecycle/envs/dev/models/churn]}
rollout:
  enabled: true
  endpoint: churn-prod-endpoint
  smoke_rows: 2
  steps: [50, 100]
  min_bake_seconds: 1
  step_deadline_seconds: 30
  gates: {alpha: 0.05}
"""


class Prod:
    def __init__(self, tmp: Path) -> None:
        self.fakes = FakeAdapters()
        self.settings = Settings(local_state_dir=tmp / "state", environment_name="prod")
        policy = parse_any_policy(PROD_POLICY, tmp / "prod" / "policy.yaml")
        assert isinstance(policy, DeployOnlyPolicy)
        self.policy = policy
        dev_registry = FakeAdapters().registry
        self.share = ExampleShare("shared-ml", dev_registry)
        for i in (1, 2):
            v = dev_registry.register("churn", f"file:///dev/v{i}", {"lifecycle_id": f"dev-run-{i}"})
            self.share.share(v)
        self.fakes.model_share = self.share
        self.fakes.traffic_stats.stats = {"blue": healthy("blue", 27000), "green": healthy("green", 3000)}

    def overrides(self) -> dict[str, Any]:
        workspace = self.fakes.registry
        fakes = {k: v for k, v in self.fakes.as_overrides().items() if k != "registry"}
        from core.environments.deploy import DeployOnlyModelRegistry

        registry = DeployOnlyModelRegistry(
            workspace, lambda: self.share, lambda: {"churn-prod": self.policy}, lambda: self.fakes.ledger
        )
        policies = StaticPolicies({}, deploy_only={"churn-prod": self.policy})
        return {**fakes, "settings": self.settings, "policies": policies, "registry": registry}

    def input(self, version: str, run_id: str = "churn-prod-20250101000000-abcdef") -> dict:
        return DeployRunInput(
            run_id=run_id,
            model="churn-prod",
            event_id="evt-1",
            event_source="/mllifecycle/envs/dev/models/churn",
            registry="shared-ml",
            registry_model="churn",
            registry_version=version,
            lineage={"lifecycle_id": "dev-run-2"},
        ).dump()


@pytest.fixture
def prod(tmp_path: Path) -> Iterator[Prod]:
    p = Prod(tmp_path)
    with wiring.override(**p.overrides()):
        yield p


RUN = "churn-prod-20250101000000-abcdef"


def test_prod_deploys_the_exact_registry_version_through_its_own_smoke_test_and_ramp(prod, tmp_path):
    # version 1 is live on the prod endpoint (an earlier deploy)
    eps = prod.fakes.endpoints
    ep = eps.ensure_endpoint("churn-prod-endpoint")
    eps.endpoints["churn-prod-endpoint"] = type(ep)(
        ep.name, ep.scoring_uri, {}, {}, {"blue": DeploymentInfo("blue", "churn", "1", "succeeded")}
    )
    eps.set_traffic("churn-prod-endpoint", {"blue": 100}, {})
    eps.traffic_history.clear()

    status = run(tmp_path, "deploy", RUN, prod.input("2"))
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"]["status"] == "promoted", status

    ep = eps.get("churn-prod-endpoint")
    assert ep.traffic == {"green": 100}
    green = ep.deployments["green"]
    assert (green.model_name, green.model_version) == ("churn", "2")  # the registry's own version
    smoke = eps.invocations[0]
    assert smoke[1] == "green" and smoke[2]["input_data"]["columns"] == EXAMPLE["columns"]
    assert [t.get("green") for t, _ in eps.traffic_history] == [50, 100]

    record = prod.fakes.ledger.get_run(RUN)
    assert record is not None and record.status == "promoted" and record.champion_version == "2"
    assert record.lineage["registry"] == {
        "name": "shared-ml",
        "model": "churn",
        "version": "2",
        "source_uri": "shared://shared-ml/churn",
    }
    assert record.lineage["source_event"]["source"] == "/mllifecycle/envs/dev/models/churn"
    facts = [read_fact(e.data) for e in prod.fakes.ledger.entries(RUN)]
    assert any(isinstance(f, DeployRequested) and f.registry_version == "2" for f in facts)
    assert wiring.registry().champion("churn-prod").version == "2"  # type: ignore[union-attr]
    assert prod.fakes.training_jobs.jobs == {}  # nothing trained in prod
    types = prod.fakes.events.types()
    assert types[0] == "mllifecycle.started" and "mllifecycle.promoted" in types


def test_a_version_the_registry_lacks_ends_the_deploy_failed_without_touching_the_endpoint(prod, tmp_path):
    status = run(tmp_path, "deploy", RUN, prod.input("9"))
    assert status["output"]["status"] == "failed", status
    assert "has no churn:9" in status["output"]["reasons"][0]
    assert prod.fakes.endpoints.traffic_history == []
    assert prod.fakes.ledger.get_run(RUN).status == "failed"


def test_the_first_prod_model_goes_live_behind_its_smoke_test(prod, tmp_path):
    status = run(tmp_path, "deploy", RUN, prod.input("1"))
    assert status["output"]["status"] == "promoted", status
    assert prod.fakes.endpoints.get("churn-prod-endpoint").traffic == {"blue": 100}


def test_the_rollout_input_takes_a_deploy_only_policy_snapshot(prod):
    from core.rollout.payloads import RolloutInput

    handed = RolloutInput(
        run_id=RUN,
        model="churn-prod",
        challenger_version="2",
        policy=prod.policy,
        policy_hash=prod.policy.hash,
    )
    again = RolloutInput.model_validate(json.loads(json.dumps(handed.dump())))
    assert (
        isinstance(again.policy, DeployOnlyPolicy) and again.policy.rollout.endpoint == "churn-prod-endpoint"
    )


def test_a_lifecycle_policy_still_round_trips_as_one():
    from core.rollout.payloads import RolloutInput

    policy = load_policy(ROOT / "samples" / "churn" / "policy.yaml")
    handed = RolloutInput(
        run_id="r", model="churn", challenger_version="2", policy=policy, policy_hash=policy.hash
    )
    assert type(RolloutInput.model_validate(handed.dump()).policy).__name__ == "Policy"
