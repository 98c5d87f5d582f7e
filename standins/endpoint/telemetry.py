"""The local AmlOnlineEndpointTrafficLog: one row per request, mirrored ones included; and the
prediction log (core/rollout/prediction_table.py): one row per scored input row, written in the same
transaction with the same watermark.

Rows are buffered and written by one thread every `flush_interval` seconds in one transaction
(WAL mode), so logging costs the request path a list append. Like Log Analytics, rows appear
with a lag; unlike it, the lag is bounded and published: after each flush the writer records
`IngestedUntil` in AmlOnlineEndpointTrafficLogWatermark, and every row with a TimeGenerated at
or before it is in the table. Gates must not judge a window that ends after the watermark.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from core.rollout import prediction_table
from core.rollout.traffic_log import COLUMNS, SCHEMA, TABLE, WATERMARK_TABLE, iso_ms


def iso_utc(ts: datetime | None = None) -> str:
    """AML's TimeGenerated format: ISO-8601 UTC with milliseconds and 'Z'."""
    return iso_ms(ts or datetime.now(UTC))


def connect(db_path: Path) -> sqlite3.Connection:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(db_path), timeout=30, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    conn.executescript(prediction_table.SCHEMA)
    prediction_table.add_missing_columns(conn)
    conn.commit()
    return conn


class TrafficLogWriter:
    """Batches rows in memory and appends them from a background thread."""

    def __init__(self, db_path: Path, flush_interval: float = 0.2) -> None:
        self.db_path = db_path
        self.flush_interval = flush_interval
        self._conn = connect(db_path)
        self._rows: list[tuple] = []
        self._predictions: list[tuple] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic-log-writer", daemon=True)
        self.written = 0

    def start(self) -> None:
        self._thread.start()

    def append(self, row: Sequence[object]) -> None:
        """Queue a row; a TimeGenerated of None is stamped now, under the lock the flush takes,
        so no row can carry a time at or before a watermark that was written without it."""
        if len(row) != len(COLUMNS):
            raise ValueError(f"a traffic log row has {len(COLUMNS)} columns, got {len(row)}")
        with self._lock:
            self._rows.append((iso_utc(), *row[1:]) if row[0] is None else tuple(row))

    def append_predictions(self, rows: Sequence[Sequence[object]]) -> None:
        """Queue prediction rows (core.rollout.prediction_table.COLUMNS), stamped like `append`."""
        width = len(prediction_table.COLUMNS)
        if any(len(row) != width for row in rows):
            raise ValueError(f"a prediction log row has {width} columns")
        with self._lock:
            now = iso_utc()
            self._predictions.extend((now, *row[1:]) if row[0] is None else tuple(row) for row in rows)

    def flush(self) -> int:
        """Write everything buffered so far; returns the number of rows written."""
        with self._flush_lock:
            with self._lock:
                rows, self._rows = self._rows, []
                predictions, self._predictions = self._predictions, []
                # every row appended before this point carries a TimeGenerated <= now
                until = iso_utc()
            try:
                with self._conn:
                    if rows:
                        placeholders = ", ".join("?" * len(COLUMNS))
                        self._conn.executemany(
                            f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({placeholders})", rows
                        )
                    if predictions:
                        columns = prediction_table.COLUMNS
                        self._conn.executemany(
                            f"INSERT INTO {prediction_table.TABLE} ({', '.join(columns)}) "
                            f"VALUES ({', '.join('?' * len(columns))})",
                            predictions,
                        )
                    for watermark in (WATERMARK_TABLE, prediction_table.WATERMARK_TABLE):
                        self._conn.execute(
                            f"INSERT INTO {watermark} (Id, IngestedUntil) VALUES (1, ?) "
                            "ON CONFLICT (Id) DO UPDATE SET IngestedUntil = excluded.IngestedUntil",
                            (until,),
                        )
            except sqlite3.Error:
                with self._lock:  # keep the rows for the next attempt, in order
                    self._rows[:0] = rows
                    self._predictions[:0] = predictions
                raise
            self.written += len(rows)
            return len(rows)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            try:
                self.flush()
            except sqlite3.Error:
                # a busy database (a long reader) must not kill the writer: the rows stay queued
                continue

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        with contextlib.suppress(sqlite3.Error):
            self.flush()
        self._conn.close()
