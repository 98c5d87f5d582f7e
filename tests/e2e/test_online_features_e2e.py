"""Serving by entity id end to end on the local stack: Azurite, the Cosmos stand-in as the online feature
store, the endpoint stand-in and devhost on this repo's function_app.py, with real training jobs. A lifecycle
materializes the customers of its data version, trains, rolls the model out (the deployment is told its
feature set version), and the endpoint then answers requests that carry only a customer id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from devhost import procs
from samples.churn.data import generate
from samples.churn.features import FEATURES
from tests.e2e.test_lifecycle_core import CHURN, Client

pytestmark = [
    pytest.mark.slow,
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]
ENDPOINT = "churn-e2e"


def _policy(folder: Path) -> Path:
    """The sample policy, fast, with online features and a rollout that promotes on a quiet endpoint."""
    doc = yaml.safe_load((CHURN / "policy.yaml").read_text())
    doc["data"]["contract"] = str(CHURN / doc["data"]["contract"])
    doc["training"]["job"] = str(CHURN / doc["training"]["job"])
    doc["training"]["evaluation_job"] = str(CHURN / doc["training"]["evaluation_job"])
    doc["training"].update(poll_seconds=1, deadline_seconds=600)
    doc["online_features"] = {"transform": "samples.churn.features:to_features", "ttl_seconds": 86400}
    doc["rollout"].update(
        enabled=True, endpoint=ENDPOINT, steps=[100], min_bake_seconds=0, min_samples=0,
        step_deadline_seconds=5, on_inconclusive="promote", mirror=None, approval=None,
    )  # fmt: skip
    (folder / "churn").mkdir(parents=True)
    (folder / "churn" / "policy.yaml").write_text(yaml.safe_dump(doc))
    return folder


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    from devstack.stack import running_stack

    base = tmp_path_factory.mktemp("online-features-e2e")
    mp = pytest.MonkeyPatch()
    mp.setenv("LIFECYCLE_POLICY_DIR", str(_policy(base / "policies")))
    try:
        with running_stack(
            base / "state",
            devhost_port=procs.free_port(),
            azurite_port=procs.free_port(),
            endpoint_port=procs.free_port(),
            feature_store_port=procs.free_port(),
        ) as stack:
            yield Client(stack)
    finally:
        mp.undo()


def _score(client: Client, rows: list[list[Any]], columns: list[str]) -> requests.Response:
    stack = client.stack
    body = {"input_data": {"columns": columns, "index": list(range(len(rows))), "data": rows}}
    headers = {"Authorization": f"Bearer {stack.endpoint_key}"}
    return requests.post(
        f"{stack.endpoint_url}/endpoints/{ENDPOINT}/score", headers=headers, json=body, timeout=30
    )


def test_after_a_lifecycle_the_endpoint_answers_by_customer_id_with_the_features_the_model_was_trained_on(
    client,
):
    customers = generate(1500, seed=21)
    status = client.run("e2e-online", [client.land("online", customers)], timeout=300)
    out = status["output"]
    assert status["runtimeStatus"] == "Completed" and out["status"] == "promoted", status
    progress = status["customStatus"]
    assert progress["feature_set_version"] == progress["data_version"]

    ids = customers["customer_id"].astype(str).tolist()[:5]
    answer = _score(client, [[i] for i in ids], ["customer_id"])
    assert answer.status_code == 200, answer.text
    assert len(answer.json()) == 5

    unknown = _score(client, [[ids[0]], ["no-such-customer"]], ["customer_id"])
    assert unknown.status_code == 424
    assert [(e["row"], e["entity_id"]) for e in unknown.json()["errors"]] == [(1, "no-such-customer")]

    inline = _score(client, [[1.0] * 15], list(FEATURES))  # a request that carries its features still works
    assert inline.status_code == 200, inline.text
