"""`make demo` relies on its compressed policy and its trigger payloads reaching the churn model.

The demo itself starts the whole stack and trains five models (about 5 minutes on 2 cores), so
it is run by `make demo`, not by the suite (tests/e2e/test_ml_gates_demo.py plays two of its scenarios on
the real stack); these tests check, in milliseconds, what it builds on."""

from __future__ import annotations

import json

from core.intake.events import parse_alert, route_alert, route_blob
from core.kernel.policy import load_policies, load_policy
from core.rollout.ramp import RampPlan
from devstack import REPO_ROOT, demo

SAMPLE = REPO_ROOT / "samples" / "churn" / "policy.yaml"


def demo_policy():
    return load_policies(demo.POLICY_DIR)["churn"]


def test_the_demo_policy_is_the_churn_sample_with_rollout_on_and_times_of_seconds():
    policy, sample = demo_policy(), load_policy(SAMPLE)
    assert policy.model == sample.model
    assert policy.path(policy.data.contract).resolve() == sample.path(sample.data.contract)
    assert policy.path(policy.training.job).resolve() == sample.path(sample.training.job)
    assert policy.path(policy.training.evaluation_job).resolve() == sample.path(
        sample.training.evaluation_job
    )
    ro = policy.rollout
    assert ro.enabled and ro.endpoint == demo.ENDPOINT and ro.steps == [10, 50, 100]
    assert ro.min_bake_seconds <= 10 and policy.training.poll_seconds <= 2
    assert policy.triggers.debounce_seconds <= 10
    assert RampPlan.from_policy(ro).eval_interval_seconds <= 2


def test_the_demo_policy_is_not_picked_up_by_the_default_policy_dir():
    # the default LIFECYCLE_POLICY_DIR (samples/) must keep one churn policy: the sample's
    assert load_policies(SAMPLE.parent.parent)["churn"].base_dir == SAMPLE.parent


def test_the_drift_alert_the_stand_in_posts_and_the_demo_uploads_route_to_churn():
    from datetime import UTC, datetime

    from devstack.log_alerts import alert_payload

    policies = list(load_policies(demo.POLICY_DIR).values())
    now = datetime.now(UTC)
    alert = parse_alert(json.dumps(alert_payload("churn", "Fired", "a-1", now, now, 1, 60)).encode())
    assert route_alert(policies, alert) == "churn" and alert.fired
    assert next(p for p in policies if p.model == "churn").monitoring is not None  # the demo watches drift
    assert route_blob(policies, "raw", "churn/demo/02-drifted.csv") == "churn"
    assert (
        route_blob(policies, "raw", "churn/landed/02-drifted.csv") is None
    )  # lands; the drift alert retrains


def test_the_report_is_ok_only_when_every_scenario_is(tmp_path):
    path = tmp_path / "report.json"
    done = [demo.Outcome("a", "x", "x", True, 1.0), demo.Outcome("b", "y", "not run")]
    assert demo.write_report(path, done, {}) is False
    doc = json.loads(path.read_text())
    assert doc["ok"] is False
    assert set(doc["scenarios"][0]) == {"name", "expected", "outcome", "ok", "seconds"}
    assert demo.write_report(path, done[:1], {}) is True
    assert demo.write_report(path, [], {}) is False


def test_the_live_view_shows_the_stage_the_split_and_the_last_gate_verdict():
    from rich.console import Console

    view = demo.View(
        [demo.Outcome("first-model", "x", "done", True, 3.0), demo.Outcome("drift-retrain-promote", "y")],
        current="drift-retrain-promote",
        run_id="churn-1",
        stage="deploy",
        rollout={
            "stage": "ramp",
            "gate": {"verdict": "need_more_data", "green_requests": 12, "min_samples": 94},
        },
        champion="1",
        traffic={"blue": 90, "green": 10},
    )
    console = Console(record=True, width=160)
    console.print(view.render())
    text = console.export_text()
    assert "churn-1" in text and "rollout ramp" in text and "'green': 10" in text
    assert "last gate: need_more_data green 12/94" in text and "running..." in text


def test_every_scenario_names_a_demo_method_and_worse_live_accuracy_runs_while_the_first_champion_serves():
    names = [name for name, _, _, _ in demo.SCENARIOS]
    assert all(callable(getattr(demo.Demo, method, None)) for _, _, method, _ in demo.SCENARIOS)
    assert len(set(names)) == len(names)
    # its challenger must beat a champion trained on the live (drift 0) world: the first model's
    assert (
        names.index("first-model") + 1
        == names.index("worse-live-accuracy")
        < names.index("drift-retrain-promote")
    )
    # scoring by id asks for first-model's customers: the first champion must still serve then
    assert names.index("first-model") < names.index("score-by-id") < names.index("drift-retrain-promote")
