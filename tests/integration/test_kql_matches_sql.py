"""The KQL sent to Log Analytics computes what the local SQL computes, on the same rows (duckdb-kql)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

duckdb_kql = pytest.importorskip("duckdb_kql")
pytest.importorskip("duckdb")

import pandas as pd  # noqa: E402

from adapters.local.traffic_stats import SqliteTrafficStats  # noqa: E402
from core.rollout.kql import window_query  # noqa: E402
from tests.integration.traffic_rows import COLUMNS, random_rows, write_rows  # noqa: E402

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SPAN = timedelta(minutes=10)


def kusto_table(rows):
    """The rows as Log Analytics holds them: TimeGenerated a datetime (UTC), codes still strings."""
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["TimeGenerated"] = pd.to_datetime(frame["TimeGenerated"].str.rstrip("Z"))
    con = duckdb_kql.connect()
    con.register("rows_frame", frame)
    con.sql("CREATE TABLE AmlOnlineEndpointTrafficLog AS SELECT * FROM rows_frame")
    return con


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("threshold", [None, 60.0])
def test_kql_and_sql_agree_on_counts_and_percentiles(tmp_path, seed, threshold):
    rows = random_rows(seed, 3000, T0 - timedelta(minutes=1), SPAN + timedelta(minutes=2))
    write_rows(tmp_path / "traffic.db", rows)
    start, end = T0, T0 + SPAN
    local = SqliteTrafficStats(tmp_path / "traffic.db", clock=lambda: end + timedelta(hours=1)).window(
        "churn", ["blue", "green"], start, end, slow_threshold_ms=threshold
    )
    kql = window_query("churn", ["blue", "green"], start, end, threshold)
    relation = duckdb_kql.query(kusto_table(rows), kql)
    columns = [c.lower() for c in relation.columns]
    kusto = {
        r[columns.index("deploymentname")]: dict(zip(columns, r, strict=True)) for r in relation.fetchall()
    }

    assert set(kusto) == {"blue", "green"}
    for name, k in kusto.items():
        s = local.by_deployment[name]
        assert (s.requests, s.errors, s.throttled) == (k["requests"], k["errors"], k["throttled"])
        assert s.requests > 500 and s.errors > 0 and s.throttled > 0  # the rows exercise every count
        # Kusto's percentile() is an estimate (T-Digest); duckdb-kql's is exact nearest rank, as is our SQL
        assert [s.p50_ms, s.p95_ms, s.p99_ms] == pytest.approx(
            [k["p50_ms"], k["p95_ms"], k["p99_ms"]], rel=1e-9
        )
        if threshold is not None:
            assert s.slow == k["slow"] and s.slow > 0


def test_the_watermark_kql_reads_the_latest_time_generated(tmp_path):
    rows = random_rows(4, 200, T0, SPAN)
    con = kusto_table(rows)
    # ingestion_time() has no duckdb mapping; the TimeGenerated part of the watermark is checked here
    latest = duckdb_kql.query(
        con,
        'AmlOnlineEndpointTrafficLog | where EndpointName == "churn" | summarize ingested_until = max(TimeGenerated)',
    ).fetchall()[0][0]
    expected = max(r[0] for r in rows if r[1] == "churn")
    assert latest.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" == expected
