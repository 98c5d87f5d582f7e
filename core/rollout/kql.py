"""The gate's telemetry queries, generated from one definition: KQL for Log Analytics (Azure) and the
equivalent SQL for the local SQLite copy of `AmlOnlineEndpointTrafficLog`.

Both count the same things the gate reasons about (core/rollout/traffic_gate.py): requests, errors (5xx, 408,
424; AML logs ResponseCode as a string, hence `toint`), throttled (429, capacity), nearest-rank
percentiles of TotalDurationMs and the number of requests slower than a threshold, per deployment,
over the half-open window [start, end). tests/integration/test_kql_matches_sql.py runs the KQL with
duckdb-kql and the SQL with sqlite3 on the same rows and checks they agree.

Names are validated rather than escaped: endpoint and deployment names in Azure ML are short
[a-zA-Z0-9-] identifiers, and anything else is a bug or an injection attempt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from core.rollout.traffic_log import TABLE, iso_ms

# The table exists in a workspace only once an endpoint has logged a request. A fuzzy union alone does
# not help: with no leg that resolves it is still an error ("union operator: Failed to resolve table
# expression", Kusto docs, union operator: "isfuzzy=true ... at least one table must exist"). An empty
# datatable with the table's schema always resolves, so a new workspace's query returns no rows
# (need-more-data); the missing table is then reported as a warning (a partial result with no
# error rows), which the adapter reads as data. Column types from Azure Monitor's table reference
# (learn.microsoft.com/azure/azure-monitor/reference/tables/amlonlineendpointtrafficlog): a leg whose
# types differ would split a column in two (ResponseCode_int, ResponseCode_string).
EMPTY_LEG = (
    "(datatable(TimeGenerated:datetime, EndpointName:string, DeploymentName:string, "
    "ResponseCode:int, TotalDurationMs:int)[])"
)
KQL_SOURCE = f"union isfuzzy=true {EMPTY_LEG}, {TABLE}"
ERROR_CODES_4XX = (408, 424)  # request timeout, failed dependency: the deployment's fault
THROTTLED_CODE = 429  # capacity, not the model: counted apart
PERCENTILES = (50, 95, 99)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")


def _name(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"{what} {value!r} is not a valid Azure ML name (letters, digits and hyphens, at most 64); "
            "fix the policy's endpoint or the deployment name"
        )
    return value


@dataclass(frozen=True)
class WindowQuery:
    """One gate query: which deployments of which endpoint over which window."""

    endpoint: str
    deployments: tuple[str, ...]
    start: datetime
    end: datetime
    slow_threshold_ms: float | None = None

    def __post_init__(self) -> None:
        _name(self.endpoint, "endpoint")
        if not self.deployments:
            raise ValueError("a window query needs at least one deployment")
        for d in self.deployments:
            _name(d, "deployment")
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} is not after its start {self.start}")
        if self.slow_threshold_ms is not None and not self.slow_threshold_ms >= 0:
            raise ValueError(f"slow_threshold_ms={self.slow_threshold_ms} must be a number >= 0")

    # ------------------------------------------------------------------ KQL (Log Analytics)

    def kql(self) -> str:
        deployments = ", ".join(f'"{d}"' for d in self.deployments)
        errors = " or ".join(["Code >= 500", f"Code in ({', '.join(str(c) for c in ERROR_CODES_4XX)})"])
        aggregates = [
            "requests = count()",
            f"errors = countif({errors})",
            f"throttled = countif(Code == {THROTTLED_CODE})",
            *(f"p{p}_ms = percentile(TotalDurationMs, {p})" for p in PERCENTILES),
        ]
        if self.slow_threshold_ms is not None:
            aggregates.append(f"slow = countif(TotalDurationMs > {float(self.slow_threshold_ms)!r})")
        return "\n".join(
            [
                KQL_SOURCE,
                f"| where TimeGenerated >= datetime({iso_ms(self.start)}) and TimeGenerated < datetime({iso_ms(self.end)})",
                f'| where EndpointName == "{self.endpoint}" and DeploymentName in ({deployments})',
                "| extend Code = toint(ResponseCode)",
                "| summarize " + ", ".join(aggregates) + " by DeploymentName",
            ]
        )

    # ------------------------------------------------------------------ SQL (local SQLite table)

    def sql(self, visible_until: datetime | None = None) -> tuple[str, dict[str, object]]:
        """The same aggregates in SQLite (window functions for the nearest-rank percentiles, as
        Kusto and duckdb's quantile_disc compute them). `visible_until` hides rows not yet
        "ingested" (the local adapter's simulated lag)."""
        params: dict[str, object] = {
            "endpoint": self.endpoint,
            "start": iso_ms(self.start),
            "end": iso_ms(self.end if visible_until is None else min(self.end, visible_until)),
        }
        names = []
        for i, d in enumerate(self.deployments):
            params[f"d{i}"] = d
            names.append(f":d{i}")
        codes_4xx = ", ".join(str(c) for c in ERROR_CODES_4XX)
        slow = "NULL"
        if self.slow_threshold_ms is not None:
            params["slow"] = float(self.slow_threshold_ms)
            slow = "COALESCE(SUM(ms > :slow), 0)"
        pcts = ",\n       ".join(
            f"MIN(CASE WHEN rn >= (n * {p} + 99) / 100 THEN ms END) AS p{p}_ms" for p in PERCENTILES
        )
        sql = f"""
WITH w AS (
  SELECT DeploymentName AS deployment,
         CASE WHEN trim(ResponseCode) GLOB '[0-9]*' THEN CAST(ResponseCode AS INTEGER) END AS code,
         TotalDurationMs AS ms
  FROM {TABLE}
  WHERE TimeGenerated >= :start AND TimeGenerated < :end
    AND EndpointName = :endpoint AND DeploymentName IN ({", ".join(names)})
),
r AS (
  SELECT deployment, code, ms,
         ROW_NUMBER() OVER (PARTITION BY deployment, ms IS NULL ORDER BY ms) AS rn,
         COUNT(ms) OVER (PARTITION BY deployment) AS n
  FROM w
)
SELECT deployment,
       COUNT(*) AS requests,
       COALESCE(SUM(code >= 500 OR code IN ({codes_4xx})), 0) AS errors,
       COALESCE(SUM(code = {THROTTLED_CODE}), 0) AS throttled,
       {pcts},
       {slow} AS slow
FROM r
GROUP BY deployment
""".strip()
        return sql, params


def window_query(
    endpoint: str,
    deployments: list[str],
    start: datetime,
    end: datetime,
    slow_threshold_ms: float | None = None,
) -> str:
    """The gate's KQL for one window (what LogAnalyticsTrafficStats sends)."""
    return WindowQuery(endpoint, tuple(deployments), start, end, slow_threshold_ms).kql()


def watermark_query(endpoint: str) -> str:
    """Latest ingested request of this endpoint and when it was ingested. A window is judged only
    once a request after its end has arrived (Log Analytics ingests in 20 s to minutes, roughly in
    order); the caller bounds the scan with the query's timespan."""
    return "\n".join(
        [
            KQL_SOURCE,
            f'| where EndpointName == "{_name(endpoint, "endpoint")}"',
            "| summarize ingested_until = max(TimeGenerated), last_ingestion = max(ingestion_time())",
        ]
    )
