"""Issue 3 end to end: Azurite + devhost on THIS repo's function_app.py, real local training jobs
(XGBoost subprocesses from the churn job YAMLs), the MLflow registry and the SQLite ledger.

Runs are started directly on the `lifecycle` orchestrator over devhost's durable HTTP API (the
coordinator and its debounce are the triggers' business and tested there); data lands under a
prefix no trigger watches, so nothing else starts a run behind the test's back."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from adapters.azure.datalake import BlobDataLake
from adapters.local.ledger import SqliteRunLedger
from devhost import procs
from samples.churn.data import corrupt, generate, to_csv_bytes

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
CHURN = ROOT / "samples" / "churn"
TERMINAL = {"Completed", "Failed", "Terminated", "Canceled"}


def _fast_policy(folder: Path) -> Path:
    """The sample policy with a 1 s poll (absolute paths back to the sample's contract and jobs)."""
    doc = yaml.safe_load((CHURN / "policy.yaml").read_text())
    doc["data"]["contract"] = str(CHURN / doc["data"]["contract"])
    doc["training"]["job"] = str(CHURN / doc["training"]["job"])
    doc["training"]["evaluation_job"] = str(CHURN / doc["training"]["evaluation_job"])
    doc["training"].update(poll_seconds=1, deadline_seconds=600)
    doc["rollout"]["enabled"] = False  # this test ends at registration; no endpoint server runs
    (folder / "churn").mkdir(parents=True)
    (folder / "churn" / "policy.yaml").write_text(yaml.safe_dump(doc))
    return folder


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    from devstack.stack import running_stack

    base = tmp_path_factory.mktemp("lifecycle-e2e")
    mp = pytest.MonkeyPatch()
    mp.setenv("LIFECYCLE_POLICY_DIR", str(_fast_policy(base / "policies")))
    mp.setenv("CODE_VERSION", "e2e-commit")
    try:
        with running_stack(
            base / "state",
            devhost_port=procs.free_port(),
            azurite_port=procs.free_port(),
            endpoint_port=procs.free_port(),
            with_endpoints=False,
        ) as s:
            yield s
    finally:
        mp.undo()


class Client:
    def __init__(self, stack) -> None:
        self.stack = stack
        self.lake = BlobDataLake.from_connection_string(stack.connection_string)
        self.ledger = SqliteRunLedger(stack.state_dir / "ledger.db")

    @property
    def key(self) -> str:
        keys = json.loads((self.stack.state_dir / "devhost" / "keys.json").read_text())
        return keys["durabletask_extension"]

    def _url(self, path: str) -> str:
        return f"{self.stack.devhost_url}/runtime/webhooks/durabletask/{path}"

    def land(self, name: str, frame) -> dict[str, str]:
        path = f"e2e/{name}.csv"
        self.lake.write("raw", path, to_csv_bytes(frame), overwrite=True)
        return {"container": "raw", "path": path}

    def run(self, instance_id: str, blobs: list[dict[str, str]], timeout: float = 150) -> dict[str, Any]:
        body = {"model": "churn", "source": "operator", "request_ids": [f"req-{instance_id}"], "blobs": blobs}
        r = requests.post(
            self._url(f"orchestrators/lifecycle/{instance_id}"),
            params={"code": self.key},
            json=body,
            timeout=10,
        )
        assert r.status_code in (200, 202), r.text
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = requests.get(
                self._url(f"instances/{instance_id}"), params={"code": self.key}, timeout=10
            ).json()
            if status.get("runtimeStatus") in TERMINAL:
                return status
            time.sleep(0.5)
        raise TimeoutError(f"{instance_id} did not finish in {timeout}s: {status}")

    def set_champion(self, version: str) -> None:
        from adapters.local.registry import MlflowModelRegistry

        MlflowModelRegistry(self.stack.env["MLFLOW_TRACKING_URI"]).set_champion("churn", version)


@pytest.fixture(scope="module")
def client(stack) -> Client:
    return Client(stack)


def test_the_lifecycle_promotes_the_first_model_then_a_better_one_keeps_on_no_gain_and_rejects_bad_data(
    client,
):
    # 1. first data: trained, evaluated (no champion -> promote) and registered
    first_data = client.land("first", generate(1500, seed=11, drift=0.0))
    first = client.run("e2e-first", [first_data])
    assert first["runtimeStatus"] == "Completed", first
    out = first["output"]
    assert out["status"] == "registered", out
    assert out["decision"]["verdict"] == "promote" and out["decision"]["champion"] is None
    assert first["customStatus"]["decision"]["challenger"] == out["decision"]["challenger"]
    record = client.ledger.get_run("e2e-first")
    assert record.status == "registered" and record.decision["verdict"] == "promote"
    assert record.data_version == out["data_version"] and record.lineage["code_version"] == "e2e-commit"

    # 2. with that model as champion, drifted data yields a challenger that beats it
    client.set_champion(out["challenger_version"])
    drifted = client.run("e2e-drift", [client.land("drifted", generate(1500, seed=12, drift=1.0))])
    d = drifted["output"]["decision"]
    assert drifted["output"]["status"] == "registered", drifted["output"]
    assert d["verdict"] == "promote" and d["champion"] is not None and d["abs_gain"] > 0.005
    assert client.ledger.get_run("e2e-drift").champion_version == out["challenger_version"]

    # 3. the same data again gives no real gain over the model trained on it: keep the champion
    client.set_champion(drifted["output"]["challenger_version"])
    again = client.run("e2e-again", [client.land("drifted", generate(1500, seed=12, drift=1.0))])
    assert again["output"]["status"] == "kept", again["output"]
    k = again["output"]["decision"]
    assert k["verdict"] == "keep" and abs(k["abs_gain"]) < 0.005
    assert again["customStatus"]["decision"]["reasons"] == k["reasons"]
    kept = client.ledger.get_run("e2e-again")
    assert kept.status == "kept" and kept.decision["abs_gain"] == k["abs_gain"]

    # 4. malformed data: quarantined with a report, run rejected, nothing trained
    bad = client.run("e2e-bad", [client.land("bad", corrupt(generate(400, seed=13), "out_of_range"))])
    assert bad["output"]["status"] == "rejected"
    assert client.lake.exists("quarantine", "churn/e2e-bad/report.json")
    assert client.ledger.get_run("e2e-bad").status == "rejected"
    assert client.ledger.get_run("e2e-bad").job_name is None
