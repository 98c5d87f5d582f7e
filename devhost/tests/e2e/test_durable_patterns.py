"""Each Durable Functions pattern of the sample app runs on devhost to the right output, over HTTP only."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from tests.e2e.conftest import Devhost

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_the_starter_answers_202_with_the_check_status_urls(durable_host: Devhost) -> None:
    started = durable_host.start("chaining", ["Tokyo"])
    assert started.status_code == 202
    body = started.json()
    assert set(body) >= {
        "id",
        "statusQueryGetUri",
        "sendEventPostUri",
        "terminatePostUri",
        "purgeHistoryDeleteUri",
    }
    assert started.headers["Location"] == body["statusQueryGetUri"]
    assert durable_host.wait_for(body["statusQueryGetUri"])["output"] == ["Hello Tokyo!"]


def test_the_management_api_needs_its_system_key_or_the_master_key(durable_host: Devhost) -> None:
    body = durable_host.start("chaining", ["Kyiv"]).json()
    bare = body["statusQueryGetUri"].split("?")[0]
    assert requests.get(bare, timeout=10).status_code == 401
    assert requests.get(bare, params={"code": "wrong"}, timeout=10).status_code == 401
    assert requests.get(bare, params={"code": durable_host.master_key}, timeout=10).status_code in (200, 202)


def test_function_chaining_returns_each_step_in_order(durable_host: Devhost) -> None:
    status = durable_host.run("chaining", ["Tokyo", "Seattle", "London"])
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


def test_fan_out_fan_in_aggregates_every_branch(durable_host: Devhost) -> None:
    status = durable_host.run("fan_out_fan_in", {"count": 20, "delay": 0})
    assert status["output"] == {"count": 20, "sum": sum(range(20))}


def test_retries_recover_from_transient_failures(durable_host: Devhost) -> None:
    key = uuid.uuid4().hex[:8]
    status = durable_host.run("retries", {"key": key, "fail_times": 2, "max_attempts": 3})
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"succeeded_on_attempt": 3}


def test_retries_give_up_after_the_last_attempt_and_fail_the_instance(durable_host: Devhost) -> None:
    key = uuid.uuid4().hex[:8]
    status = durable_host.run("retries", {"key": key, "fail_times": 5, "max_attempts": 2})
    assert status["runtimeStatus"] == "Failed"
    assert "flaky failure 2 of 5" in str(status["output"])


def test_human_interaction_completes_when_the_event_arrives(durable_host: Devhost) -> None:
    body = durable_host.start("approval", {"timeout_s": 30}).json()
    durable_host.wait_for(body["statusQueryGetUri"], until=lambda s: s.get("runtimeStatus") == "Running")
    raised = requests.post(
        body["sendEventPostUri"].replace("{eventName}", "Approval"), json="alice", timeout=10
    )
    assert raised.status_code == 202
    status = durable_host.wait_for(body["statusQueryGetUri"])
    assert status["output"] == {"outcome": "approved", "by": "alice"}


def test_human_interaction_times_out_without_the_event(durable_host: Devhost) -> None:
    started = time.monotonic()
    status = durable_host.run("approval", {"timeout_s": 1})
    assert status["output"] == {"outcome": "timed out"}
    assert time.monotonic() - started >= 1.0


def test_monitor_polls_until_ready_and_reports_progress_in_custom_status(durable_host: Devhost) -> None:
    status = durable_host.run("monitor", {"ready_after": 3})
    assert status["output"] == {"ready": True, "checks": 3}
    assert status["customStatus"] == {"checks": 3, "state": "ready"}


def test_sub_orchestrations_return_their_outputs_to_the_parent(durable_host: Devhost) -> None:
    status = durable_host.run("parent", [["A", "B"], ["C"]])
    assert status["output"] == [["Hello A!", "Hello B!"], ["Hello C!"]]


def test_an_eternal_orchestration_continues_as_new_until_its_limit(durable_host: Devhost) -> None:
    status = durable_host.run("eternal", {"n": 0, "limit": 3})
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"n": 3, "limit": 3}


def test_starting_a_running_instance_id_again_is_refused(durable_host: Devhost) -> None:
    instance_id = f"singleton-{uuid.uuid4().hex[:8]}"
    first = durable_host.start("approval", {"timeout_s": 30}, instance_id=instance_id)
    assert first.status_code == 202
    durable_host.wait_for(
        first.json()["statusQueryGetUri"], until=lambda s: s.get("runtimeStatus") == "Running"
    )
    second = durable_host.start("chaining", ["X"], instance_id=instance_id)
    assert second.status_code == 409
    status = requests.get(first.json()["statusQueryGetUri"], timeout=10).json()
    assert (status["name"], status["runtimeStatus"]) == ("approval", "Running")
    requests.post(first.json()["terminatePostUri"].replace("{text}", "test over"), timeout=10)
