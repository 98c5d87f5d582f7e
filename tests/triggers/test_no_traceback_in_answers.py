"""No operator-API answer carries a Python stack trace, whatever an orchestration showed or a fact
recorded (issue 20, item 6: a failed deploy's view returned the activity's traceback)."""

from __future__ import annotations

from core.kernel.failures import scrub_tracebacks, without_traceback
from core.run.facts import RunFailed
from tests.triggers.durable_fakes import FakeInstance, Runtime
from tests.triggers.test_operator_api import RUN, add_run, call
from triggers import operator_api as api

FAILURE = (
    "TaskFailedError: Activity function 'deploy_start' failed: MlflowException: Invalid version '1/../x' \n"
    'Traceback (most recent call last):\n  File "/work/main/adapters/local/shared_registry.py", line 80\n'
    "    raise MlflowException(...)\n"
)


def test_a_failed_lifecycles_view_keeps_the_reason_and_drops_the_stack_trace(fakes, client):
    add_run(fakes)
    fakes.ledger.append(RUN, "error", RunFailed(stage="start", error=FAILURE).dump())
    client.instances[RUN] = FakeInstance(
        "deploy", {}, runtime=Runtime.Failed, custom_status={"stage": "start", "error": FAILURE}
    )
    status, body = call(api.operator_lifecycle, client, route={"id": RUN})
    assert status == 200
    assert "Traceback" not in str(body) and "shared_registry.py" not in str(body)
    assert body["errors"][0]["error"].endswith("MlflowException: Invalid version '1/../x'")


def test_a_text_without_a_trace_is_kept_and_a_trace_alone_still_says_it_failed():
    assert without_traceback("RuntimeError: x") == "RuntimeError: x"
    assert without_traceback("Traceback (most recent call last):\n  File x") == (
        "failed (the stack trace is in the host's log)"
    )
    assert scrub_tracebacks({"a": [FAILURE, 1]})["a"][1] == 1
