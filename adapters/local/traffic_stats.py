"""TrafficStats over the local endpoint server's SQLite copy of AmlOnlineEndpointTrafficLog.

Runs the SQL that core/rollout/kql.py generates next to the KQL the Azure adapter sends, so the local
gate sees the numbers Log Analytics would. Ingestion lag is honest: the endpoint server publishes
a watermark (AmlOnlineEndpointTrafficLogWatermark.IngestedUntil) after each flush, and
`lag_seconds` can add a Log-Analytics-like delay on top (rows newer than now - lag are invisible),
so tests and the demo can show that a gate never judges a window that is not ingested yet.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.kernel.ports import DeploymentStats, EvidenceUnavailable, WindowStats
from core.rollout.kql import WindowQuery
from core.rollout.traffic_log import TABLE, WATERMARK_TABLE


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SqliteTrafficStats:
    def __init__(
        self, db_path: Path | str, lag_seconds: float = 0.0, clock: Callable[[], datetime] = _utc_now
    ) -> None:
        self.db_path = Path(db_path)
        self.lag = timedelta(seconds=lag_seconds)
        self.clock = clock

    def _connect(self) -> sqlite3.Connection:
        # read-only: the endpoint server owns the file; a missing file is "no telemetry yet"
        return sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)

    def _ingested_until(self, conn: sqlite3.Connection) -> datetime | None:
        visible = self.clock() - self.lag
        has_watermark = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (WATERMARK_TABLE,)
        ).fetchone()
        if not has_watermark:  # a writer without a watermark commits each row as it is logged
            return visible
        row = conn.execute(f"SELECT IngestedUntil FROM {WATERMARK_TABLE} WHERE Id = 1").fetchone()
        if row is None:
            return None
        return min(visible, datetime.fromisoformat(row[0].replace("Z", "+00:00")))

    def window(
        self,
        endpoint: str,
        deployments: list[str],
        start: datetime,
        end: datetime,
        *,
        slow_threshold_ms: float | None = None,
    ) -> WindowStats:
        query = WindowQuery(endpoint, tuple(deployments), start, end, slow_threshold_ms)
        if not self.db_path.exists():
            return WindowStats(endpoint, start, end, None, {}, query=f"-- {self.db_path} does not exist yet")
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise EvidenceUnavailable(f"traffic table {self.db_path} unreadable: {exc}") from exc
        try:
            has_table = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)
            ).fetchone()
            if not has_table:
                return WindowStats(endpoint, start, end, None, {}, query=f"-- {TABLE} does not exist yet")
            ingested = self._ingested_until(conn)
            sql, params = query.sql(visible_until=ingested or start)
            rows = conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise EvidenceUnavailable(f"traffic table {self.db_path} unreadable: {exc}") from exc
        finally:
            conn.close()
        stats = {
            r[0]: DeploymentStats(
                deployment=r[0],
                requests=int(r[1]),
                errors=int(r[2]),
                throttled=int(r[3]),
                p50_ms=r[4],
                p95_ms=r[5],
                p99_ms=r[6],
                slow=None if r[7] is None else int(r[7]),
                slow_threshold_ms=slow_threshold_ms,
            )
            for r in rows
        }
        for name in deployments:  # as the Azure adapter: a deployment without rows saw no requests
            stats.setdefault(name, DeploymentStats(name, 0, 0, 0, None, None, None, None, slow_threshold_ms))
        recorded = f"{sql}\n-- params: {json.dumps(params, sort_keys=True)}"
        return WindowStats(endpoint, start, end, ingested, stats, query=recorded)
