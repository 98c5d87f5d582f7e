"""Rows of AmlOnlineEndpointTrafficLog for telemetry tests, in the local table's schema."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from core.rollout.traffic_log import COLUMNS, TABLE_DDL, iso_ms

__all__ = ["COLUMNS", "random_rows", "write_rows"]

CODES = ["200", "200", "200", "200", "200", "200", "503", "500", "408", "424", "429", "404", "400"]


def random_rows(seed: int, n: int, start: datetime, span: timedelta) -> list[tuple]:
    """Requests of two endpoints and three deployments with a mix of codes and latencies."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        at = start + timedelta(milliseconds=int(rng.integers(0, span.total_seconds() * 1000)))
        rows.append(
            (
                iso_ms(at),
                str(rng.choice(["churn", "churn", "other"])),
                str(rng.choice(["blue", "green", "old"])),
                str(rng.choice(CODES)),
                "200",
                float(np.round(rng.lognormal(3.9, 0.5), 3)),
                1.0,
                1.0,
                100,
                20,
                f"req-{i}",
                "",
                "POST",
                "/score",
                0,
            )
        )
    return rows


def write_rows(db: Path, rows: list[tuple]) -> None:
    with sqlite3.connect(db) as conn:
        conn.executescript(TABLE_DDL)  # no watermark: rows count as ingested once written
        conn.executemany(
            f"INSERT INTO AmlOnlineEndpointTrafficLog VALUES ({', '.join('?' * len(COLUMNS))})", rows
        )
    conn.close()
