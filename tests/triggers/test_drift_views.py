"""Drift seen from the operator API and the drift tick: the model view shows the monitor's checks
against their thresholds and which lifecycle each alert started; the tick checks what is due, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import wiring
from core.kernel.policy import MonitoringPolicy
from core.kernel.ports import RetrainRequest, RunRecord
from core.monitoring.drift import ColumnJudgement, DriftVerdict
from core.monitoring.facts import ScoreReferenceSet
from core.monitoring.monitor import LEDGER_KIND, ledger_id
from tests.triggers.test_operator_api import RUN, call
from triggers import operator_api as api
from triggers.drift_monitor import due_checks, run_due_checks

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def monitored(policies) -> None:
    policies["churn"] = policies["churn"].model_copy(
        update={"monitoring": MonitoringPolicy(schedule="*/10 * * * * *")}
    )


def check(fakes, at: datetime, psi: float, alert: bool) -> None:
    column = ColumnJudgement("monthly_charges", 400, psi, 50.0, 1e-12 if alert else 0.4, 4e-6, 0.05, alert)
    verdict = DriftVerdict("drift" if alert else "no_drift", ("why",), 400, (column,), 4e-6)
    fact = verdict.fact(
        model="churn", check_id=f"churn:{at.isoformat()}", window_start=at - timedelta(hours=1),
        window_end=at, reference_version="1", reference_data="dv1",
    )  # fmt: skip
    fakes.ledger.append(ledger_id("churn"), LEDGER_KIND, fact.dump())


def test_the_model_view_shows_each_check_against_its_thresholds_and_the_lifecycle_an_alert_started(
    fakes, client, policies
):
    monitored(policies)
    check(fakes, NOW - timedelta(hours=1), 0.01, alert=False)
    reference = ScoreReferenceSet(
        model="churn", version="1", check_id="churn:first", window_start=NOW - timedelta(hours=2),
        window_end=NOW - timedelta(hours=1), rows=400, counts=[200, 200], edges=[0.3],
    )  # fmt: skip
    fakes.ledger.append(
        ledger_id("churn"), LEDGER_KIND, reference.dump()
    )  # the monitor's ledger holds these too
    check(fakes, NOW, 0.31, alert=True)
    fakes.ledger.put_run(
        RunRecord(run_id=RUN, model="churn", status="running", stage="train", created_at=NOW)
    )
    alert = RetrainRequest(
        "r-1",
        "churn",
        "alert",
        "alert:a-1:fired",
        NOW,
        {"alert_rule": "churn-feature-drift", "alert_id": "a-1"},
    )
    fakes.ledger.add_request(alert)
    fakes.ledger.consume_requests("churn", ["r-1"], RUN)

    status, body = call(api.operator_model, client, route={"model": "churn"})

    assert status == 200
    drift = body["drift"]
    assert [c["verdict"] for c in drift["checks"]] == ["no_drift", "drift"]
    latest = drift["checks"][-1]
    assert latest["psi"] == {"monthly_charges": 0.31} and latest["drifted"] == ["monthly_charges"]
    assert latest["p_value"]["monthly_charges"] < latest["level"] and drift["min_psi"] == 0.05
    assert drift["alerts"] == [
        {
            "alert_rule": "churn-feature-drift",
            "alert_id": "a-1",
            "received_at": "2026-03-01T12:00:00Z",
            "lifecycle": RUN,
        }
    ]


def test_a_model_without_a_drift_monitor_shows_none(fakes, client):
    status, body = call(api.operator_model, client, route={"model": "churn"})
    assert status == 200 and body["drift"] is None


def test_the_tick_checks_only_monitored_models_once_per_occurrence(policies):
    monitored(policies)
    due = due_checks(policies.values(), NOW + timedelta(seconds=3))
    assert [(p.model, at, key) for p, at, key in due] == [("churn", NOW, f"churn:{NOW.isoformat()}")]
    assert due_checks(policies.values(), NOW + timedelta(seconds=13))[0][1] == NOW + timedelta(seconds=10)


def test_a_tick_with_nothing_due_never_builds_the_monitor(fakes, monkeypatch):
    """Building it imports scipy and pandas: on a tick with nothing to check it stalled the edge."""

    def not_on_this_tick():
        raise AssertionError("the drift monitor was built with no check due")

    monkeypatch.setattr(wiring, "drift_monitor", not_on_this_tick)
    assert run_due_checks(NOW) == []
