"""The rollout on the Azure adapters, at the wire: the `rollout` orchestration runs for real on
devhost's durable engine (in-process, as tests/orchestrators do) with wiring overridden so that the
model registry, the online endpoint, the gates' telemetry and the lifecycle events are the Azure
adapters over the real SDK clients, sending to the recording stand-in (tests/wire/armstandin.py).
The tests assert the sequence and bodies of the calls Azure would receive: green created at 0%, the
mirror map, traffic 10 -> 50 -> 100, blue deleted and the champion tag moved on promotion; the exact
prior split restored and green deleted on rollback.

Scope: the data lake and the run ledger are the in-memory fakes here; the whole lifecycle from a
BlobCreated event, with Azurite and the Cosmos emulator, is tests/e2e/test_azure_mode_lifecycle.py.
The world (adapters, stand-in answers, fast policy) is shared with it: tests/e2e/azure_world.py."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import wiring
from core.kernel.payload import BlobRef
from core.kernel.ports import RunRecord
from core.rollout.payloads import RolloutInput
from core.run.runs import RunRules
from devhost.durable.clock import TimeSkippingClock
from devhost.durable.engine import DurableEngine
from samples.churn.data import generate
from tests.e2e.azure_world import EP, AzureWorld
from tests.wire.armstandin import WS_PATH, AzureStandIn
from tests.wire.conftest import standin_ml_client

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.filterwarnings("ignore::FutureWarning")]

EVAL = BlobRef(container="training", path="churn/dv-1/eval/")


def registered_run(world: AzureWorld) -> None:
    """run-1 as the lifecycle leaves it before the rollout: registered, its evaluation split in the lake."""
    buf = io.BytesIO()
    generate(50, 3).to_parquet(buf)
    world.data_lake.write("training", "churn/dv-1/eval/part-000.parquet", buf.getvalue())
    world.ledger.put_run(
        RunRecord(
            run_id="run-1",
            model="churn",
            status="registered",
            stage="register",
            lineage={"rules": RunRules.live(world.policy).snapshot()},  # as lifecycle_start records it
        )
    )


def rollout_input(world: AzureWorld) -> dict:
    return RolloutInput(
        run_id="run-1",
        model="churn",
        challenger_version="2",
        champion_version="1",
        policy=world.policy.model_dump(mode="json"),
        policy_hash=world.policy.hash,
        eval_ref=EVAL,
    ).dump()


def run_rollout(tmp_path: Path, world: AzureWorld, timeout: float = 90) -> dict:
    from tests.conftest import app_functions

    async def main() -> dict:
        engine = DurableEngine(
            db_path=tmp_path / "hub.db", functions=app_functions(), activity_concurrency=2, clock=world.clock
        )
        await engine.start("http://127.0.0.1:7071")
        try:
            await engine.start_new("rollout", instance_id="run-1-rollout", input=rollout_input(world))
            return await engine.wait_for("run-1-rollout", timeout)
        finally:
            await engine.stop()

    with wiring.override(settings=world.settings, policies={"churn": world.policy}, **world.overrides()):
        return asyncio.run(main())


def _world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, green_errors: int) -> AzureWorld:
    standin = AzureStandIn()
    # the engine skips the bakes' durable timers; Log Analytics' watermark follows the engine's clock
    clock = TimeSkippingClock()
    world = AzureWorld(tmp_path, standin, standin_ml_client(standin, monkeypatch), green_errors, clock=clock)
    registered_run(world)
    return world


@pytest.fixture
def healthy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureWorld]:
    yield _world(tmp_path, monkeypatch, green_errors=30)  # 1% like blue


@pytest.fixture
def failing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureWorld]:
    yield _world(tmp_path, monkeypatch, green_errors=600)  # 20% against blue's 1%


def test_a_healthy_challenger_is_rolled_out_on_azure_ml_and_blue_is_retired(healthy, tmp_path):
    healthy.champion_live({"blue": 100})
    status = run_rollout(tmp_path, healthy)
    assert status["runtimeStatus"] == "Completed" and status["output"]["status"] == "promoted", json.dumps(
        status["output"]
    )

    (green,) = healthy.standin.sent("PUT", rf"/onlineEndpoints/{EP}/deployments/green$")
    assert green.json()["properties"]["model"] == f"{WS_PATH}/models/churn/versions/2"
    assert healthy.traffic_puts() == [
        ({"blue": 100}, {"green": 20}),  # green created at 0%, then mirrored
        ({"blue": 90, "green": 10}, {}),
        ({"blue": 50, "green": 50}, {}),
        ({"green": 100}, {}),
    ]
    writes = [
        (c.method, c.path.removeprefix(WS_PATH))
        for c in healthy.standin.writes()
        if c.host == "management.azure.com"
    ]
    assert writes.index(("PUT", f"/onlineEndpoints/{EP}/deployments/green")) < writes.index(
        ("PUT", f"/onlineEndpoints/{EP}")
    )
    delete_blue = ("DELETE", f"/onlineEndpoints/{EP}/deployments/blue")
    assert delete_blue in writes
    assert writes.index(delete_blue) > max(
        i for i, w in enumerate(writes) if w == ("PUT", f"/onlineEndpoints/{EP}")
    )
    champion_puts = [c for c in healthy.standin.sent("PUT", r"/models/churn/versions/\d$")]
    assert [c.path[-1] for c in champion_puts] == ["2", "1"]  # tag the new champion, then untag the old
    assert healthy.registry.champion("churn").version == "2"

    smoke = healthy.standin.sent("POST", r"inference\.ml\.azure\.com/score$")
    assert smoke and smoke[0].headers["azureml-model-deployment"] == "green"
    gate_queries = [c.json() for c in healthy.standin.sent("POST", r"/v1/workspaces/.+/query$")]
    windows = [q for q in gate_queries if "summarize requests = count()" in q["query"]]
    assert len(windows) >= 3  # one judged window per gated step at least: mirror 20%, 10%, 50%
    assert all('DeploymentName in ("green", "blue")' in q["query"] and "/" in q["timespan"] for q in windows)
    assert "mllifecycle.promoted" in {e["type"] for e in healthy.standin.events}
    assert healthy.standin.unknown == []


def test_a_failing_challenger_is_rolled_back_to_the_exact_prior_split_and_deleted(failing, tmp_path):
    failing.champion_live({"blue": 90, "legacy": 10})
    status = run_rollout(tmp_path, failing)
    assert status["output"]["status"] == "rolled_back", status

    puts = failing.traffic_puts()
    assert puts[0] == ({"blue": 90, "legacy": 10}, {"green": 20})  # the mirror phase judged green first
    assert puts[-1] == ({"blue": 90, "legacy": 10}, {})  # the exact split that was live before
    (delete,) = failing.standin.sent("DELETE")
    assert delete.path == f"{WS_PATH}/onlineEndpoints/{EP}/deployments/green"
    assert failing.registry.champion("churn").version == "1"
    assert failing.standin.sent("PUT", r"/models/") == []  # the champion never moved
    assert "mllifecycle.rolled_back" in {e["type"] for e in failing.standin.events}
