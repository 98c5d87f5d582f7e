"""A devhost killed with SIGKILL in the middle of a fan-out resumes the instance on restart: it completes,
and no activity whose completion was recorded before the kill runs again."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from devhost import procs
from tests.e2e.conftest import PATTERNS_APP, start_devhost

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

COUNT = 24


def _executions(data_dir: Path) -> Counter[int]:
    path = data_dir / "work.log"
    return Counter(int(line) for line in path.read_text().splitlines()) if path.exists() else Counter()


def test_sigkill_mid_fan_out_then_restart_completes_without_rerunning_completed_activities(
    tmp_path: Path,
) -> None:
    state, data, port = tmp_path / "state", tmp_path / "data", procs.free_port()
    concurrency = ("--activity-concurrency", "4")
    host = start_devhost(PATTERNS_APP, state, data, port=port, extra_args=concurrency)
    try:
        if not host.durable:
            pytest.skip("devhost/durable/engine.py is not there yet")
        started = host.start("fan_out_fan_in", {"count": COUNT, "delay": 0.4}, instance_id="killed-fan-out")
        assert started.status_code == 202, started.text
        status_url = started.json()["statusQueryGetUri"]
        deadline = time.monotonic() + 20
        while sum(_executions(data).values()) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        history = requests.get(status_url + "&showHistory=true&showHistoryOutput=true", timeout=10).json()[
            "historyEvents"
        ]
        recorded = {event["Result"] for event in history if event["EventType"] == "TaskCompleted"}
    finally:
        host.proc.kill()
    assert recorded, "some activities should have completed before the kill"
    assert sum(_executions(data).values()) < COUNT, "the kill should land in the middle of the fan-out"

    host = start_devhost(PATTERNS_APP, state, data, port=port, extra_args=concurrency)
    try:
        status = host.wait_for(status_url, timeout=30)
    finally:
        host.proc.stop()
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"count": COUNT, "sum": sum(range(COUNT))}
    executions = _executions(data)
    assert set(executions) == set(range(COUNT)), "every activity ran"
    assert {index: executions[index] for index in recorded} == dict.fromkeys(recorded, 1)
