"""The rollout on the Azure adapters, at the wire: the `rollout` orchestration runs for real on
devhost's durable engine (in-process, as tests/orchestrators do) with wiring overridden so that the
model registry, the online endpoint, the gates' telemetry and the lifecycle events are the Azure
adapters over the real SDK clients, sending to the recording stand-in (tests/wire/armstandin.py).
The tests assert the sequence and bodies of the calls Azure would receive: green created at 0%, the
mirror map, traffic 10 -> 50 -> 100, blue deleted and the champion tag moved on promotion; the exact
prior split restored and green deleted on rollback.

Scope: the data lake and the run ledger are the in-memory fakes here (Azurite and the Cosmos emulator
are exercised by tests/integration); training (trigger -> coordinator -> lifecycle) is not part of
this test."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.monitor.query import LogsQueryClient

import wiring as bootstrap
from adapters.azure.endpoints import AzureMLEndpoints
from adapters.azure.events import EventGridEventPublisher
from adapters.azure.registry import AzureMLModelRegistry
from adapters.azure.traffic_stats import LogAnalyticsTrafficStats
from core.payloads.lifecycle import BlobRef
from core.payloads.rollout import RolloutInput
from core.policy import MirrorPolicy, load_policy
from core.ports import RunRecord
from core.runs import RunRules
from core.settings import Settings
from devhost.durable.engine import DurableEngine
from samples.churn.data import generate
from tests.fakes import FakeAdapters
from tests.wire.armstandin import LA_WORKSPACE_ID, TOPIC_HOST, WS_PATH, AzureStandIn, FakeCredential
from tests.wire.conftest import standin_ml_client

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.filterwarnings("ignore::FutureWarning")]

ROOT = Path(__file__).resolve().parents[2]
EP = "churn-endpoint"
EVAL = BlobRef(container="training", path="churn/dv-1/eval/")
SRC = "azureml://jobs/churn-run-{}-train/outputs/model"
# What a training job leaves in the workspace's artifact store: an MLflow model (no signature, so the
# smoke test scores the evaluation split's own rows).
MLMODEL = b"artifact_path: model\nflavors:\n  python_function:\n    loader_module: mlflow.sklearn\n    python_version: 3.11.7\n"


def _stats_table(green_errors: int) -> dict[str, Any]:
    rows = [["blue", 27000, 270, 0, 50.0, 114.0, 160.0], ["green", 3000, green_errors, 0, 50.0, 114.0, 160.0]]
    return {
        "tables": [
            {
                "name": "PrimaryResult",
                "columns": [
                    {"name": "DeploymentName", "type": "string"},
                    {"name": "requests", "type": "long"},
                    {"name": "errors", "type": "long"},
                    {"name": "throttled", "type": "long"},
                    {"name": "p50_ms", "type": "real"},
                    {"name": "p95_ms", "type": "real"},
                    {"name": "p99_ms", "type": "real"},
                ],
                "rows": rows,
            }
        ]
    }


class AzureWorld:
    def __init__(self, tmp: Path, standin: AzureStandIn, ml_client: Any, green_errors: int) -> None:
        self.standin = standin
        self.fakes = FakeAdapters()
        self.settings = Settings(mode="azure", local_state_dir=tmp / "state")
        policy = load_policy(ROOT / "samples" / "churn" / "policy.yaml")
        rollout = policy.rollout.model_copy(
            update={
                "mirror": MirrorPolicy(percent=20, bake_seconds=1),
                "min_bake_seconds": 1,
                "step_deadline_seconds": 30,
                "approval": None,
                "smoke_rows": 5,
            }
        )
        self.policy = policy.model_copy(update={"rollout": rollout})
        buf = io.BytesIO()
        generate(50, 3).to_parquet(buf)
        self.fakes.data_lake.put("training", "churn/dv-1/eval/part-000.parquet", buf.getvalue())
        self.fakes.ledger.put_run(
            RunRecord(
                run_id="run-1",
                model="churn",
                status="registered",
                stage="register",
                lineage={"rules": RunRules.live(self.policy).snapshot()},  # as lifecycle_start records it
            )
        )

        def logs(query: str, timespan: str | None) -> dict[str, Any]:
            if "summarize ingested_until" in query:  # everything up to now is ingested
                now = (datetime.now(UTC) + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                return {
                    "tables": [
                        {
                            "name": "PrimaryResult",
                            "columns": [{"name": "ingested_until", "type": "datetime"}],
                            "rows": [[now]],
                        }
                    ]
                }
            return _stats_table(green_errors)

        standin.logs_answer = logs
        standin.score = lambda call: (200, {}, [0] * len(call.json()["input_data"]["data"]))
        standin.deployments_succeed_on_read = True
        session = requests.Session()
        session.mount("https://", standin.transport().session.get_adapter("https://"))
        self.registry = AzureMLModelRegistry(ml_client)
        self.endpoints = AzureMLEndpoints(ml_client, http=session)
        self.traffic_stats = LogAnalyticsTrafficStats(
            LogsQueryClient(FakeCredential(), transport=standin.transport()), LA_WORKSPACE_ID
        )
        self.events = EventGridEventPublisher(
            f"https://{TOPIC_HOST}/api/events", FakeCredential(), transport=standin.transport()
        )

    def champion_live(self, traffic: dict[str, int]) -> None:
        """Versions 1 (champion, live as `traffic`) and 2 (the challenger) registered on AML."""
        for run in (0, 1):
            self.standin.put_blob(
                "azureml", f"ExperimentRun/dcid.churn-run-{run}-train/model/MLmodel", MLMODEL
            )
        self.registry.register("churn", SRC.format(0), {"lifecycle_id": "earlier"})
        self.registry.register("churn", SRC.format(1), {"lifecycle_id": "run-1"})
        self.registry.set_champion("churn", "1")
        self.standin.add_endpoint(EP)
        v1 = self.registry.get("churn", "1")
        for name in traffic:
            self.endpoints.begin_deploy(EP, name, v1)
            self.standin.finish_deployment(EP, name)
        self.endpoints.set_traffic(EP, traffic)
        self.standin.calls.clear()

    def overrides(self) -> dict[str, Any]:
        return {
            **self.fakes.as_overrides(),
            "registry": self.registry,
            "endpoints": self.endpoints,
            "traffic_stats": self.traffic_stats,
            "events": self.events,
        }

    def input(self) -> dict:
        return RolloutInput(
            run_id="run-1",
            model="churn",
            challenger_version="2",
            champion_version="1",
            policy=self.policy.model_dump(mode="json"),
            policy_hash=self.policy.hash,
            eval_ref=EVAL,
        ).dump()

    def traffic_puts(self) -> list[tuple[dict[str, int], dict[str, int]]]:
        puts = self.standin.sent("PUT", rf"/onlineEndpoints/{EP}$")
        return [
            (c.json()["properties"].get("traffic", {}), c.json()["properties"].get("mirrorTraffic") or {})
            for c in puts
        ]


def run_rollout(tmp_path: Path, world: AzureWorld, timeout: float = 90) -> dict:
    from tests.conftest import app_functions

    async def main() -> dict:
        engine = DurableEngine(db_path=tmp_path / "hub.db", functions=app_functions(), activity_concurrency=2)
        await engine.start("http://127.0.0.1:7071")
        try:
            await engine.start_new("rollout", instance_id="run-1-rollout", input=world.input())
            return await engine.wait_for("run-1-rollout", timeout)
        finally:
            await engine.stop()

    with bootstrap.override(settings=world.settings, policies={"churn": world.policy}, **world.overrides()):
        return asyncio.run(main())


def _world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, green_errors: int) -> AzureWorld:
    standin = AzureStandIn()
    return AzureWorld(tmp_path, standin, standin_ml_client(standin, monkeypatch), green_errors)


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
