"""Promotion from dev to prod through a shared registry, both environments on ONE devhost, as
`make demo`'s promote-to-prod runs them: dev's lifecycle promotes a champion, the service copies it
into the shared registry and publishes `promoted` on the lifecycle topic, devhost's topic
subscription delivers it to prod's `on_model_promoted`, and prod's deploy-only lifecycle ramps the
exact registry version (the same artifact bytes) on its own endpoint behind its own gates. A
redelivered `promoted` event starts nothing new.

On the stack the console's tests share (tests/dev_prod.py): dev's first champion (prod's first deploy goes
straight to 100%) and a second one an operator approved, both endpoints under load so both environments' gates
judge traffic; run after the console's module, the lifecycles are the ones its pages showed."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.demo import REGISTRY, _ramp
from tests.dev_prod import DevProd

pytestmark = [pytest.mark.slow, pytest.mark.e2e]  # one of tests/conftest.py's LIVE_STACK modules


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
    dev_prod: DevProd, tmp_path: Path
) -> None:
    from adapters.local.registry import MlflowModelRegistry

    # 1. dev's first champion: shared, announced, and deployed by prod (its first model: straight to 100%)
    first = dev_prod.first()
    assert first["status"] == "promoted", first.get("reasons")
    _, first_prod = dev_prod.prod_deploy(first["challenger_version"])
    assert first_prod["status"] == "promoted", first_prod.get("reasons")

    # 2. a better dev champion, approved by an operator; prod ramps its registry copy under load
    second, deploy = dev_prod.second()
    assert second["status"] == "promoted", second.get("reasons")

    # the event dev published names the registry copy of dev's new champion, and prod ramped exactly it
    dev_version = second["challenger_version"]
    [event] = [e for e in dev_prod.promoted() if e["data"]["version"] == dev_version]
    assert (event["data"]["registry"], event["data"]["registry_model"]) == (REGISTRY, "churn")
    registry_version = event["data"]["registry_version"]
    assert deploy["status"] == "promoted", deploy.get("reasons")
    assert deploy["challenger_version"] == registry_version
    assert _ramp(deploy) == "50->100"
    verdicts = [g["verdict"] for g in deploy["gates"]]  # need_more_data until each bake has its samples
    assert "pass" in verdicts and "fail" not in verdicts, verdicts
    prod = dev_prod.api.model("churn-prod")
    assert prod["champion"]["version"] == registry_version
    assert _serving(prod)[0] == registry_version

    # the same artifact bytes: dev's registered model, its registry copy, and what the prod endpoint loaded
    env = dev_prod.stack
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
    before = {r["id"] for r in dev_prod.runs("churn-prod")}
    redelivered = requests.post(
        f"{env.devhost_url}/runtime/webhooks/eventgrid",
        params={"functionName": "on_model_promoted", "code": env.master_key},
        json=event,
        headers={"aeg-event-type": "Notification", "Content-Type": "application/cloudevents+json"},
        timeout=30,
    )
    assert redelivered.status_code in (200, 202), redelivered.text
    time.sleep(3)
    assert {r["id"] for r in dev_prod.runs("churn-prod")} == before
    assert dev_prod.api.model("churn-prod")["champion"]["version"] == registry_version
    assert len(dev_prod.runs("churn-prod")) == len(dev_prod.promoted()) == 2
    # prod announced its own two promotions on the same topic; its trigger refused them (not dev's source)
    assert len(dev_prod.promoted("/mllifecycle/envs/dev/models/churn-prod")) == 2
