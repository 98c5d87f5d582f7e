"""HTTP triggers on devhost behave as on Azure: routes, methods, auth levels, return values, failures."""

from __future__ import annotations

import pytest
import requests

from tests.e2e.conftest import Devhost

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_host_status_reports_running(patterns_host: Devhost) -> None:
    response = requests.get(patterns_host.url("/admin/host/status"), timeout=5)
    assert response.status_code == 200
    assert response.json()["state"] == "Running"


def test_function_level_route_needs_a_key(patterns_host: Devhost) -> None:
    assert patterns_host.get("/api/boom").status_code == 401
    assert patterns_host.get("/api/boom", key="wrong").status_code == 401


def test_function_level_route_accepts_the_function_key_in_header_or_query(patterns_host: Devhost) -> None:
    # /api/boom always raises: getting past auth shows up as a 500
    assert patterns_host.get("/api/boom", key=patterns_host.function_key).status_code == 500
    header = {"x-functions-key": patterns_host.function_key}
    assert requests.get(patterns_host.url("/api/boom"), headers=header, timeout=5).status_code == 500


def test_admin_level_route_accepts_only_the_master_key(patterns_host: Devhost) -> None:
    assert patterns_host.get("/api/admin-only", key=patterns_host.function_key).status_code == 401
    response = patterns_host.get("/api/admin-only", key=patterns_host.master_key)
    assert (response.status_code, response.text) == (200, "admin ok")


def test_anonymous_route_passes_typed_route_params(patterns_host: Devhost) -> None:
    assert patterns_host.get("/api/hello/World").text == "Hello, World!"
    assert patterns_host.get("/api/items/42", params={"q": "x"}).json() == {"id": 42, "q": "x"}


def test_route_constraints_and_declared_methods_decide_what_matches(patterns_host: Devhost) -> None:
    assert patterns_host.get("/api/hello/123").status_code == 404  # {name:alpha}
    assert patterns_host.get("/api/items/abc").status_code == 404  # {id:int}
    assert patterns_host.post("/api/hello/World").status_code == 404  # GET only
    assert patterns_host.get("/api/no-such-route").status_code == 404


def test_an_unhandled_exception_is_a_500_with_the_traceback_in_the_log(patterns_host: Devhost) -> None:
    assert patterns_host.get("/api/boom", key=patterns_host.master_key).status_code == 500
    log = patterns_host.log()
    assert "Executed 'Functions.boom' (Failed" in log
    assert "RuntimeError: this function always fails" in log


def test_each_invocation_is_logged_with_its_outcome(patterns_host: Devhost) -> None:
    patterns_host.get("/api/hello/Logged")
    assert "Executing 'Functions.hello'" in patterns_host.log()
    assert "Executed 'Functions.hello' (Succeeded" in patterns_host.log()


def test_timer_trigger_runs_on_startup_and_then_on_its_six_field_schedule(patterns_host: Devhost) -> None:
    import time

    deadline = time.monotonic() + 8
    ticks: list = []
    while time.monotonic() < deadline and len(ticks) < 2:
        ticks = patterns_host.get("/api/ticks").json()
        time.sleep(0.3)
    assert len(ticks) >= 2, "the */2 s timer should have fired at start-up and once more"
    assert ticks[0]["past_due"] is False
