"""Run and coordinator status: one type each, written by the orchestrators and read by the triggers."""

from __future__ import annotations

import json
from typing import get_args

import pytest
from pydantic import ValidationError

from core.rollout.payloads import GateInput
from core.rollout.traffic_gate import GateConfig
from core.run.status import RUN_STATUSES, CoordinatorStatus, GateView, RunProgress, RunStatus, read_progress


def test_run_statuses_are_the_run_status_type():
    assert get_args(RunStatus) == RUN_STATUSES and "rolled_back" in RUN_STATUSES


def test_progress_changes_are_validated_and_unknown_fields_dropped_from_the_dump():
    progress = RunProgress(run_id="r", model="churn", status="running")
    shown = progress.evolve(stage="ramp", gate=GateView(verdict="pass", green_requests=300, min_samples=200))
    assert shown.dump() == {
        "run_id": "r",
        "model": "churn",
        "stage": "ramp",
        "status": "running",
        "gate": {"verdict": "pass", "green_requests": 300, "min_samples": 200, "reasons": []},
    }
    with pytest.raises(ValidationError):
        progress.evolve(stgae="ramp")
    with pytest.raises(ValidationError):
        progress.evolve(stage="sideways")


def test_a_status_is_read_back_from_what_the_durable_client_returns():
    progress = RunProgress(run_id="r", model="churn", stage="train", job="churn-train-r-1")
    assert read_progress(progress.dump()) == progress
    assert read_progress(json.dumps(progress.dump())) == progress
    assert read_progress("not json") is None and read_progress(None) is None


def test_the_coordinator_phase_is_read_from_a_dict_or_its_json_text():
    status = CoordinatorStatus(model="churn", generation=3, phase="debouncing", until="2026-01-01T00:00:00Z")
    assert CoordinatorStatus.read(status.dump()) == status
    assert CoordinatorStatus.read(json.dumps(status.dump())).phase == "debouncing"
    assert CoordinatorStatus.read({"model": "churn", "phase": "sleeping", "generation": 1}) is None


def test_the_gate_config_travels_typed_to_the_gate_activity():
    config = GateConfig(alpha=0.01, min_samples=300, slo_p99_ms=250.0)
    sent = {
        "run_id": "r",
        "endpoint": "e",
        "green": "green",
        "blue": "blue",
        "phase": 1,
        "percent": 10,
        "start": "2026-01-01T00:00:00Z",
        "end": "2026-01-01T00:01:00Z",
        "gate": config,
    }
    wire = json.loads(json.dumps(GateInput(**sent).dump()))
    assert GateInput.model_validate(wire).gate == config
    with pytest.raises(ValueError, match="alpha"):
        GateInput.model_validate({**wire, "gate": {**wire["gate"], "alpha": 2}})
