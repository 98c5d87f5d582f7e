"""The schema of the local prediction log, in one place (the stand-in writes it, the local
PredictionLog adapter reads it).

One row per scored input row: the endpoint server's request id (a mirrored copy carries the id of
the request it copies, so blue's and green's answers to the same input pair up), the row's index
within the request, endpoint, deployment, model version, the entity id (the value of the
endpoint's entity id column in that row, if the input has it), the score and whether the answer
was mirrored, and the row's inputs (JSON: the model's feature columns, as Azure ML model data
collection's `model_inputs` records them; the drift monitor reads them). Like the traffic log, rows appear with a bounded lag and a watermark table says up to
when the log is complete. On Azure, model data collection plays this part
(adapters/azure/prediction_log.py).
"""

from __future__ import annotations

import sqlite3

TABLE = "EndpointPredictionLog"
WATERMARK_TABLE = "EndpointPredictionLogWatermark"

COLUMNS: tuple[str, ...] = (
    "TimeGenerated",
    "RequestId",
    "RowIndex",
    "EndpointName",
    "DeploymentName",
    "ModelVersion",
    "EntityId",
    "Score",
    "IsMirrored",
    "Inputs",
)

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    TimeGenerated TEXT NOT NULL,
    RequestId TEXT NOT NULL,
    RowIndex INTEGER NOT NULL,
    EndpointName TEXT NOT NULL,
    DeploymentName TEXT NOT NULL,
    ModelVersion TEXT NOT NULL,
    EntityId TEXT,
    Score REAL NOT NULL,
    IsMirrored INTEGER NOT NULL DEFAULT 0,
    Inputs TEXT
);
CREATE INDEX IF NOT EXISTS ix_{TABLE}_endpoint_time ON {TABLE} (EndpointName, TimeGenerated);
CREATE TABLE IF NOT EXISTS {WATERMARK_TABLE} (
    Id INTEGER PRIMARY KEY CHECK (Id = 1),
    IngestedUntil TEXT NOT NULL
);
"""


def record_request_id(request_id: str, row: int) -> str:
    """The id a PredictionRecord carries: the request id, with the row for multi-row requests."""
    return request_id if row == 0 else f"{request_id}/{row}"


def add_missing_columns(conn: sqlite3.Connection) -> None:
    """Bring a prediction table written before the Inputs column up to this schema."""
    have = {row[1] for row in conn.execute(f"PRAGMA table_info({TABLE})")}
    if have and "Inputs" not in have:
        conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN Inputs TEXT")
