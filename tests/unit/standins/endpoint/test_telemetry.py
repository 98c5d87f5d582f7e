"""The local traffic log: AML's columns, batched writes, and a watermark gates can trust."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from standins.endpoint.telemetry import COLUMNS, TrafficLogWriter


def row(request_id: str) -> tuple:
    return (None, "churn", "blue", "200", "200", 3.5, 0.1, 2.9, 120, 40, request_id, "", "POST", "/score", 0)


def test_rows_appear_after_a_flush_with_a_watermark_at_or_after_their_time(tmp_path: Path) -> None:
    writer = TrafficLogWriter(tmp_path / "traffic.db", flush_interval=60)
    try:
        writer.append(row("a"))
        writer.append(row("b"))
        with sqlite3.connect(tmp_path / "traffic.db") as conn:
            assert conn.execute("SELECT COUNT(*) FROM AmlOnlineEndpointTrafficLog").fetchone() == (0,)
        assert writer.flush() == 2
        with sqlite3.connect(tmp_path / "traffic.db") as conn:
            times = [t for (t,) in conn.execute("SELECT TimeGenerated FROM AmlOnlineEndpointTrafficLog")]
            (watermark,) = conn.execute(
                "SELECT IngestedUntil FROM AmlOnlineEndpointTrafficLogWatermark"
            ).fetchone()
            columns = [c[1] for c in conn.execute("PRAGMA table_info(AmlOnlineEndpointTrafficLog)")]
        assert len(times) == 2 and max(times) <= watermark
        assert tuple(columns) == COLUMNS
    finally:
        writer.close()


def test_the_background_thread_flushes_on_its_own_and_close_writes_the_rest(tmp_path: Path) -> None:
    writer = TrafficLogWriter(tmp_path / "traffic.db", flush_interval=0.05)
    writer.start()
    for i in range(50):
        writer.append(row(str(i)))
    writer.close()
    with sqlite3.connect(tmp_path / "traffic.db") as conn:
        assert conn.execute(
            "SELECT COUNT(DISTINCT XRequestId) FROM AmlOnlineEndpointTrafficLog"
        ).fetchone() == (50,)
