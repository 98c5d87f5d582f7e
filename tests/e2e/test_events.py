"""The event edge end to end: devhost runs this app (dry-run lifecycle, generated policies), and
the tests speak HTTP only: Event Grid webhook, alert webhook, operator API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bench.events import EdgeHost, blob_created, edge_devhost, lifecycles_started
from tests.unit.core.test_events_in import alert, as_cloud_event

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

MODELS = ["churn", "fraud"]


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeHost]:
    # each dry run takes 3 s, so requests can arrive "during a run"; debounce 1 s
    with edge_devhost(tmp_path_factory.mktemp("edge"), MODELS, debounce_seconds=1, dry_run_seconds=3) as h:
        yield h


def deliver(host: EdgeHost, event: dict) -> requests.Response:
    cloud = "specversion" in event
    response = requests.post(
        host.webhook,
        data=json.dumps(event if cloud else [event]),
        headers={
            "aeg-event-type": "Notification",
            "content-type": "application/cloudevents+json" if cloud else "application/json",
        },
        timeout=30,
    )
    assert response.status_code in (200, 202), response.text
    return response


def runs_of(host: EdgeHost, model: str) -> list:
    return [i for i in lifecycles_started(host) if i["instanceId"].startswith(f"{model}-")]


def wait_idle(host: EdgeHost, model: str, timeout: float = 60) -> dict:
    """Until the model's coordinator has nothing pending and no run going."""
    ledger = host.ledger()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = requests.get(
            f"{host.base_url}/runtime/webhooks/durabletask/instances/coordinator-{model}",
            params={"code": host.durable_key},
            timeout=10,
        )
        status = response.json() if response.status_code in (200, 202) and response.content else {}
        phase = (status.get("customStatus") or {}).get("phase")
        if phase == "idle" and not ledger.pending_requests(model):
            return status
        time.sleep(0.2)
    raise AssertionError(f"coordinator-{model} not idle after {timeout}s\n{host.log_tail()}")


def test_duplicate_deliveries_in_both_schemas_start_one_run(host):
    event = blob_created("churn", 1)
    for _ in range(3):
        deliver(host, event)  # Event Grid redeliveries
    deliver(host, as_cloud_event({**event, "id": "other-subscription"}))  # same write, CloudEvents
    wait_idle(host, "churn")
    [run] = runs_of(host, "churn")
    assert run["runtimeStatus"] == "Completed"
    consumed = host.ledger().requests_for_run(run["instanceId"])
    assert [r.details["path"] for r in consumed] == ["churn/storm/part-00001.csv"]


def test_a_burst_during_a_run_yields_exactly_one_follow_up_that_consumes_all_of_it(host):
    deliver(host, blob_created("fraud", 100))
    deadline = time.monotonic() + 30
    while not runs_of(host, "fraud") and time.monotonic() < deadline:
        time.sleep(0.1)
    [first] = runs_of(host, "fraud")
    assert first["runtimeStatus"] == "Running"
    for n in range(101, 111):  # arrives while the 3 s run is going
        deliver(host, blob_created("fraud", n))
    operator = requests.post(
        f"{host.base_url}/api/models/fraud/retrain",
        params={"code": host.key},
        json={"reason": "e2e", "requested_by": "test"},
        timeout=30,
    )
    assert operator.status_code == 202, operator.text
    wait_idle(host, "fraud")
    runs = runs_of(host, "fraud")
    assert len(runs) == 2
    second = next(r for r in runs if r["instanceId"] != first["instanceId"])
    ledger = host.ledger()
    follow_up = ledger.requests_for_run(second["instanceId"])
    assert len(follow_up) == 11 and {r.source for r in follow_up} == {"blob", "operator"}
    assert len(ledger.requests_for_run(first["instanceId"])) == 1


def test_alerts_resolved_and_unmapped_start_nothing_and_bad_ones_are_400(host):
    url = f"{host.base_url}/api/alerts"
    before = len(lifecycles_started(host))
    resolved = requests.post(
        url, params={"code": host.key}, json=alert("Resolved", rule="churn-drift"), timeout=30
    )
    unmapped = requests.post(url, params={"code": host.key}, json=alert(rule="disk-full"), timeout=30)
    bad = requests.post(url, params={"code": host.key}, data=b"{not json", timeout=30)
    huge = requests.post(url, params={"code": host.key}, data=b"[" + b" " * (256 * 1024) + b"]", timeout=30)
    nokey = requests.post(url, json=alert(rule="churn-drift"), timeout=30)
    assert (resolved.status_code, resolved.json()["status"]) == (200, "recorded")
    assert (unmapped.status_code, unmapped.json()["status"]) == (200, "ignored")
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["error"]
    assert huge.status_code == 413
    assert nokey.status_code == 401
    time.sleep(2)
    assert len(lifecycles_started(host)) == before


def test_the_operator_api_shows_a_model_and_its_lifecycles(host):
    wait_idle(host, "churn")
    model = requests.get(f"{host.base_url}/api/models/churn", params={"code": host.key}, timeout=30)
    assert model.status_code == 200 and model.json()["coordinator"]["runtime_status"] == "Running"
    listed = requests.get(
        f"{host.base_url}/api/lifecycles", params={"code": host.key, "model": "churn"}, timeout=30
    )
    [summary] = listed.json()["lifecycles"]
    detail = requests.get(
        f"{host.base_url}/api/lifecycles/{summary['id']}", params={"code": host.key}, timeout=30
    )
    assert detail.status_code == 200
    assert detail.json()["requests"] and detail.json()["orchestration"]["runtime_status"] == "Completed"
    done = requests.post(
        f"{host.base_url}/api/lifecycles/{summary['id']}/abort", params={"code": host.key}, timeout=30
    )
    assert done.status_code == 409
    unknown = requests.get(f"{host.base_url}/api/models/nope", params={"code": host.key}, timeout=30)
    assert unknown.status_code == 404 and "unknown model" in unknown.json()["error"]


def test_the_openapi_document_is_served(host):
    doc = requests.get(f"{host.base_url}/api/openapi.json", timeout=30).json()
    assert doc["openapi"].startswith("3.0") and "/api/models/{model}/retrain" in doc["paths"]


def test_storm_helpers_write_valid_policies(tmp_path: Path):
    from bench.events import write_policies
    from core.kernel.policy import load_policies

    policies = load_policies(write_policies(tmp_path, ["a1", "b2"], debounce_seconds=5))
    assert sorted(policies) == ["a1", "b2"] and policies["a1"].triggers.debounce_seconds == 5


def test_an_upload_to_azurite_reaches_the_model_through_the_blob_watcher(azurite, tmp_path: Path):
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(azurite)
    container = service.get_container_client("raw")
    if not container.exists():
        container.create_container()
    with edge_devhost(
        tmp_path / "edge", ["churn"], debounce_seconds=1, storage_connection_string=azurite, watch_blobs=True
    ) as watched:
        container.upload_blob("churn/upload-1.csv", b"a,b\n1,2\n", overwrite=True)
        container.upload_blob("elsewhere/ignored.csv", b"a\n1\n", overwrite=True)
        wait_idle(watched, "churn")
        [run] = runs_of(watched, "churn")
        [request] = watched.ledger().requests_for_run(run["instanceId"])
        assert request.details["path"] == "churn/upload-1.csv" and request.details["api"] == "PutBlob"
