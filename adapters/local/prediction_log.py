"""PredictionLog over the local endpoint server's prediction table (core/rollout/prediction_table.py).

Read-only, like SqliteTrafficStats: the endpoint server owns the file. The window is judged only
up to the writer's watermark (`ingested_until`); a missing file or table is an empty log.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

from core.kernel.ports import EvidenceUnavailable, PredictionWindow
from core.kernel.records import PredictionRecord
from core.rollout import prediction_table as t
from core.rollout.traffic_log import iso_ms


class SqlitePredictionLog:
    def __init__(self, db_path: Path | str) -> None:
        self.db_path = Path(db_path)

    def window(
        self, endpoint: str, deployments: list[str], start: datetime, end: datetime
    ) -> PredictionWindow:
        if not deployments or not self.db_path.exists():
            return PredictionWindow([], None)
        try:
            conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)
        except sqlite3.OperationalError:
            return PredictionWindow([], None)
        try:
            if not _has_table(conn, t.TABLE):
                return PredictionWindow([], None)
            until = _watermark(conn)
            marks = ", ".join("?" * len(deployments))
            rows = conn.execute(
                f"SELECT RequestId, RowIndex, DeploymentName, ModelVersion, EntityId, Score, "
                f"TimeGenerated, IsMirrored, {_inputs(conn)} FROM {t.TABLE} "
                f"WHERE EndpointName = ? AND DeploymentName IN ({marks}) "
                "AND TimeGenerated >= ? AND TimeGenerated <= ? ORDER BY TimeGenerated, RequestId, RowIndex",
                (endpoint, *deployments, iso_ms(start), iso_ms(end)),
            ).fetchall()
        except sqlite3.Error as exc:
            raise EvidenceUnavailable(f"prediction table {self.db_path} unreadable: {exc}") from exc
        finally:
            conn.close()
        records = [
            PredictionRecord(
                request_id=t.record_request_id(rid, int(row)),
                deployment=dep,
                model_version=version,
                entity_id=entity,
                score=float(score),
                time=when,
                mirrored=bool(mirrored),
                inputs=json.loads(inputs) if inputs else None,
            )
            for rid, row, dep, version, entity, score, when, mirrored, inputs in rows
        ]
        return PredictionWindow(records, until)


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
    return found.fetchone() is not None


def _watermark(conn: sqlite3.Connection) -> datetime | None:
    if not _has_table(conn, t.WATERMARK_TABLE):
        return None
    row = conn.execute(f"SELECT IngestedUntil FROM {t.WATERMARK_TABLE} WHERE Id = 1").fetchone()
    return datetime.fromisoformat(row[0].replace("Z", "+00:00")) if row else None


def _inputs(conn: sqlite3.Connection) -> str:
    """The Inputs column, or NULL for a table written before the stand-in recorded inputs."""
    have = {row[1] for row in conn.execute(f"PRAGMA table_info({t.TABLE})")}
    return "Inputs" if "Inputs" in have else "NULL"
