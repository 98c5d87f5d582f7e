"""A local stand-in of Azure Monitor log search alerts, for the drift alert rule only.

    python -m devstack.log_alerts --db .local/drift-figures.db --alerts-url http://127.0.0.1:7071/api/alerts
                                  [--models churn] [--frequency 300] [--window 900] [--port 0]

It evaluates the rule infra/app/events.bicep declares for each monitored model
(core/monitoring/figures.py: `alert_query` on Azure, `ALERT_SQL` here, on the local figures table the
drift monitor writes) every `frequency` seconds over the last `window` seconds, and behaves as a
stateful rule with autoMitigate does: when the model has an alerting check in the window and no
alert is open, it fires one (a fresh alert id); when the window has none while one is open, it
resolves it. Each change is POSTed to /api/alerts as the action group's webhook posts it, in the
common alert schema of a log search alert (V2), following Microsoft's sample payload
(https://learn.microsoft.com/azure/azure-monitor/alerts/alerts-payload-samples, "Log search alert"),
with the rule's custom property `model`. The function key comes from FUNCTIONS_MASTER_KEY.

GET /alerts on `--port` lists what it posted (tests and the demo read it), GET /status answers 200.
Models: `--models`, or every policy in LIFECYCLE_POLICY_DIR with a `monitoring:` section.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from core.monitoring.figures import (
    ALERT_SQL,
    FREQUENCY_SECONDS,
    TABLE,
    WINDOW_SECONDS,
    alert_query,
    rule_name,
)
from core.rollout.traffic_log import iso_ms

log = logging.getLogger("devstack.log_alerts")

WORKSPACE = (
    "/subscriptions/local/resourcegroups/local/providers/microsoft.operationalinsights/workspaces/local"
)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def alert_payload(
    model: str, condition: str, alert_id: str, fired: datetime, at: datetime, checks: int, window: int
) -> dict[str, Any]:
    """The common alert schema a log search alert's action group posts (Fired or Resolved)."""
    essentials: dict[str, Any] = {
        "alertId": f"/subscriptions/local/providers/Microsoft.AlertsManagement/alerts/{alert_id}",
        "alertRule": rule_name(model),
        "severity": "Sev3",
        "signalType": "Log",
        "monitorCondition": condition,
        "monitoringService": "Log Alerts V2",
        "alertTargetIDs": [WORKSPACE],
        "configurationItems": [WORKSPACE],
        "originAlertId": alert_id,
        "firedDateTime": _iso(fired),
        "description": f"The drift monitor found the live inputs of {model} drifted from its champion's training data.",
        "essentialsVersion": "1.0",
        "alertContextVersion": "1.0",
    }
    if condition == "Resolved":
        essentials["resolvedDateTime"] = _iso(at)
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": essentials,
            "alertContext": {
                "properties": None,
                "conditionType": "LogQueryCriteria",
                "condition": {
                    "windowSize": f"PT{window}S",
                    "allOf": [
                        {
                            "searchQuery": alert_query(model),
                            "metricMeasureColumn": None,
                            "targetResourceTypes": "['Microsoft.OperationalInsights/workspaces']",
                            "operator": "GreaterThan",
                            "threshold": "0",
                            "timeAggregation": "Count",
                            "dimensions": [],
                            "metricValue": checks,
                            "failingPeriods": {"numberOfEvaluationPeriods": 1, "minFailingPeriodsToAlert": 1},
                        }
                    ],
                    "windowStartTime": _iso(at - timedelta(seconds=window)),
                    "windowEndTime": _iso(at),
                },
            },
            "customProperties": {"model": model},
        },
    }


@dataclass
class LogAlerts:
    db: Path
    alerts_url: str
    key: str
    models: list[str]
    frequency: float = FREQUENCY_SECONDS
    window: int = WINDOW_SECONDS
    open: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # model -> (alert id, fired)
    posted: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def alerting_checks(self, model: str, at: datetime) -> int:
        """The rule's query over the window ending `at` (0 while the table does not exist yet)."""
        if not self.db.exists():
            return 0
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        try:
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (TABLE,)).fetchone() is None:
                return 0
            (count,) = conn.execute(
                ALERT_SQL, (model, iso_ms(at - timedelta(seconds=self.window)), iso_ms(at))
            ).fetchone()
        finally:
            conn.close()
        return int(count)

    def evaluate(self, at: datetime) -> list[dict[str, Any]]:
        """One evaluation of every model's rule; returns the payloads it posted."""
        sent = []
        for model in self.models:
            checks = self.alerting_checks(model, at)
            if checks > 0 and model not in self.open:
                alert_id = str(uuid.uuid4())
                self.open[model] = (alert_id, at)
                sent.append(self._post(alert_payload(model, "Fired", alert_id, at, at, checks, self.window)))
            elif checks == 0 and model in self.open:
                alert_id, fired = self.open.pop(model)
                sent.append(self._post(alert_payload(model, "Resolved", alert_id, fired, at, 0, self.window)))
        return sent

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        # the action group's webhook carries the alerts function's key in ?code= (infra/app/events.bicep)
        answer = requests.post(self.alerts_url, json=payload, params={"code": self.key}, timeout=30)
        essentials = payload["data"]["essentials"]
        record = {
            "alert_id": essentials["alertId"],
            "rule": essentials["alertRule"],
            "model": payload["data"]["customProperties"]["model"],
            "condition": essentials["monitorCondition"],
            "at": essentials.get("resolvedDateTime", essentials["firedDateTime"]),
            "status": answer.status_code,
            "answer": answer.text[:500],
        }
        log.info("posted %s %s -> %s", record["condition"], record["rule"], answer.status_code)
        with self._lock:
            self.posted.append(record)
        return record

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.evaluate(datetime.now(UTC))
            except (sqlite3.Error, requests.RequestException) as exc:  # the next evaluation retries
                log.warning("alert evaluation failed: %s", exc)
            stop.wait(self.frequency)


def serve(alerts: LogAlerts, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path not in ("/alerts", "/status"):
                self.send_error(404)
                return
            with alerts._lock:
                body = json.dumps(
                    {"alerts": alerts.posted} if self.path == "/alerts" else {"state": "Running"}
                )
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, name="log-alerts-http", daemon=True).start()
    return server


def monitored_models() -> list[str]:
    from core.kernel.policy import load_policies
    from core.kernel.settings import get_settings

    return sorted(m for m, p in load_policies(get_settings().policy_dir).items() if p.monitoring is not None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.log_alerts", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--db", required=True, help="the local drift figures table (Settings.drift_figures_file)"
    )
    parser.add_argument("--alerts-url", required=True, help="the app's /api/alerts")
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument(
        "--frequency", type=float, default=FREQUENCY_SECONDS, help="seconds between evaluations"
    )
    parser.add_argument(
        "--window", type=int, default=WINDOW_SECONDS, help="seconds of figures each evaluation reads"
    )
    parser.add_argument("--port", type=int, default=0, help="GET /alerts lists what was posted")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    models = args.models if args.models is not None else monitored_models()
    alerts = LogAlerts(
        Path(args.db),
        args.alerts_url,
        os.environ.get("FUNCTIONS_MASTER_KEY", ""),
        models,
        args.frequency,
        args.window,
    )
    server = serve(alerts, args.port)
    log.info(
        "evaluating %s every %.0fs over %ds; GET http://127.0.0.1:%d/alerts",
        models,
        args.frequency,
        args.window,
        server.server_port,
    )
    stop = threading.Event()
    try:
        alerts.run(stop)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
