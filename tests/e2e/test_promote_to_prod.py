"""Promotion from dev to prod through a shared registry, both environments on ONE devhost, as
`make demo`'s promote-to-prod runs them: dev's lifecycle promotes a champion, the service copies it
into the shared registry and publishes `promoted` on the lifecycle topic, devhost's topic
subscription delivers it to prod's `on_model_promoted`, and prod's deploy-only lifecycle ramps the
exact registry version (the same artifact bytes) on its own endpoint behind its own gates. A
redelivered `promoted` event starts nothing new.

The demo's own policies (samples/churn/demo/, dev at the root, prod in prod/), with the approvals
and the batch section taken out and ramps of two steps, so the test needs no operator."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from devhost import procs
from devstack import REPO_ROOT
from devstack.demo import _ramp
from devstack.stack import EVENTS_TOPIC, promotion_env, running_stack
from tests.demo_policies import demo_policy, write_policies

pytestmark = [pytest.mark.slow, pytest.mark.e2e]  # one of tests/conftest.py's LIVE_STACK modules

DEMO = REPO_ROOT / "samples" / "churn" / "demo"
REGISTRY = "mllifecycle-shared"
DEV_SOURCE = "/mllifecycle/envs/dev/models/churn"
TERMINAL = {"Completed", "Failed", "Terminated", "Canceled"}


def _policies(folder: Path) -> Path:
    """dev (model churn, shares into the registry) and prod (churn-prod, deploy-only) in one folder; no labels
    are fed here, so dev's online accuracy gate is off."""
    dev = demo_policy(batch=False, promotion=True)
    prod = yaml.safe_load((DEMO / "prod" / "policy.yaml").read_text())
    for doc in (dev, prod):
        doc["rollout"].pop("approval", None)
        doc["rollout"]["steps"] = [50, 100]
    assert dev["promotion"]["registry"] == prod["source"]["registry"] == REGISTRY
    return write_policies(folder, dev, prod)


class Service:
    def __init__(self, stack) -> None:
        self.stack = stack
        self.params = {"code": stack.master_key}

    def get(self, path: str, **params: Any) -> Any:
        r = requests.get(f"{self.stack.devhost_url}/api/{path}", params={**self.params, **params}, timeout=30)
        r.raise_for_status()
        return r.json()

    def runs(self, model: str) -> list[dict[str, Any]]:
        return self.get("lifecycles", model=model, limit="100")["lifecycles"]

    def promoted(self, source: str = DEV_SOURCE) -> list[dict[str, Any]]:
        """The `promoted` events of one environment's model (prod publishes its own on the same topic)."""
        r = requests.get(
            f"{self.stack.devhost_url}/runtime/topics/{EVENTS_TOPIC}/events",
            params={**self.params, "type": "mllifecycle.promoted"},
            timeout=30,
        )
        r.raise_for_status()
        return [e for e in r.json() if e.get("source") == source]

    def upload(self, path: str, frame) -> None:
        from azure.storage.blob import BlobServiceClient

        from samples.churn.data import to_csv_bytes

        with BlobServiceClient.from_connection_string(self.stack.connection_string) as service:
            service.get_blob_client("raw", path).upload_blob(to_csv_bytes(frame), overwrite=True)

    def new_run(self, model: str, known: set[str], timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            new = [r["id"] for r in self.runs(model) if r["id"] not in known]
            if new:
                assert len(new) == 1, new
                return new[0]
            time.sleep(1)
        raise AssertionError(f"no new {model} lifecycle within {timeout}s")

    def finished(self, run_id: str, timeout: float = 360) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            detail = self.get(f"lifecycles/{run_id}")
            if (detail.get("orchestration") or {}).get("runtime_status") in TERMINAL:
                return detail
            time.sleep(1)
        raise AssertionError(f"{run_id} did not finish within {timeout}s: {detail.get('stage')}")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("promote-to-prod")
    state = base / "state"
    env = {
        "LIFECYCLE_POLICY_DIR": str(_policies(base / "policies")),
        "CODE_VERSION": "e2e-commit",
        **promotion_env(state, registry=REGISTRY, environment="dev"),
    }
    with running_stack(
        state,
        devhost_port=procs.free_port(),
        azurite_port=procs.free_port(),
        endpoint_port=procs.free_port(),
        extra_env=env,
    ) as stack:
        yield Service(stack)


def _files(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _serving(model_view: dict[str, Any]) -> tuple[str | None, dict[str, int]]:
    endpoint = model_view.get("endpoint") or {}
    traffic = {k: v for k, v in (endpoint.get("traffic") or {}).items() if v}
    if list(traffic.values()) != [100]:
        return None, traffic
    return ((endpoint.get("deployments") or {}).get(next(iter(traffic))) or {}).get("version"), traffic


def test_dev_promotions_reach_prod_through_the_topic_and_prod_ramps_the_exact_registry_version(
    service: Service, tmp_path: Path
) -> None:
    from adapters.local.registry import MlflowModelRegistry
    from devstack.loadgen import LoadGenerator
    from samples.churn.data import generate

    # 1. dev's first champion: shared, announced, and deployed by prod (its first model: straight to 100%)
    service.upload("churn/e2e/01-first.csv", generate(1500, seed=11, drift=0.0))
    first_id = service.new_run("churn", set())
    first = service.finished(first_id)
    assert first["status"] == "promoted", first.get("reasons")
    first_prod = service.finished(service.new_run("churn-prod", set()))
    assert first_prod["status"] == "promoted", first_prod.get("reasons")

    # 2. a better dev champion, with both endpoints under load so both environments' gates judge traffic
    env = service.stack
    loads = [
        LoadGenerator(f"{env.endpoint_url}/endpoints/{name}/score", env.endpoint_key, rps=30, seconds=600)
        for name in ("churn-endpoint", "churn-prod-endpoint")
    ]
    for load in loads:
        load.start()
    try:
        known_prod = {r["id"] for r in service.runs("churn-prod")}
        service.upload("churn/e2e/02-drifted.csv", generate(1500, seed=12, drift=1.0))
        second = service.finished(service.new_run("churn", {first_id}))
        assert second["status"] == "promoted", second.get("reasons")
        deploy_id = service.new_run("churn-prod", known_prod)
        deploy = service.finished(deploy_id)
    finally:
        for load in loads:
            load.stop()

    # the event dev published names the registry copy of dev's new champion, and prod ramped exactly it
    dev_version = second["challenger_version"]
    [event] = [e for e in service.promoted() if e["data"]["version"] == dev_version]
    assert (event["data"]["registry"], event["data"]["registry_model"]) == (REGISTRY, "churn")
    registry_version = event["data"]["registry_version"]
    assert deploy["status"] == "promoted", deploy.get("reasons")
    assert deploy["challenger_version"] == registry_version
    assert _ramp(deploy) == "50->100"
    verdicts = [g["verdict"] for g in deploy["gates"]]  # need_more_data until each bake has its samples
    assert "pass" in verdicts and "fail" not in verdicts, verdicts
    prod = service.get("models/churn-prod")
    assert prod["champion"]["version"] == registry_version
    assert _serving(prod)[0] == registry_version

    # the same artifact bytes: dev's registered model, its registry copy, and what the prod endpoint loaded
    state = env.state_dir
    dev_registry = MlflowModelRegistry(env.env["MLFLOW_TRACKING_URI"])
    shared = MlflowModelRegistry(env.env["SHARED_REGISTRY_TRACKING_URI"])
    dev_files = _files(dev_registry.download("churn", dev_version, tmp_path / "dev"))
    shared_files = _files(shared.download("churn", registry_version, tmp_path / "shared"))
    assert dev_files and dev_files == shared_files
    copy = shared.get("churn", registry_version)
    assert copy.tags["source_version"] == dev_version and copy.tags["source_registry"] == "dev"
    deployments = requests.get(
        f"{env.endpoint_url}/endpoints/churn-prod-endpoint/deployments",
        headers={"Authorization": f"Bearer {env.endpoint_key}"},
        timeout=30,
    )
    deployments.raise_for_status()
    serving = [d for d in deployments.json()["value"] if d["model"]["version"] == registry_version]
    assert [d["model"]["uri"] for d in serving] == [copy.source_uri]  # the registry copy, not dev's
    loaded = [
        _files(p.parent) for p in (state / "endpoints" / "models" / "churn-prod-endpoint").rglob("MLmodel")
    ]
    assert shared_files in loaded

    # 3. a redelivered promoted event (Event Grid delivers at least once) starts nothing new
    before = {r["id"] for r in service.runs("churn-prod")}
    redelivered = requests.post(
        f"{env.devhost_url}/runtime/webhooks/eventgrid",
        params={"functionName": "on_model_promoted", "code": env.master_key},
        json=event,
        headers={"aeg-event-type": "Notification", "Content-Type": "application/cloudevents+json"},
        timeout=30,
    )
    assert redelivered.status_code in (200, 202), redelivered.text
    time.sleep(3)
    assert {r["id"] for r in service.runs("churn-prod")} == before
    assert service.get("models/churn-prod")["champion"]["version"] == registry_version
    assert len(service.runs("churn-prod")) == len(service.promoted()) == 2
    # prod announced its own two promotions on the same topic; its trigger refused them (not dev's source)
    assert len(service.promoted("/mllifecycle/envs/dev/models/churn-prod")) == 2
