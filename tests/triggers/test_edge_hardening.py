"""The edges with real event shapes and hostile inputs: what is ignored is recorded, what escapes
its place never becomes a request, and invalid Unicode is a 400, not a 500."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

import wiring
from adapters.local.ledger import SqliteRunLedger
from core.kernel.contract import load_contract
from tests.fakes import FakeDataLake
from tests.triggers.test_alerts import post
from tests.triggers.test_blob_events import deliver
from tests.triggers.test_operator_api import retrain
from tests.unit.core.test_event_shapes import (
    MS_ADLS_BLOB_CREATED_EVENTGRID,
    MS_SFTP_COMMIT_CLOUDEVENT,
    _monitor_breach,
)
from tests.unit.core.test_events_in import aml_event, blob_event

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = load_contract(ROOT / "samples" / "churn" / "contract.yaml")


@pytest.fixture
def contracts(fakes):
    with wiring.override(**{"contract:churn": CONTRACT, "contract:fraud": CONTRACT}):
        yield


def _ignored(fakes, run_id: str) -> list[str]:
    return [e.data["ignored"] for e in fakes.ledger.entries(run_id, "event")]


def test_a_real_model_monitor_breach_requests_a_retrain(fakes, client):
    deliver(client, _with_model_tag(_monitor_breach(), "churn"))
    assert [r.source for r in fakes.ledger.pending_requests("churn")] == ["aml_monitor"]
    assert client.started("coordinator") == ["coordinator-churn"]


def _with_model_tag(event: dict, model: str) -> dict:
    event = copy.deepcopy(event)
    event["data"]["runTags"]["model"] = model
    return event


def test_aml_events_that_are_not_breaches_are_recorded_as_ignored(fakes, client):
    deliver(client, aml_event(breached="false", tags={"model": "churn"}))
    deliver(client, aml_event(status="Completed"))
    assert fakes.ledger.requests == {} and client.starts == []
    assert _ignored(fakes, "unrouted") == ["not a model monitor breach"] * 2


def test_an_adls_gen2_flush_on_the_dfs_endpoint_is_accepted(fakes, client, contracts):
    lake = FakeDataLake("https://my-storage-account.blob.core.windows.net")
    event = copy.deepcopy(MS_ADLS_BLOB_CREATED_EVENTGRID[0])
    event["subject"] = "/blobServices/default/containers/raw/blobs/churn/2025/a.csv"
    event["data"].update(
        api="FlushWithClose",
        contentLength=4096,
        url="https://my-storage-account.dfs.core.windows.net/raw/churn/2025/a.csv",
    )
    with wiring.override(data_lake=lake):
        deliver(client, event)
    [request] = fakes.ledger.pending_requests("churn")
    assert request.details["path"] == "churn/2025/a.csv" and request.details["api"] == "FlushWithClose"


def test_an_sftp_commit_is_a_committed_write(fakes, client, contracts):
    lake = FakeDataLake("https://my-storage-account.blob.core.windows.net")
    event = copy.deepcopy(MS_SFTP_COMMIT_CLOUDEVENT[0])
    event["subject"] = "/blobServices/default/containers/raw/blobs/churn/upload.csv"
    event["data"].update(
        contentLength=2048, url="https://my-storage-account.blob.core.windows.net/raw/churn/upload.csv"
    )
    with wiring.override(data_lake=lake):
        deliver(client, event)
    assert [r.details["api"] for r in fakes.ledger.pending_requests("churn")] == ["SftpCommit"]


@pytest.mark.parametrize(
    ("path", "length", "why"),
    [
        ("churn/2025/_SUCCESS", 0, "does not match"),
        ("churn/2025/part.crc", 12, "does not match"),
        ("churn/2025/empty.csv", 0, "empty"),
    ],
)
def test_markers_and_empty_blobs_are_ignored_at_the_edge_and_recorded(
    fakes, client, contracts, path, length, why
):
    event = blob_event(path)
    event["data"]["contentLength"] = length
    deliver(client, event)
    assert fakes.ledger.requests == {} and client.starts == []
    [reason] = _ignored(fakes, "coordinator-churn")
    assert reason.startswith("not a data file") and why in reason


@pytest.mark.parametrize(
    "path", ["churn/../../training/churn/dv-1/train/part-000.parquet", "churn/%2e%2e/x.csv"]
)
def test_a_blob_name_that_escapes_the_prefix_never_becomes_a_request(fakes, client, contracts, path):
    deliver(client, blob_event(path))
    assert fakes.ledger.requests == {} and client.starts == []
    assert fakes.data_lake.writes == []


def test_a_lone_surrogate_in_an_idempotency_key_is_a_400_with_a_reason(fakes, client, tmp_path):
    with wiring.override(ledger=SqliteRunLedger(tmp_path / "ledger.db")):
        status, body = retrain(client, headers={"Idempotency-Key": "k-\ud800"})
    assert status == 400 and "Idempotency-Key" in body["error"]
    assert client.starts == []


def test_a_lone_surrogate_in_an_alert_id_is_a_400_with_a_reason(fakes, client, tmp_path):
    body = (
        b'{"schemaId":"azureMonitorCommonAlertSchema","data":{"essentials":'
        b'{"alertId":"a\\ud800","alertRule":"churn-feature-drift","monitorCondition":"Fired"}}}'
    )
    with wiring.override(ledger=SqliteRunLedger(tmp_path / "ledger.db")):
        response = post(client, body)
    assert response.status_code == 400 and b"lone surrogate" in response.get_body()
