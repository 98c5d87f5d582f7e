"""LogsIngestionDriftFigures as it runs on Azure, at the wire: the drift figures reach the data
collection rule's stream as the Logs Ingestion API documents the upload (path, api-version, bearer
token for Azure Monitor, a JSON array of rows with the table's columns)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import HttpResponseError

from adapters.azure.drift_figures import LogsIngestionDriftFigures
from core.kernel.settings import Settings
from core.monitoring.figures import COLUMNS, TABLE, DriftFigure
from tests.wire.armstandin import AzureStandIn, FakeCredential

pytestmark = pytest.mark.integration

ENDPOINT = "https://dcr-drift-abc1-westeurope.logs.z1.ingest.monitor.azure.com"
RULE = "dcr-0123456789abcdef0123456789abcdef"
END = datetime(2026, 3, 1, 12, tzinfo=UTC)


def figure(column: str, drifted: bool) -> DriftFigure:
    return DriftFigure(
        TimeGenerated=END, Model="churn", CheckId="churn:2026-03-01T12:00:00+00:00", FeatureName=column,
        Rows=412, Psi=0.31 if drifted else 0.01, PValue=1e-9 if drifted else 0.6, Level=1.2e-4, MinPsi=0.05,
        Drifted=drifted, Verdict="drift", Alert=True, WindowStart=END - timedelta(hours=1), WindowEnd=END,
        ReferenceVersion="3",
    )  # fmt: skip


def test_drift_figures_reach_the_dcr_stream_as_a_json_array_with_an_azure_monitor_token(
    standin: AzureStandIn,
):
    sink = LogsIngestionDriftFigures(ENDPOINT, RULE, FakeCredential(), transport=standin.transport())
    sink.publish([figure("monthly_charges", True), figure("age", False)])

    (call,) = standin.ingested
    assert call.method == "POST" and call.host == "dcr-drift-abc1-westeurope.logs.z1.ingest.monitor.azure.com"
    assert call.path == f"/dataCollectionRules/{RULE}/streams/Custom-{TABLE}"
    assert call.api_version == "2023-01-01"
    assert call.headers["authorization"] == "Bearer standin-token"
    assert call.headers["content-type"] == "application/json"
    rows = call.json()
    assert [r["FeatureName"] for r in rows] == ["monthly_charges", "age"]
    assert all(list(r) == [name for name, _ in COLUMNS] for r in rows)  # the stream's columns, in order
    assert rows[0]["Drifted"] is True and rows[0]["Alert"] is True and rows[0]["Psi"] == 0.31
    assert rows[0]["TimeGenerated"] == "2026-03-01T12:00:00+00:00"


def test_a_check_with_no_columns_sends_nothing(standin: AzureStandIn):
    LogsIngestionDriftFigures(ENDPOINT, RULE, FakeCredential(), transport=standin.transport()).publish([])
    assert standin.ingested == [] and standin.calls == []


def test_a_refused_upload_raises_with_the_services_answer(standin: AzureStandIn):
    sink = LogsIngestionDriftFigures(
        ENDPOINT, "not-a-dcr-id", FakeCredential(), transport=standin.transport()
    )
    with pytest.raises(HttpResponseError, match="not-a-dcr-id' not found") as refused:
        sink.publish([figure("age", False)])
    assert refused.value.status_code == 404


def test_connect_names_the_settings_it_needs():
    with pytest.raises(Exception, match="DRIFT_INGESTION_ENDPOINT"):
        LogsIngestionDriftFigures.connect(FakeCredential(), Settings(mode="azure"))
    settings = Settings(mode="azure", drift_ingestion_endpoint=ENDPOINT, drift_rule_id=RULE)
    assert isinstance(
        LogsIngestionDriftFigures.connect(FakeCredential(), settings), LogsIngestionDriftFigures
    )
