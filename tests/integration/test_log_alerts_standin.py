"""The local stand-in of Azure Monitor log alerts evaluates the drift rule on the figures the monitor
wrote and posts what an action group posts: one Fired alert while checks alert, Resolved once they stop,
in the common alert schema the app parses and routes to the model."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from adapters.local.drift_figures import SqliteDriftFigures
from core.intake.events import parse_alert, route_alert
from core.kernel.policy import load_policies
from core.monitoring.figures import DriftFigure
from devstack import REPO_ROOT
from devstack.log_alerts import LogAlerts

NOW = datetime.now(UTC).replace(microsecond=0)


class Receiver:
    """A webhook receiver on loopback that keeps what it was sent (the app's /api/alerts stands here)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.posts.append((self.path, json.loads(body)))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/alerts"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def figures(at: datetime, alert: bool, check: str) -> list[DriftFigure]:
    numbers = {"Psi": 0.4, "PValue": 1e-12} if alert else {"Psi": 0.01, "PValue": 0.5}
    common = {
        "TimeGenerated": at, "Model": "churn", "CheckId": check, "Rows": 400, "Level": 2e-7, "MinPsi": 0.05,
        "Drifted": alert, "Verdict": "drift" if alert else "no_drift", "Alert": alert,
        "WindowStart": at - timedelta(seconds=30), "WindowEnd": at, "ReferenceVersion": "1",
    }  # fmt: skip
    return [DriftFigure(FeatureName=column, **numbers, **common) for column in ("monthly_charges", "age")]


def test_an_alerting_check_fires_one_alert_that_resolves_when_the_window_has_none(tmp_path: Path, receiver):
    db = tmp_path / "drift-figures.db"
    sink = SqliteDriftFigures(db)
    rules = LogAlerts(db, receiver.url, "the-key", ["churn"], frequency=5, window=60)
    sink.publish(figures(NOW - timedelta(seconds=20), alert=False, check="c1"))
    assert rules.evaluate(NOW) == [] and receiver.posts == []  # quiet checks raise nothing

    sink.publish(figures(NOW, alert=True, check="c2"))
    fired = rules.evaluate(NOW + timedelta(seconds=5))
    assert [f["condition"] for f in fired] == ["Fired"]
    assert rules.evaluate(NOW + timedelta(seconds=10)) == []  # still firing: no second notification
    resolved = rules.evaluate(NOW + timedelta(seconds=65))  # the alerting check left the window
    assert [r["condition"] for r in resolved] == ["Resolved"] and resolved[0]["alert_id"] == fired[0][
        "alert_id"
    ]

    (path, first), (_, second) = receiver.posts
    assert path == "/api/alerts?code=the-key"
    policies = list(load_policies(REPO_ROOT / "samples" / "churn" / "demo").values())
    alert = parse_alert(json.dumps(first).encode())
    assert (
        alert.fired and alert.alert_rule == "churn-feature-drift" and route_alert(policies, alert) == "churn"
    )
    assert first["data"]["alertContext"]["condition"]["allOf"][0]["metricValue"] == 1
    assert not parse_alert(json.dumps(second).encode()).fired


def test_a_model_whose_figures_are_missing_raises_nothing(tmp_path: Path, receiver):
    rules = LogAlerts(tmp_path / "none.db", receiver.url, "k", ["churn"], frequency=5, window=60)
    assert rules.evaluate(NOW) == [] and receiver.posts == []
