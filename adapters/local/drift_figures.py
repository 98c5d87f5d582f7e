"""DriftFigures locally: the drift monitor's rows in a SQLite table with the Log Analytics table's
columns (core/monitoring/figures.py), where devstack/log_alerts.py evaluates the alert rule."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from core.monitoring import figures as f
from core.rollout.traffic_log import iso_ms

_SQL_TYPES = {"datetime": "TEXT", "string": "TEXT", "int": "INTEGER", "real": "REAL", "boolean": "INTEGER"}
SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {f.TABLE} ("
    + ", ".join(f"{name} {_SQL_TYPES[kind]}" for name, kind in f.COLUMNS)
    + f"); CREATE INDEX IF NOT EXISTS ix_{f.TABLE}_time ON {f.TABLE} (TimeGenerated);"
)


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(SCHEMA)
    return conn


class SqliteDriftFigures:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def publish(self, figures: Sequence[f.DriftFigure]) -> None:
        if not figures:
            return
        names = [name for name, _ in f.COLUMNS]
        rows = [
            tuple(
                iso_ms(v) if name in {"TimeGenerated", "WindowStart", "WindowEnd"} else v
                for name, v in zip(names, (getattr(fig, name) for name in names), strict=True)
            )
            for fig in figures
        ]
        conn = connect(self.path)
        try:
            with conn:
                conn.executemany(
                    f"INSERT INTO {f.TABLE} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", rows
                )
        finally:
            conn.close()
