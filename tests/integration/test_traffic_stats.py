"""SqliteTrafficStats: the local gate reads the numbers Log Analytics would, and never more than is ingested."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from adapters.local.traffic_stats import SqliteTrafficStats
from core.rollout.traffic_log import iso_ms
from tests.integration.traffic_rows import write_rows

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def row(at: datetime, deployment: str, code: str, ms: float, endpoint: str = "churn") -> tuple:
    return (iso_ms(at), endpoint, deployment, code, code, ms, 1.0, 1.0, 10, 10, "x", "", "POST", "/score", 0)


@pytest.fixture
def db(tmp_path):
    rows = [row(T0 + timedelta(seconds=i), "blue", "200", float(i + 1)) for i in range(100)]
    rows += [
        row(T0 + timedelta(seconds=i), "green", code, 10.0)
        for i, code in enumerate(["503", "408", "424", "429", "404", "200"])
    ]
    rows += [row(T0 + timedelta(seconds=5), "green", "500", 10.0, endpoint="other")]
    rows += [
        row(T0 - timedelta(seconds=1), "green", "500", 10.0),
        row(T0 + timedelta(seconds=100), "green", "500", 10.0),
    ]
    write_rows(tmp_path / "traffic.db", rows)
    return tmp_path / "traffic.db"


def stats_at(db, now, lag=0.0):
    return SqliteTrafficStats(db, lag_seconds=lag, clock=lambda: now)


def test_counts_errors_throttling_and_nearest_rank_percentiles_per_deployment(db):
    w = stats_at(db, T0 + timedelta(hours=1)).window(
        "churn", ["blue", "green"], T0, T0 + timedelta(seconds=100), slow_threshold_ms=95.0
    )
    blue, green = w.by_deployment["blue"], w.by_deployment["green"]
    assert (blue.requests, blue.errors, blue.throttled) == (100, 0, 0)
    assert (blue.p50_ms, blue.p95_ms, blue.p99_ms) == (50.0, 95.0, 99.0)
    assert blue.slow == 5  # 96..100 ms
    assert (green.requests, green.errors, green.throttled) == (
        6,
        3,
        1,
    )  # 503, 408, 424 are errors; 429 is capacity
    assert w.query.startswith("WITH w AS") and '"endpoint": "churn"' in w.query


def test_window_is_half_open_and_other_endpoints_are_ignored(db):
    w = stats_at(db, T0 + timedelta(hours=1)).window("churn", ["green"], T0, T0 + timedelta(seconds=100))
    assert w.by_deployment["green"].requests == 6


def test_rows_younger_than_the_lag_are_not_visible_and_the_watermark_says_so(db):
    now = T0 + timedelta(seconds=50)
    w = stats_at(db, now, lag=48).window("churn", ["blue"], T0, T0 + timedelta(seconds=100))
    assert w.ingested_until == now - timedelta(seconds=48)
    assert w.by_deployment["blue"].requests == 2  # seconds 0 and 1 only


def test_the_endpoint_servers_watermark_bounds_what_is_ingested(db):
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE AmlOnlineEndpointTrafficLogWatermark (Id INTEGER PRIMARY KEY, IngestedUntil TEXT)"
        )
        conn.execute(
            "INSERT INTO AmlOnlineEndpointTrafficLogWatermark VALUES (1, ?)",
            (iso_ms(T0 + timedelta(seconds=10)),),
        )
    conn.close()
    w = stats_at(db, T0 + timedelta(hours=1)).window("churn", ["blue"], T0, T0 + timedelta(seconds=100))
    assert w.ingested_until == T0 + timedelta(seconds=10)
    assert w.by_deployment["blue"].requests == 10


def test_missing_telemetry_is_reported_as_nothing_ingested(tmp_path):
    w = stats_at(tmp_path / "none.db", T0).window("churn", ["blue", "green"], T0, T0 + timedelta(seconds=1))
    assert w.ingested_until is None and w.by_deployment == {}


def test_a_deployment_without_requests_is_reported_with_zero_requests(db):
    w = stats_at(db, T0 + timedelta(hours=1)).window(
        "churn", ["blue", "purple"], T0, T0 + timedelta(seconds=100)
    )
    assert w.by_deployment["purple"].requests == 0


def test_percentiles_match_numpys_inverted_cdf_on_many_rows(tmp_path):
    rng = np.random.default_rng(3)
    latencies = np.round(rng.lognormal(4, 0.6, 997), 3)
    write_rows(tmp_path / "t.db", [row(T0, "blue", "200", float(ms)) for ms in latencies])
    w = stats_at(tmp_path / "t.db", T0 + timedelta(hours=1)).window(
        "churn", ["blue"], T0, T0 + timedelta(seconds=1)
    )
    expected = np.quantile(latencies, [0.5, 0.95, 0.99], method="inverted_cdf")
    b = w.by_deployment["blue"]
    assert [b.p50_ms, b.p95_ms, b.p99_ms] == pytest.approx(list(expected))
