"""The gate's KQL is what Log Analytics needs: the right table, window, names, codes and aggregates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb_kql
import pytest

from core.rollout.kql import EMPTY_LEG, WindowQuery, watermark_query, window_query
from core.rollout.traffic_log import iso_ms

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
END = START + timedelta(minutes=5)


def test_window_kql_filters_the_half_open_window_endpoint_and_deployments():
    kql = window_query("churn", ["blue", "green"], START, END)
    assert kql.startswith(f"union isfuzzy=true {EMPTY_LEG}, AmlOnlineEndpointTrafficLog\n")
    assert "TimeGenerated >= datetime(2026-03-01T12:00:00.000Z)" in kql
    assert "TimeGenerated < datetime(2026-03-01T12:05:00.000Z)" in kql
    assert 'EndpointName == "churn" and DeploymentName in ("blue", "green")' in kql
    assert kql.rstrip().endswith("by DeploymentName")


def test_window_kql_counts_5xx_408_424_as_errors_and_429_apart():
    kql = window_query("churn", ["blue"], START, END)
    assert "toint(ResponseCode)" in kql
    assert "errors = countif(Code >= 500 or Code in (408, 424))" in kql
    assert "throttled = countif(Code == 429)" in kql


def test_window_kql_asks_for_the_slow_count_only_with_a_threshold():
    assert "slow" not in window_query("churn", ["blue"], START, END)
    assert "slow = countif(TotalDurationMs > 114.5)" in window_query("churn", ["blue"], START, END, 114.5)


def test_generated_kql_parses_as_kql():
    assert duckdb_kql.validate(window_query("churn", ["blue", "green"], START, END, 80.0)) == []
    assert duckdb_kql.validate(watermark_query("churn")) == []


def test_watermark_query_reads_latest_time_generated_and_ingestion_time():
    kql = watermark_query("churn")
    assert "max(TimeGenerated)" in kql and "max(ingestion_time())" in kql
    assert 'EndpointName == "churn"' in kql


@pytest.mark.parametrize("bad", ['churn" or 1==1 //', "a b", "", "x" * 80])
def test_names_that_could_inject_kql_are_refused(bad):
    with pytest.raises(ValueError, match="not a valid Azure ML name"):
        window_query(bad, ["blue"], START, END)
    with pytest.raises(ValueError, match="not a valid Azure ML name"):
        window_query("churn", [bad], START, END)


def test_an_empty_or_backwards_window_is_refused():
    with pytest.raises(ValueError, match="not after its start"):
        WindowQuery("churn", ("blue",), END, START)


def test_timestamps_are_written_as_utc_with_milliseconds():
    assert iso_ms(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)) == "2026-01-02T03:04:05.678Z"
    with pytest.raises(ValueError, match="no timezone"):
        iso_ms(datetime(2026, 1, 2))


def test_a_workspace_without_the_traffic_table_still_answers_the_gate_query_with_no_rows():
    """A fuzzy union with no leg that resolves is an error (Kusto docs, union operator): the empty
    datatable leg always resolves, so a new workspace reads as no traffic (need-more-data)."""
    con = duckdb_kql.connect()  # no AmlOnlineEndpointTrafficLog table at all
    kql = window_query("churn", ["blue", "green"], START, END, 80.0).replace(
        ", AmlOnlineEndpointTrafficLog\n", "\n"
    )  # what Kusto evaluates when the fuzzy leg does not resolve
    assert duckdb_kql.query(con, kql).fetchall() == []
    assert watermark_query("churn").startswith(
        f"union isfuzzy=true {EMPTY_LEG}, "
    )  # (duckdb-kql lacks ingestion_time)


def test_the_empty_leg_declares_every_column_the_queries_read_with_the_types_azure_monitor_documents():
    declared = dict(
        part.strip().split(":") for part in EMPTY_LEG.split("datatable(")[1].split(")")[0].split(",")
    )
    # learn.microsoft.com/azure/azure-monitor/reference/tables/amlonlineendpointtrafficlog
    assert declared == {
        "TimeGenerated": "datetime",
        "EndpointName": "string",
        "DeploymentName": "string",
        "ResponseCode": "int",
        "TotalDurationMs": "int",
    }
    for column in declared:
        assert column in window_query("churn", ["blue"], START, END, 80.0)
