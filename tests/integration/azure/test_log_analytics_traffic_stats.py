"""LogAnalyticsTrafficStats against a local Log Analytics query endpoint that checks what the SDK sends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.credentials import AccessToken
from azure.core.pipeline.policies import SansIOHTTPPolicy

from adapters.azure.traffic_stats import LogAnalyticsTrafficStats, TrafficQueryError

from .stub_http import Recorded, serve

pytestmark = pytest.mark.integration

WORKSPACE = "11111111-2222-3333-4444-555555555555"
START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
END = START + timedelta(minutes=10)
NOW = END + timedelta(minutes=3)


class FakeToken:
    """LogsQueryClient only takes a token credential; tokens never leave this process."""

    def get_token(self, *scopes, **kwargs) -> AccessToken:
        return AccessToken("fake-token", 4102444800)


class StaticBearer(SansIOHTTPPolicy):
    """The SDK's bearer policy refuses plain http; the stub is http on loopback."""

    def on_request(self, request) -> None:
        request.http_request.headers["Authorization"] = "Bearer fake-token"


def _window_query(endpoint, deployments, start, end, slow):
    return f"WINDOW {endpoint} {','.join(deployments)} {start.isoformat()} {end.isoformat()} {slow}"


def _watermark_query(endpoint):
    return f"WATERMARK {endpoint}"


WINDOW_TABLE = {  # the columns core/rollout/kql.py summarizes into
    "name": "PrimaryResult",
    "columns": [
        {"name": "DeploymentName", "type": "string"},
        {"name": "requests", "type": "long"},
        {"name": "errors", "type": "long"},
        {"name": "throttled", "type": "long"},
        {"name": "p50_ms", "type": "real"},
        {"name": "p95_ms", "type": "real"},
        {"name": "p99_ms", "type": "real"},
        {"name": "slow", "type": "long"},
    ],
    "rows": [["blue", 900, 3, 2, 41.5, 88.0, 140.25, 7], ["green", 100, 1, 0, 44.0, 95.5, 150.0, 2]],
}
WATERMARK_TABLE = {
    "name": "PrimaryResult",
    "columns": [{"name": "ingested_until", "type": "datetime"}],
    "rows": [["2025-03-01T12:11:30.250Z"]],
}


def _answer(window_body: dict):
    def respond(req: Recorded):
        is_watermark = "WATERMARK" in req.json()["query"] or "ingested_until" in req.json()["query"]
        body = {"tables": [WATERMARK_TABLE]} if is_watermark else window_body
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    return respond


def _stats(url: str) -> LogAnalyticsTrafficStats:
    return LogAnalyticsTrafficStats.connect(
        FakeToken(),
        WORKSPACE,
        endpoint=url,
        authentication_policy=StaticBearer(),
        window_query=_window_query,
        watermark_query=_watermark_query,
        clock=lambda: NOW,
    )


def test_posts_the_generated_kql_with_the_window_as_timespan_and_parses_per_deployment_stats():
    with serve(_answer({"tables": [WINDOW_TABLE]})) as stub:
        stats = _stats(stub.url).window("churn-ep", ["blue", "green"], START, END, slow_threshold_ms=120.0)

    window_req, watermark_req = stub.requests
    assert window_req.method == "POST"
    assert window_req.path == f"/v1/workspaces/{WORKSPACE}/query"
    assert window_req.headers["authorization"] == "Bearer fake-token"
    body = window_req.json()
    assert body["query"] == _window_query("churn-ep", ["blue", "green"], START, END, 120.0)
    assert body["timespan"] == "2025-03-01T12:00:00.000Z/2025-03-01T12:10:00.000Z"
    assert watermark_req.json()["query"] == "WATERMARK churn-ep"
    assert watermark_req.json()["timespan"].endswith("2025-03-01T12:13:00.000Z")

    assert stats.query == body["query"]
    blue, green = stats.by_deployment["blue"], stats.by_deployment["green"]
    assert (blue.requests, blue.errors, blue.throttled) == (900, 3, 2)
    assert (blue.p50_ms, blue.p95_ms, blue.p99_ms) == (41.5, 88.0, 140.25)
    assert (blue.slow, blue.slow_threshold_ms) == (7, 120.0)
    assert (green.requests, green.errors, green.slow) == (100, 1, 2)
    assert stats.ingested_until == datetime(2025, 3, 1, 12, 11, 30, 250000, tzinfo=UTC)


def test_a_deployment_without_rows_is_reported_as_zero_requests_not_missing():
    table = {**WINDOW_TABLE, "rows": [WINDOW_TABLE["rows"][0]]}
    with serve(_answer({"tables": [table]})) as stub:
        stats = _stats(stub.url).window("churn-ep", ["blue", "green"], START, END)
    green = stats.by_deployment["green"]
    assert (green.requests, green.errors, green.p99_ms, green.slow) == (0, 0, None, None)


def test_a_partial_result_is_an_error_not_data():
    partial = {
        "tables": [WINDOW_TABLE],
        "error": {"code": "PartialError", "message": "query exceeded limits"},
    }
    with serve(_answer(partial)) as stub, pytest.raises(TrafficQueryError, match="partial result"):
        _stats(stub.url).window("churn-ep", ["blue", "green"], START, END)


def test_no_ingested_rows_means_no_watermark():
    def respond(req: Recorded):
        table = WINDOW_TABLE if req.json()["query"].startswith("WINDOW") else {**WATERMARK_TABLE, "rows": []}
        return 200, {"Content-Type": "application/json"}, json.dumps({"tables": [table]}).encode()

    with serve(respond) as stub:
        assert _stats(stub.url).window("churn-ep", ["blue"], START, END).ingested_until is None


def test_the_workspace_id_is_required_with_an_actionable_message():
    with pytest.raises(ValueError, match="LOG_ANALYTICS_WORKSPACE_ID"):
        LogAnalyticsTrafficStats.connect(FakeToken(), "", endpoint="http://127.0.0.1:1")


def test_by_default_it_sends_the_kql_that_lifecycle_kql_generates():
    from core.rollout import kql

    with serve(_answer({"tables": [WINDOW_TABLE]})) as stub:
        stats = LogAnalyticsTrafficStats.connect(
            FakeToken(), WORKSPACE, endpoint=stub.url, authentication_policy=StaticBearer(), clock=lambda: NOW
        ).window("churn-ep", ["blue", "green"], START, END, slow_threshold_ms=120.0)
    window_req, watermark_req = stub.requests
    assert window_req.json()["query"] == kql.window_query("churn-ep", ["blue", "green"], START, END, 120.0)
    assert watermark_req.json()["query"] == kql.watermark_query("churn-ep")
    assert "AmlOnlineEndpointTrafficLog" in stats.query
    assert stats.by_deployment["blue"].requests == 900


# What Log Analytics answers when a fuzzy union names a table the workspace does not have yet: HTTP 200,
# the rows, and error.code PartialError whose details' innermost innererror is a warning. Shape from
# Azure/azure-sdk-for-python#25137 (a recorded response) and the Log Analytics query API reference.
def _missing_table_warning(table: str) -> dict:
    return {
        "code": "PartialError",
        "message": "There were some errors when processing your query.",
        "details": [
            {
                "code": "EngineError",
                "message": "Something went wrong processing your query on the server.",
                "innererror": {
                    "code": "-2133196790",
                    "message": f"'union' operator: Failed to resolve table expression named '{table}'",
                    "severity": 3,
                    "severityName": "Warning",
                },
            }
        ],
    }


def test_a_missing_traffic_table_reported_as_a_warning_is_read_as_no_requests_not_an_error():
    empty = {**WINDOW_TABLE, "rows": []}
    answer = {"tables": [empty], "error": _missing_table_warning("AmlOnlineEndpointTrafficLog")}
    with serve(_answer(answer)) as stub:
        stats = _stats(stub.url).window("churn-ep", ["blue", "green"], START, END)
    assert {d: s.requests for d, s in stats.by_deployment.items()} == {"blue": 0, "green": 0}


def test_rows_that_came_with_only_warnings_are_complete_data():
    answer = {"tables": [WINDOW_TABLE], "error": _missing_table_warning("SomeOtherLeg")}
    with serve(_answer(answer)) as stub:
        stats = _stats(stub.url).window("churn-ep", ["blue", "green"], START, END)
    assert stats.by_deployment["blue"].requests == 900


def test_a_partial_result_with_an_error_detail_among_warnings_is_still_an_error():
    error = _missing_table_warning("AmlOnlineEndpointTrafficLog")
    error["details"].append(
        {
            "code": "EngineError",
            "message": "Query result set has exceeded the internal record count limit",
            "innererror": {"code": "-2133196792", "message": "limit", "severity": 2, "severityName": "Error"},
        }
    )
    answer = {"tables": [WINDOW_TABLE], "error": error}
    with serve(_answer(answer)) as stub, pytest.raises(TrafficQueryError, match="partial result"):
        _stats(stub.url).window("churn-ep", ["blue", "green"], START, END)


# Evidence that cannot be read is "unavailable" to the gate (core.kernel.ports.EvidenceUnavailable),
# which holds the step; it must never fail the rollout nor pass green. Shapes: the Log Analytics
# query API's ErrorResponse (error.code and its innererror chain, REST reference "Query - Execute").
TABLE_NOT_FOUND = {
    "error": {
        "message": "The request had some invalid properties",
        "code": "BadArgumentError",
        "innererror": {
            "code": "SemanticError",
            "message": "A semantic error occurred.",
            "innererror": {
                "code": "SEM0100",
                "message": "'where' operator: Failed to resolve table or column expression named 'AmlOnlineEndpointTrafficLog'",
            },
        },
    }
}
THROTTLED = {"error": {"code": "TooManyRequests", "message": "Rate limit exceeded: retry after 1 s"}}


@pytest.mark.parametrize(
    ("status", "body", "says"),
    [(400, TABLE_NOT_FOUND, "HTTP 400"), (429, THROTTLED, "HTTP 429")],
    ids=["table-not-found", "throttled"],
)
def test_unreadable_telemetry_is_reported_as_unavailable_evidence(status, body, says):
    from core.kernel.ports import EvidenceUnavailable

    def respond(req: Recorded):
        headers = {"Content-Type": "application/json", "Retry-After": "0"}
        return status, headers, json.dumps(body).encode()

    with serve(respond) as stub, pytest.raises(EvidenceUnavailable, match=says):
        _stats(stub.url).window("churn-ep", ["blue", "green"], START, END)


def test_a_partial_result_with_an_error_is_unavailable_evidence_for_the_gate():
    from core.kernel.ports import EvidenceUnavailable

    assert issubclass(TrafficQueryError, EvidenceUnavailable)
