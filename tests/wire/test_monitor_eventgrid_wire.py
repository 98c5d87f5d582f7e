"""LogAnalyticsTrafficStats and EventGridEventPublisher as they run on Azure (token credential, the
public https endpoints), at the wire: the KQL and timespan Log Analytics receives, the CloudEvents
the lifecycle topic receives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from azure.monitor.query import LogsQueryClient

from adapters.azure.events import EventGridEventPublisher
from adapters.azure.traffic_stats import LogAnalyticsTrafficStats
from core.kernel.ports import LifecycleEvent
from core.rollout.kql import EMPTY_LEG
from tests.wire.armstandin import LA_WORKSPACE_ID, TOPIC_HOST, AzureStandIn, FakeCredential

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
END = START + timedelta(minutes=10)
NOW = END + timedelta(minutes=2)


def _answer(query: str, timespan: str | None) -> dict:
    if "summarize ingested_until" in query:
        return {
            "tables": [
                {
                    "name": "PrimaryResult",
                    "columns": [
                        {"name": "ingested_until", "type": "datetime"},
                        {"name": "last_ingestion", "type": "datetime"},
                    ],
                    "rows": [["2026-03-01T12:11:00Z", "2026-03-01T12:11:30Z"]],
                }
            ]
        }
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
                "rows": [["blue", 900, 3, 1, 40.0, 80.0, 120.0], ["green", 100, 1, 0, 42.0, 90.0, 130.0]],
            }
        ]
    }


def test_the_gate_query_log_analytics_receives_is_the_generated_kql_over_the_window(standin: AzureStandIn):
    standin.logs_answer = _answer
    client = LogsQueryClient(FakeCredential(), transport=standin.transport())
    stats = LogAnalyticsTrafficStats(client, LA_WORKSPACE_ID, clock=lambda: NOW)
    window = stats.window("churn-endpoint", ["blue", "green"], START, END)

    window_call, watermark_call = standin.sent("POST", r"/query$")
    assert window_call.host == "api.loganalytics.io"
    assert window_call.path == f"/v1/workspaces/{LA_WORKSPACE_ID}/query"
    assert window_call.headers["authorization"] == "Bearer standin-token"
    body = window_call.json()
    assert body["query"].startswith(f"union isfuzzy=true {EMPTY_LEG}, AmlOnlineEndpointTrafficLog\n")
    assert 'where EndpointName == "churn-endpoint" and DeploymentName in ("blue", "green")' in body["query"]
    assert "datetime(2026-03-01T12:00:00.000Z)" in body["query"]
    assert body["timespan"] == "2026-03-01T12:00:00.000Z/2026-03-01T12:10:00.000Z"
    assert window_call.headers["prefer"] == "wait=60"
    assert watermark_call.json()["query"].startswith(
        f"union isfuzzy=true {EMPTY_LEG}, AmlOnlineEndpointTrafficLog\n"
    )

    assert (window.by_deployment["green"].requests, window.by_deployment["green"].errors) == (100, 1)
    assert window.ingested_until == datetime(2026, 3, 1, 12, 11, tzinfo=UTC)
    assert window.query == body["query"]


def test_lifecycle_events_reach_the_topic_as_cloudevents_with_a_managed_identity_token(standin: AzureStandIn):
    pub = EventGridEventPublisher(
        f"https://{TOPIC_HOST}/api/events", FakeCredential(), transport=standin.transport()
    )
    at = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    pub.publish(
        [
            LifecycleEvent(
                id="run-7:promoted",
                type="promoted",
                model="churn",
                run_id="run-7",
                time=at,
                data={"version": "3"},
            )
        ]
    )

    (call,) = standin.sent("POST", r"/api/events$")
    assert call.api_version == "2018-01-01"
    assert call.headers["authorization"] == "Bearer standin-token"
    assert call.headers["content-type"].startswith("application/cloudevents-batch+json")
    (event,) = call.json()
    assert {k: event[k] for k in ("specversion", "id", "type", "source", "subject", "datacontenttype")} == {
        "specversion": "1.0",
        "id": "run-7:promoted",
        "type": "mllifecycle.promoted",
        "source": "/mllifecycle/models/churn",
        "subject": "lifecycles/run-7",
        "datacontenttype": "application/json",
    }
    assert event["data"] == {"model": "churn", "run_id": "run-7", "version": "3"}
    assert event["time"].startswith("2026-03-01T12:30:00")
