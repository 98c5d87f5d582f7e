"""The schema of Azure ML's `AmlOnlineEndpointTrafficLog`, in one place.

Log Analytics holds the real table on Azure; the local endpoint stand-in writes the same columns
to SQLite (standins/endpoint/telemetry.py), the local TrafficStats adapter and the gate queries
(core/rollout/kql.py) read them, and the telemetry tests write rows of it. The local copy adds
`IsMirrored` and a watermark table that says how far the log is ingested.
"""

from __future__ import annotations

from datetime import UTC, datetime

TABLE = "AmlOnlineEndpointTrafficLog"
WATERMARK_TABLE = "AmlOnlineEndpointTrafficLogWatermark"

COLUMNS: tuple[str, ...] = (
    "TimeGenerated",
    "EndpointName",
    "DeploymentName",
    "ResponseCode",
    "ModelStatusCode",
    "TotalDurationMs",
    "RequestDurationMs",
    "ResponseDurationMs",
    "RequestPayloadSize",
    "ResponsePayloadSize",
    "XRequestId",
    "XMSClientRequestId",
    "Method",
    "Path",
    "IsMirrored",
)

# SQLite DDL of the local copy (codes are strings, as AML logs them)
TABLE_DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    TimeGenerated TEXT NOT NULL,
    EndpointName TEXT NOT NULL,
    DeploymentName TEXT NOT NULL,
    ResponseCode TEXT NOT NULL,
    ModelStatusCode TEXT NOT NULL,
    TotalDurationMs REAL NOT NULL,
    RequestDurationMs REAL NOT NULL,
    ResponseDurationMs REAL NOT NULL,
    RequestPayloadSize INTEGER NOT NULL,
    ResponsePayloadSize INTEGER NOT NULL,
    XRequestId TEXT NOT NULL,
    XMSClientRequestId TEXT NOT NULL,
    Method TEXT NOT NULL,
    Path TEXT NOT NULL,
    IsMirrored INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS ix_{TABLE}_endpoint_time ON {TABLE} (EndpointName, TimeGenerated);
"""
# the writer's published ingestion point (a table without it is read as committed row by row)
WATERMARK_DDL = f"""
CREATE TABLE IF NOT EXISTS {WATERMARK_TABLE} (
    Id INTEGER PRIMARY KEY CHECK (Id = 1),
    IngestedUntil TEXT NOT NULL
);
"""
SCHEMA = TABLE_DDL + WATERMARK_DDL


def iso_ms(moment: datetime) -> str:
    """The timestamp format of the traffic log: ISO-8601 UTC with milliseconds and 'Z'
    (lexical order = time order, so SQLite compares it as text)."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no timezone; pass an aware UTC datetime")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
