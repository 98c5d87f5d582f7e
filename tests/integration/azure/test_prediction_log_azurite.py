"""AzureMLPredictionLog against a real Azurite: blobs written in the layout and format AML model data
collection documents (modelDataCollector/{endpoint}/{deployment}/{collection}/yyyy/MM/dd/HH/*.jsonl,
one CloudEvent a line) read back as the predictions the ML-aware gates judge. Layout and line shape
follow learn.microsoft.com azure/machine-learning/how-to-collect-production-data ("Collected data"
and its sample JSONL lines: specversion, id, source, type azureml.inference.<collection>, datacontenttype,
time, data, correlationid, xrequestid; the fields the adapter does not read are left out here)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.storage.blob import BlobServiceClient

from adapters.azure.datalake import LOCAL_API_VERSION
from adapters.azure.prediction_log import AzureMLPredictionLog, collected_lines
from core.kernel.ports import PredictionLog
from core.kernel.settings import Settings
from core.rollout.predictions import pair_by_request

pytestmark = [pytest.mark.slow, pytest.mark.integration]

EP = "churn-endpoint"
T0 = datetime(2025, 6, 1, 10, 58, tzinfo=UTC)
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def container(azurite: str):
    service = BlobServiceClient.from_connection_string(azurite, api_version=LOCAL_API_VERSION)
    client = service.get_container_client(f"azureml-blobstore-{uuid.uuid4().hex[:12]}")
    client.create_container()
    yield client
    client.delete_container()


def _event(kind: str, deployment: str, at: datetime, data, correlation: str, **extra) -> dict:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w/onlineEndpoints/{EP}/deployments/{deployment}",
        "type": f"azureml.inference.{kind}",
        "datacontenttype": "application/json",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": data,
        "correlationid": correlation,
        "xrequestid": correlation,
        **extra,
    }


def _write(container, deployment: str, collection: str, at: datetime, events: list[dict]) -> None:
    path = f"modelDataCollector/{EP}/{deployment}/{collection}/{at:%Y/%m/%d/%H}/{uuid.uuid4()}.jsonl"
    container.upload_blob(path, collected_lines(events))


def _payload(
    deployment: str, at: datetime, customers: list[str], scores: list, correlation: str, client=None
):
    """A payload-logged call (no-code MLflow): the request body and the model's answer."""
    headers = {"x-ms-client-request-id": client} if client else {}
    body = {"input_data": {"columns": ["customer_id", "tenure"], "index": list(range(len(customers))),
                           "data": [[c, 12] for c in customers]}}  # fmt: skip
    return (
        _event("request", deployment, at, body, correlation, path="/score", method="POST", **headers),
        _event("response", deployment, at, scores, correlation, **headers),
    )


def _log(container, delay_minutes: int = 10) -> AzureMLPredictionLog:
    return AzureMLPredictionLog(container, delay=timedelta(minutes=delay_minutes), clock=lambda: NOW)


def test_the_adapter_satisfies_the_port(container):
    assert isinstance(_log(container), PredictionLog)


def test_a_mirrored_request_is_paired_with_its_original_by_the_captured_client_request_id(container):
    # blue answers live traffic; green gets mirrored copies, which AML gives their own x-request-id
    live, copy = [], []
    for i in range(4):
        at = T0 + timedelta(minutes=i)
        client = f"client-{i}"
        live.append(_payload("blue", at, [f"C{i}"], [[0.8, 0.2]], f"blue-{i}", client))
        if i < 2:  # mirror at 50%
            copy.append(_payload("green", at, [f"C{i}"], [[0.6, 0.4]], f"green-{i}", client))
    for deployment, calls in (("blue", live), ("green", copy)):
        _write(container, deployment, "request", T0, [req for req, _ in calls])
        _write(container, deployment, "response", T0, [res for _, res in calls])

    window = _log(container).window(EP, ["blue", "green"], T0, T0 + timedelta(minutes=10))

    assert len(window.records) == 6
    pairs = pair_by_request(window.records, "blue", "green")
    assert [(p.request_id, p.blue, p.green) for p in pairs] == [
        ("client-0", 0.2, 0.4),
        ("client-1", 0.2, 0.4),
    ]
    mirrored = {(r.deployment, r.mirrored) for r in window.records}
    assert mirrored == {("blue", False), ("green", True)}  # the shadow's copies, not blue's originals
    assert {r.entity_id for r in window.records if r.deployment == "blue"} == {"C0", "C1", "C2", "C3"}


def test_inputs_and_outputs_join_on_the_correlation_id_and_each_row_of_a_batched_call_is_a_record(container):
    at = T0 + timedelta(minutes=5)
    req, res = _payload("blue", at, ["C7", "C8"], [0.1, 0.9], "corr-1")
    orphan_out = _event("response", "blue", at, [0.5], "corr-without-input")
    _write(container, "blue", "request", at, [req])
    _write(container, "blue", "response", at, [res, orphan_out])

    records = _log(container).window(EP, ["blue"], T0, T0 + timedelta(minutes=10)).records

    assert [(r.request_id, r.entity_id, r.score) for r in records] == [
        ("corr-1#0", "C7", 0.1),
        ("corr-1#1", "C8", 0.9),
    ]


def test_custom_logging_collections_of_an_instrumented_mlflow_deployment_are_read_too(container):
    at = T0 + timedelta(minutes=3)
    inputs = _event("model_inputs", "green", at, [{"customer_id": "C9", "tenure": 3}], "c-9",
                    modelversion="default", collectdatatype="pandas.core.frame.DataFrame")  # fmt: skip
    outputs = _event("model_outputs", "green", at, [{"probability": 0.75}], "c-9", modelversion="default")
    _write(container, "green", "model_inputs", at, [inputs])
    _write(container, "green", "model_outputs", at, [outputs])

    (record,) = _log(container).window(EP, ["green"], T0, T0 + timedelta(minutes=10)).records
    assert (record.request_id, record.entity_id, record.score, record.mirrored) == ("c-9", "C9", 0.75, False)


def test_the_window_spans_hour_folders_and_keeps_only_answers_inside_it(container):
    times = [
        T0 - timedelta(minutes=1),
        T0 + timedelta(minutes=1),
        T0 + timedelta(minutes=3),
    ]  # 10:57, 10:59, 11:01
    for i, at in enumerate(times):
        req, res = _payload("blue", at, [f"C{i}"], [0.3], f"r-{i}")
        _write(container, "blue", "request", at, [req])
        _write(container, "blue", "response", at, [res])

    records = _log(container).window(EP, ["blue"], T0, T0 + timedelta(minutes=5)).records
    assert [r.request_id for r in records] == ["r-1", "r-2"]  # 10:59 and 11:01, across the hour folder


def test_ingested_until_trails_now_by_the_collection_delay_so_a_fresh_window_is_not_trusted(container):
    window = _log(container, delay_minutes=10).window(EP, ["blue"], NOW - timedelta(minutes=5), NOW)
    assert window.records == []
    assert window.ingested_until == NOW - timedelta(minutes=10)
    assert window.ingested_until < NOW  # a gate judging [now-5min, now) must wait


def test_an_unreadable_line_or_a_payload_stored_apart_is_skipped_not_fatal(container):
    at = T0 + timedelta(minutes=2)
    req, res = _payload("blue", at, ["C1"], [0.4], "ok")
    big = _event("request", "blue", at, "https://x.blob.core.windows.net/raw", "big", datainblob="true")
    path = f"modelDataCollector/{EP}/blue/request/{at:%Y/%m/%d/%H}/mixed.jsonl"
    container.upload_blob(path, collected_lines([req, big]) + b"{not json\n")
    _write(container, "blue", "response", at, [res, _event("response", "blue", at, [0.9], "big")])

    records = _log(container).window(EP, ["blue"], T0, T0 + timedelta(minutes=10)).records
    assert [r.request_id for r in records] == ["ok"]


def test_connect_reads_the_account_and_container_from_settings(azurite, container):
    from azure.core.credentials import AzureNamedKeyCredential

    parts = dict(p.split("=", 1) for p in azurite.split(";") if "=" in p)
    settings = Settings.from_env({
        "LIFECYCLE_MODE": "azure",
        "PREDICTION_LOG_ACCOUNT_URL": parts["BlobEndpoint"],
        "PREDICTION_LOG_CONTAINER": container.container_name,
        "PREDICTION_LOG_DELAY_SECONDS": "0",
    })  # fmt: skip
    at = T0 + timedelta(minutes=1)
    req, res = _payload("blue", at, ["C1"], [0.6], "via-settings")
    _write(container, "blue", "request", at, [req])
    _write(container, "blue", "response", at, [res])

    credential = AzureNamedKeyCredential(parts["AccountName"], parts["AccountKey"])
    log = AzureMLPredictionLog.connect(credential, settings)
    (record,) = log.window(EP, ["blue"], T0, T0 + timedelta(minutes=10)).records
    assert (record.request_id, record.entity_id, record.score) == ("via-settings", "C1", 0.6)


def test_connect_names_the_missing_settings():
    from core.kernel.settings import SettingsError

    with pytest.raises(SettingsError, match="PREDICTION_LOG_ACCOUNT_URL, PREDICTION_LOG_CONTAINER"):
        AzureMLPredictionLog.connect(object(), Settings.from_env({"LIFECYCLE_MODE": "azure"}))
