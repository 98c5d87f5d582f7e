"""Scoring by entity id on the local endpoint stand-in, with the online feature store on the Cosmos stand-in
(@vercel/cosmosdb-server): both run as processes, each stopped by this module."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests

from adapters.azure.feature_store import CosmosOnlineFeatureStore
from core.kernel.contract import load_contract
from core.kernel.datafiles import read_csv, typed_frame
from core.training.online_features import latest_vectors, load_transform
from devhost import procs
from devstack import REPO_ROOT
from devstack.stack import start_cosmos
from samples.churn.data import generate, to_csv_bytes
from tests.integration.azure.test_cosmos_ledger import EMULATOR_KEY
from tests.integration.endpoint_support import KEY, train_churn_models, wait_state

pytestmark = [
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]
AUTH = {"Authorization": f"Bearer {KEY}"}
EP = "churn"
CONTRACT = load_contract(REPO_ROOT / "samples" / "churn" / "contract.yaml")
TO_FEATURES = load_transform("samples.churn.features:to_features")


def _env(version: str) -> dict[str, str]:
    return {"FEATURE_SET": "churn", "FEATURE_SET_VERSION": version, "FEATURE_ENTITY_COLUMN": "customer_id"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    state = tmp_path_factory.mktemp("online-features")
    _, booster = train_churn_models(state / "models")
    cosmos_port = procs.free_port()
    cosmos = start_cosmos(cosmos_port, state / "cosmos.log")
    server = None
    try:
        endpoint = f"https://127.0.0.1:{cosmos_port}"
        store = CosmosOnlineFeatureStore.connect(
            endpoint, EMULATOR_KEY, "mllifecycle", connection_verify=False
        )
        customers = typed_frame(read_csv(to_csv_bytes(generate(30, 9))), CONTRACT)
        old, new = customers.iloc[:30], customers.iloc[:20]  # dv-2 no longer has the last ten customers
        at = datetime(2026, 3, 1, tzinfo=UTC)
        for version, frame in (("dv-1", old), ("dv-2", new)):
            vectors = latest_vectors(frame, CONTRACT, TO_FEATURES)
            store.materialize(
                "churn", version, vectors, entity_column="customer_id", ttl_seconds=3600, materialized_at=at
            )
        port = procs.free_port()
        argv = procs.python_argv(
            "-m", "standins.endpoint.server", "--port", str(port), "--db", str(state / "traffic.db"),
            "--state-dir", str(state / "endpoints"), "--flush-interval", "0.1",
        )  # fmt: skip
        env = {
            "LOCAL_ENDPOINT_KEY": KEY,
            "FEATURE_STORE_ENDPOINT": endpoint,
            "FEATURE_STORE_KEY": EMULATOR_KEY,
        }
        server = procs.start(
            "endpoints", argv, port, log_path=state / "server.log", env=env, cwd=REPO_ROOT, timeout=90
        )
        url = f"http://127.0.0.1:{port}"
        requests.put(f"{url}/endpoints/{EP}", headers=AUTH, json={}, timeout=10).raise_for_status()
        for name, version in (("blue", "dv-1"), ("green", "dv-2")):
            body = {
                "model": {"name": "churn", "version": name, "uri": str(booster)},
                "environment_variables": _env(version),
            }
            requests.put(
                f"{url}/endpoints/{EP}/deployments/{name}", headers=AUTH, json=body, timeout=10
            ).raise_for_status()
        for name in ("blue", "green"):
            assert wait_state(url, EP, name)["state"] == "succeeded"
        requests.patch(
            f"{url}/endpoints/{EP}", headers=AUTH, json={"traffic": {"blue": 100, "green": 0}}, timeout=10
        )
        yield {"url": url, "customers": customers, "state": state}
    finally:
        if server is not None:
            server.stop()
        cosmos.stop()


def _score(world: dict, columns: list[str], rows: list[list], deployment: str) -> requests.Response:
    body = {"input_data": {"columns": columns, "index": list(range(len(rows))), "data": rows}}
    headers = {**AUTH, "azureml-model-deployment": deployment}
    return requests.post(f"{world['url']}/endpoints/{EP}/score", headers=headers, json=body, timeout=30)


def test_a_request_with_only_customer_ids_is_answered_as_if_it_carried_their_features(world):
    customers = world["customers"].iloc[:3]
    ids = customers["customer_id"].astype(str).tolist()
    by_id = _score(world, ["customer_id"], [[i] for i in ids], "blue")
    assert by_id.status_code == 200, by_id.text
    features = TO_FEATURES(customers.drop(columns=["customer_id", "churned"]))
    inline = _score(world, list(features.columns), features.values.tolist(), "blue")
    assert inline.status_code == 200  # a request that carries its features still works
    assert by_id.json() == pytest.approx(inline.json())


def test_green_reads_the_feature_set_version_it_was_trained_with_and_names_each_unknown_customer(world):
    gone = world["customers"]["customer_id"].astype(str).tolist()[25:27]
    known = world["customers"]["customer_id"].astype(str).tolist()[0]
    assert _score(world, ["customer_id"], [[known], *[[g] for g in gone]], "blue").status_code == 200
    answer = _score(world, ["customer_id"], [[known], *[[g] for g in gone]], "green")
    assert answer.status_code == 424
    errors = answer.json()["errors"]
    assert [(e["row"], e["entity_id"], e["code"]) for e in errors] == [
        (1, gone[0], "UnknownEntity"),
        (2, gone[1], "UnknownEntity"),
    ]
    assert "version dv-2" in errors[0]["message"]


def test_the_traffic_log_counts_an_unknown_entity_as_an_error_of_the_deployment_that_missed_it(world):
    gone = world["customers"]["customer_id"].astype(str).tolist()[29]
    assert _score(world, ["customer_id"], [[gone]], "green").status_code == 424
    requests.post(f"{world['url']}/admin/flush", headers=AUTH, timeout=10).raise_for_status()
    with sqlite3.connect(world["state"] / "traffic.db") as conn:
        codes = [
            r[0]
            for r in conn.execute(
                "SELECT ResponseCode FROM AmlOnlineEndpointTrafficLog WHERE DeploymentName = 'green'"
            )
        ]
    assert "424" in codes
