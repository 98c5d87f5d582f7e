"""The whole lifecycle in Azure mode, from a BlobCreated event to a promoted or rolled-back model,
with every port an Azure adapter:

- data lands in Azurite and BlobDataLake reads and writes it; the run ledger is CosmosRunLedger on
  the Cosmos emulator (@vercel/cosmosdb-server);
- Azure ML (data assets, training and evaluation jobs, their outputs, models, the online endpoint),
  Log Analytics and Event Grid are the Azure adapters over the real SDK clients, sending to the
  recording stand-in (tests/wire/armstandin.py): a submitted job runs, writes its named outputs
  where AML does, and completes; the adapter reads them back through run history and the datastore.

The Event Grid trigger function itself (`on_blob_created`, with its durable client middleware)
receives the event as the Python worker decodes it; its durable client talks HTTP to devhost's
engine (in-process, time-skipping clock), which runs coordinator -> lifecycle -> rollout. The tests
assert the sequence and bodies of what Azure would receive.

The world (adapters, stand-in answers, fast policy) is shared with test_azure_mode_rollout.py."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from azure.cosmos import CosmosClient
from azure.durable_functions.models.utils import http_utils

import wiring
from adapters.azure.datalake import BlobDataLake
from adapters.azure.ledger import CosmosRunLedger
from core.intake.payloads import coordinator_id
from core.training.jobs import job_name
from devhost import procs
from devhost.durable.api import register_routes
from devhost.durable.clock import TimeSkippingClock
from devhost.durable.engine import DurableEngine
from devhost.eventgrid import to_trigger_value
from devstack.stack import start_cosmos
from samples.churn.data import generate, to_csv_bytes
from tests.e2e.azure_world import EP, MLMODEL, AzureWorld
from tests.fakes import evaluation_metrics
from tests.wire.armstandin import WS_PATH, AzureStandIn
from tests.wire.conftest import standin_ml_client
from tests.wire.restspec import problems
from tests.wire.test_rest_specs_wire import DATA_VERSION, DEPLOYMENT, ENDPOINT, JOB, MODEL_VERSION

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]

# The Cosmos stand-in accepts any key; this is the public, documented emulator key.
EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
STORAGE_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/devstoreaccount1"
BLOB = "churn/2025/06/customers.csv"
CHALLENGER_AUC, CHAMPION_AUC = 0.80, 0.70
# Each ARM write the lifecycle makes, and the published REST spec (definition, file) its body must match.
ARM_SPECS = [
    (r"/data/[^/]+/versions/[^/]+", DATA_VERSION),
    (r"/jobs/[^/]+", JOB),
    (r"/models/[^/]+/versions/[^/]+", MODEL_VERSION),
    (r"/onlineEndpoints/[^/]+/deployments/[^/]+", DEPLOYMENT),
    (r"/onlineEndpoints/[^/]+", ENDPOINT),
]


@pytest.fixture(scope="module")
def cosmos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CosmosClient]:
    port = procs.free_port()
    proc = start_cosmos(port, tmp_path_factory.mktemp("cosmos") / "cosmosdb-server.log")
    try:  # the stand-in's certificate is self-signed: verification is off
        yield CosmosClient(f"https://127.0.0.1:{port}", credential=EMULATOR_KEY, connection_verify=False)
    finally:
        proc.stop()


def _job_writes(name: str, job: dict[str, Any]) -> dict[str, dict[str, bytes]]:
    """What the sample's jobs write: train.py an MLflow model, evaluate.py its metrics.json
    (with the champion's AUC only when the job was given the champion)."""
    if job["tags"]["stage"] == "train":
        return {"model": {"MLmodel": MLMODEL}, "metrics": {"train.json": b'{"train_auc": 0.9}'}}
    champion = CHAMPION_AUC if "champion" in job["inputs"] else None
    return {"metrics": evaluation_metrics(CHALLENGER_AUC, champion)}


class Scenario:
    """An Azure world on Azurite and Cosmos, the engine's clock, and the data that lands."""

    def __init__(
        self, tmp: Path, monkeypatch: pytest.MonkeyPatch, azurite: str, cosmos: CosmosClient, **kw: Any
    ):
        self.tmp = tmp
        self.clock = TimeSkippingClock()
        standin = AzureStandIn(complete_after_reads=2, job_writes=_job_writes)
        self.lake = BlobDataLake.from_connection_string(azurite)
        unique = uuid.uuid4().hex[
            :10
        ]  # Azurite and Cosmos are shared by the module: a fresh ledger and landing container
        self.ledger = CosmosRunLedger(
            CosmosRunLedger.ensure_container(cosmos, "mllifecycle", f"ledger{unique}")
        )
        self.world = AzureWorld(
            tmp,
            standin,
            standin_ml_client(standin, monkeypatch),
            data_lake=self.lake,
            ledger=self.ledger,
            now=self.clock.now,
            **kw,
        )
        self.standin = standin
        self.raw_container = f"raw{unique}"
        data = self.world.policy.data.model_copy(update={"container": self.raw_container})
        self.policy = self.world.policy = self.world.policy.model_copy(update={"data": data})

    def land(self) -> dict[str, Any]:
        """customers.csv lands in raw/churn/: the BlobCreated event Event Grid delivers (Event Grid schema)."""
        info = self.lake.write(
            self.raw_container, BLOB, to_csv_bytes(generate(400, 1)), content_type="text/csv"
        )
        return {
            "id": "evt-blob-1",
            "topic": STORAGE_ID,
            "subject": f"/blobServices/default/containers/{self.raw_container}/blobs/{BLOB}",
            "eventType": "Microsoft.Storage.BlobCreated",
            "eventTime": datetime.now(UTC).isoformat(),
            "dataVersion": "",
            "metadataVersion": "1",
            "data": {
                "api": "PutBlob",
                "clientRequestId": "c1",
                "requestId": "r1",
                "eTag": info.etag,
                "contentType": "text/csv",
                "contentLength": info.size,
                "blobType": "BlockBlob",
                "url": info.url,
                "sequencer": "0000000000000000000000000000000100000000000000a1",
                "storageDiagnostics": {"batchId": "b1"},
            },
        }

    def run(self, event: dict[str, Any], timeout: float = 120) -> tuple[str, dict[str, Any]]:
        """Deliver the event to the trigger function and wait for the run its coordinator starts."""
        from tests.conftest import app_functions

        (trigger,) = [f for f in app_functions() if f.get_function_name() == "on_blob_created"]

        async def main() -> tuple[str, dict[str, Any]]:
            port = procs.free_port()
            engine = DurableEngine(
                db_path=self.tmp / "hub.db",
                functions=app_functions(),
                activity_concurrency=2,
                clock=self.clock,
            )
            web_app = web.Application()
            register_routes(engine, web_app)
            runner = web.AppRunner(web_app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            await engine.start(f"http://127.0.0.1:{port}")
            try:
                # the worker's call: the decoded event, and the binding its durable client middleware reads
                await trigger.get_user_function()(
                    event=to_trigger_value(event), client=engine.client_binding()
                )
                run_id = await self._claimed(engine)
                return run_id, await engine.wait_for(run_id, timeout)
            finally:
                await http_utils._close_session()  # the SDK's one session belongs to this loop
                await engine.stop()
                await runner.cleanup()

        with wiring.override(
            settings=self.world.settings,
            policies={"churn": self.policy},
            code_version="abc123",
            **self.world.overrides(),
        ):
            return asyncio.run(main())

    @staticmethod
    async def _claimed(engine: DurableEngine) -> str:
        """The run id the coordinator claimed once the debounce window closed."""
        for _ in range(600):
            status = await engine.get_status(coordinator_id("churn"))
            run_id = ((status or {}).get("customStatus") or {}).get("run_id")
            if run_id:
                return run_id
            await asyncio.sleep(0.05)
        raise TimeoutError(f"the coordinator claimed no run: {status}")

    # ------------------------------------------------------------------ what Azure received

    def writes(self) -> list[tuple[str, str]]:
        return [
            (c.method, c.path.removeprefix(WS_PATH))
            for c in self.standin.writes()
            if c.host == "management.azure.com"
        ]

    def spec_problems(self) -> list[str]:
        """Every data asset, job, model, endpoint and deployment PUT, checked against the REST spec of
        the api-version it was sent with (tests/wire/specs): unknown, missing or read-only properties."""
        found, checked = [], set()
        for call in self.standin.sent("PUT", r"^management\.azure\.com"):
            rest = call.path.removeprefix(WS_PATH)
            for pattern, (definition, spec_file) in ARM_SPECS:
                if re.fullmatch(pattern, rest):
                    checked.add(pattern)
                    if call.api_version != spec_file.removeprefix("mfe-").removesuffix(".json"):
                        found.append(f"{rest}: sent with api-version {call.api_version}, not {spec_file}'s")
                    found += [f"{rest}: {p}" for p in problems(call.json(), definition, spec_file)]
                    break
        assert checked == {pattern for pattern, _ in ARM_SPECS}, f"only {checked} were sent"
        return found

    def job(self, name: str) -> dict[str, Any]:
        (put,) = self.standin.sent("PUT", rf"^management\.azure\.com{WS_PATH}/jobs/{name}$")
        return put.json()["properties"]


@pytest.fixture
def scenario(tmp_path, monkeypatch, azurite, cosmos) -> Iterator[Scenario]:
    yield Scenario(tmp_path, monkeypatch, azurite, cosmos, green_errors=30)  # green at 1% like blue


@pytest.fixture
def failing(tmp_path, monkeypatch, azurite, cosmos) -> Iterator[Scenario]:
    yield Scenario(tmp_path, monkeypatch, azurite, cosmos, green_errors=600)  # 20% against blue's 1%


def test_data_landing_in_blob_trains_evaluates_registers_and_promotes_on_azure_ml(scenario):
    s = scenario
    s.world.champion_live({"blue": 100}, challenger=False)
    event = s.land()
    run_id, status = s.run(event)
    assert status["runtimeStatus"] == "Completed", json.dumps(status)[:3000]
    assert status["output"]["status"] == "promoted", json.dumps(status["output"])[:3000]

    record = s.ledger.get_run(run_id)  # Cosmos
    assert record is not None and record.status == "promoted"
    dv = record.data_version
    assert dv and dv.startswith("dv-")
    train_name, eval_name = job_name("churn", "train", run_id, dv), job_name("churn", "eval", run_id, dv)

    # the data version as AML data assets: one per job input, version = data version, uri = the lake folder
    for input_name, split in (("train_data", "train"), ("eval_data", "eval")):
        (put,) = s.standin.sent("PUT", rf"/data/churn-lifecycle-{input_name}/versions/{dv}$")
        body = put.json()["properties"]
        assert body["dataType"] == "uri_folder"
        assert body["dataUri"] == s.lake.url("training", f"churn/{dv}/{split}/")
        assert body["tags"] == {"model": "churn", "data_version": dv, "lifecycle_id": run_id}

    train = s.job(train_name)
    assert (train["jobType"], train["experimentName"]) == ("Command", "churn-lifecycle")
    assert train["computeId"] == f"{WS_PATH}/computes/gpu-cluster"
    assert train["inputs"]["train_data"]["uri"] == f"{WS_PATH}/data/churn-lifecycle-train_data/versions/{dv}"
    assert train["inputs"]["eval_data"]["uri"] == f"{WS_PATH}/data/churn-lifecycle-eval_data/versions/{dv}"
    assert train["tags"]["stage"] == "train"
    assert {k: train["tags"][k] for k in ("model", "lifecycle_id", "data_version")} == {
        "model": "churn",
        "lifecycle_id": run_id,
        "data_version": dv,
    }

    evaluation = s.job(eval_name)
    assert evaluation["inputs"]["challenger"]["uri"] == f"azureml://jobs/{train_name}/outputs/model"
    assert evaluation["inputs"]["challenger"]["jobInputType"] == "mlflow_model"
    assert evaluation["inputs"]["champion"]["uri"] in (
        "azureml:churn:1",
        f"{WS_PATH}/models/churn/versions/1",
    )
    assert evaluation["inputs"]["eval_data"] == train["inputs"]["eval_data"]
    assert (evaluation["tags"]["stage"], evaluation["tags"]["champion_version"]) == ("evaluate", "1")
    assert evaluation["computeId"] == f"{WS_PATH}/computes/gpu-cluster"

    # the challenger registered from the training job's output, with its lineage
    model_puts = s.standin.sent("PUT", r"/models/churn/versions/2$")
    registered = model_puts[0].json()["properties"]
    assert registered["modelUri"] == f"azureml://jobs/{train_name}/outputs/model"
    assert registered["modelType"] == "mlflow_model"
    tags = registered["tags"]
    assert tags["lifecycle_id"] == run_id and tags["data_version"] == dv
    assert tags["code_version"] == "abc123" and tags["policy_hash"] == s.policy.hash
    assert tags["train_job"] == train_name and tags["evaluation_verdict"] == "promote"
    assert tags["trigger_event_ids"] == "evt-blob-1"

    # the rollout: green at 0% (mirrored), 10 -> 50 -> 100, then blue retired and the champion moved
    (green,) = s.standin.sent("PUT", rf"/onlineEndpoints/{EP}/deployments/green$")
    assert green.json()["properties"]["model"] == f"{WS_PATH}/models/churn/versions/2"
    assert s.world.traffic_puts() == [
        ({"blue": 100}, {"green": 20}),
        ({"blue": 90, "green": 10}, {}),
        ({"blue": 50, "green": 50}, {}),
        ({"green": 100}, {}),
    ]
    w = s.writes()
    order = [
        ("PUT", f"/data/churn-lifecycle-train_data/versions/{dv}"),
        ("PUT", f"/jobs/{train_name}"),
        ("PUT", f"/jobs/{eval_name}"),
        ("PUT", "/models/churn/versions/2"),
        ("PUT", f"/onlineEndpoints/{EP}/deployments/green"),
        ("PUT", f"/onlineEndpoints/{EP}"),
        ("DELETE", f"/onlineEndpoints/{EP}/deployments/blue"),
    ]
    assert [w.index(step) for step in order] == sorted(w.index(step) for step in order), w
    last_traffic = max(i for i, x in enumerate(w) if x == ("PUT", f"/onlineEndpoints/{EP}"))
    assert w.index(("DELETE", f"/onlineEndpoints/{EP}/deployments/blue")) > last_traffic
    assert s.world.registry.champion("churn").version == "2"

    # the lifecycle's CloudEvents, in order, on the Event Grid topic
    types = [e["type"] for e in s.standin.events]
    assert [
        t for t in types if t in ("mllifecycle.started", "mllifecycle.registered", "mllifecycle.promoted")
    ] == [
        "mllifecycle.started",
        "mllifecycle.registered",
        "mllifecycle.promoted",
    ]
    assert all(e["specversion"] == "1.0" and e["subject"] == f"lifecycles/{run_id}" for e in s.standin.events)
    assert s.spec_problems() == []
    assert s.standin.unknown == []


def test_a_challenger_failing_its_gates_is_rolled_back_to_the_exact_prior_split_on_azure_ml(failing):
    s = failing
    s.world.champion_live({"blue": 90, "legacy": 10}, challenger=False)
    run_id, status = s.run(s.land())
    assert status["output"]["status"] == "rolled_back", json.dumps(status)[:3000]
    assert s.ledger.get_run(run_id).status == "rolled_back"

    assert len(s.standin.sent("PUT", r"/workspaces/[^/]+/jobs/[^/]+$")) == 2  # trained and evaluated
    assert len(s.standin.sent("PUT", r"/models/churn/versions/2$")) >= 1  # registered as a challenger
    puts = s.world.traffic_puts()
    assert puts[0] == ({"blue": 90, "legacy": 10}, {"green": 20})
    assert puts[-1] == ({"blue": 90, "legacy": 10}, {})  # exactly what was live before
    (delete,) = s.standin.sent("DELETE")
    assert delete.path == f"{WS_PATH}/onlineEndpoints/{EP}/deployments/green"
    assert s.world.registry.champion("churn").version == "1"
    assert s.standin.sent("PUT", r"/models/churn/versions/1$") == []  # the champion tag never moved
    types = [e["type"] for e in s.standin.events]
    assert "mllifecycle.rolled_back" in types and "mllifecycle.promoted" not in types
    assert s.spec_problems() == []
    assert s.standin.unknown == []
