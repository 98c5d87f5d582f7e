"""The ledger is the outbox, end to end: devhost is SIGKILLed after a trigger recorded a request
and before it started the model's coordinator; devhost restarted on the same state dir claims
the request (at the outbox sweep's next minute tick). The lifecycle is a dry run."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from bench.events import EdgeHost, edge_devhost
from triggers import outbox

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

PAUSE = "LIFECYCLE_TEST_INTAKE_PAUSE_SECONDS"


def coordinator_exists(host: EdgeHost) -> bool:
    response = requests.get(
        f"{host.base_url}/runtime/webhooks/durabletask/instances/coordinator-churn",
        params={"code": host.durable_key},
        timeout=10,
    )
    assert response.status_code in (200, 202, 404), response.text
    return response.status_code != 404


def retrain(host: EdgeHost, outcome: dict) -> None:
    try:
        outcome["response"] = requests.post(
            f"{host.base_url}/api/models/churn/retrain",
            params={"code": host.key},
            headers={"Idempotency-Key": "outbox-e2e"},
            json={"reason": "outbox e2e", "requested_by": "test"},
            timeout=120,
        )
    except requests.RequestException as exc:
        outcome["error"] = exc


def clear_of_the_sweep_tick() -> None:
    """The first host's own minute sweep must not wake the coordinator before the kill."""
    second = int(outbox.SWEEP.split()[0])
    while abs(datetime.now(UTC).second - second) < 6:
        time.sleep(0.5)


def test_a_request_recorded_just_before_the_host_dies_is_claimed_after_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    workdir = tmp_path / "edge"
    monkeypatch.setenv(PAUSE, "600")  # the trigger stops between the ledger write and the wake-up
    with edge_devhost(workdir, ["churn"], debounce_seconds=1) as host:
        ledger = host.ledger()
        clear_of_the_sweep_tick()
        outcome: dict = {}
        caller = threading.Thread(target=retrain, args=(host, outcome))
        caller.start()
        deadline = time.monotonic() + 30
        while not ledger.pending_requests("churn"):
            assert time.monotonic() < deadline, "the request was never recorded\n" + host.log_tail()
            time.sleep(0.05)
        assert not coordinator_exists(host)  # a model's first request: no coordinator yet
        host.proc.kill()  # SIGKILL, by PID
        caller.join(30)
        assert "error" in outcome, outcome  # the operator never got an answer
    [stranded] = ledger.pending_requests("churn")

    monkeypatch.delenv(PAUSE)
    with edge_devhost(workdir, ["churn"], debounce_seconds=1) as host:
        deadline = time.monotonic() + 120  # the next minute tick, then the claim
        while not (runs := ledger.list_runs(model="churn")):
            assert time.monotonic() < deadline, "the stranded request was never claimed\n" + host.log_tail()
            time.sleep(0.2)
        [run] = runs
        assert [r.request_id for r in ledger.requests_for_run(run.run_id)] == [stranded.request_id]
        assert ledger.pending_requests("churn") == []
        # the operator retries the call that got no answer: the same request, no second run
        outcome = {}
        retrain(host, outcome)
        assert outcome["response"].status_code == 200, outcome
        assert outcome["response"].json()["request_id"] == stranded.request_id
        time.sleep(2)
        assert len(ledger.list_runs(model="churn")) == 1
