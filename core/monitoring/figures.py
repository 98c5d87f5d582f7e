"""The drift figures Azure Monitor alerts on, and the alert rule, defined once.

Every check writes one row per watched column to a Log Analytics custom table through the Logs
Ingestion API (adapters/azure/drift_figures.py); locally the same rows go to a SQLite table
(adapters/local/drift_figures.py). The alert rule is a scheduled query (log search) alert on that
table: `infra/app/events.bicep` declares it with `alert_query(model)`, and the local stand-in of Azure
Monitor log alerts (devstack/log_alerts.py) evaluates `ALERT_SQL`, its translation, on the local
table. tests/integration/azure/test_drift_infra.py checks that the Bicep file carries this query.

Why a log table rather than an Application Insights metric: a check's numbers are per column and
carry the verdict, the window and the reference (what an operator reads when an alert arrives);
custom metrics keep at most a few dimensions and no text, and a log alert can split by model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

TABLE = "MLDriftFigures_CL"  # custom log tables end in _CL
STREAM = f"Custom-{TABLE}"  # the DCR stream the Logs Ingestion API posts to

# One row per watched column per check; (name, Log Analytics type) as the DCR stream and table declare them.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("TimeGenerated", "datetime"),
    ("Model", "string"),
    ("CheckId", "string"),
    ("FeatureName", "string"),
    ("Rows", "int"),
    ("Psi", "real"),
    ("PValue", "real"),
    ("Level", "real"),
    ("MinPsi", "real"),
    ("Drifted", "boolean"),
    ("Verdict", "string"),
    ("Alert", "boolean"),
    ("WindowStart", "datetime"),
    ("WindowEnd", "datetime"),
    ("ReferenceVersion", "string"),
)

# The alert rule, one per monitored model ({model}-feature-drift): evaluated every FREQUENCY over the
# last WINDOW, it fires when the model has at least one alerting check there ("number of results
# greater than 0"), and resolves itself once it has none (autoMitigate).
FREQUENCY_SECONDS = 300
WINDOW_SECONDS = 900


def alert_query(model: str) -> str:
    """The rule's KQL, as infra/app/events.bicep declares it."""
    return f'{TABLE} | where Model == "{model}" and Alert == true | summarize Checks = dcount(CheckId)'


# the same rule over the local table (parameters: model, window start, window end; ISO 8601 text)
ALERT_SQL = (
    f"SELECT COUNT(DISTINCT CheckId) FROM {TABLE} "
    "WHERE Model = ? AND Alert = 1 AND TimeGenerated >= ? AND TimeGenerated <= ?"
)


def rule_name(model: str) -> str:
    """The default alert rule name (MonitoringPolicy.rule_name; events.bicep names its rules so)."""
    return f"{model}-feature-drift"


@dataclass(frozen=True)
class DriftFigure:
    """One row of the table (field names are the table's columns)."""

    TimeGenerated: datetime
    Model: str
    CheckId: str
    FeatureName: str
    Rows: int
    Psi: float
    PValue: float
    Level: float
    MinPsi: float
    Drifted: bool
    Verdict: str
    Alert: bool
    WindowStart: datetime
    WindowEnd: datetime
    ReferenceVersion: str

    def row(self) -> dict[str, Any]:
        """The JSON object the Logs Ingestion API takes (datetimes in ISO 8601)."""
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()}
