"""The operator console in a real browser (Debian's headless chromium, driven by Playwright), on the real
local stack: Azurite, the endpoint server, devhost with this app and the compressed demo policy, and the
console server (devstack/console.py) in front. The tests share one stack and run in order, as a person
would see a model's life: a first model, a ramp waiting for approval (a reader looks, an operator
approves), then a faulty challenger rolled back while the page is open. Screenshots go to .local/screenshots/ (docs/ keeps the ones the README shows)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from devhost import procs
from devstack import REPO_ROOT
from devstack.demo import ENDPOINT, MODEL, Api, upload
from devstack.stack import Stack, running_stack
from tests.demo_policies import demo_policy, write_policies

pytestmark = [
    pytest.mark.slow,
    pytest.mark.e2e,
    pytest.mark.timeout(900),
]  # one of tests/conftest.py's LIVE_STACK modules

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = REPO_ROOT / ".local" / "screenshots"
READER, OPERATOR = "rita@contoso.com", "otto@contoso.com"
ROWS = 1500

playwright_sync = pytest.importorskip("playwright.sync_api")
if not CHROMIUM.exists():
    pytest.skip(
        "needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)", allow_module_level=True
    )


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # no batch endpoint (the ML-gates module plays batch scoring): each champion would deploy one here for nothing
    policies = write_policies(tmp_path_factory.mktemp("console-policies"), demo_policy(batch=False))
    with running_stack(
        tmp_path_factory.mktemp("console-stack"),
        devhost_port=procs.free_port(),
        azurite_port=procs.free_port(),
        endpoint_port=procs.free_port(),
        console_port=procs.free_port(),
        # the demo's policy without the online accuracy gate (no labels are fed here) and without promotion
        extra_env={"LIFECYCLE_POLICY_DIR": str(policies), "CODE_VERSION": "console-test"},
    ) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


class Lives:
    """What the tests share: the API (master key), the load generator, the lifecycles seen so far."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.api = Api(stack)
        self.load: Any = None

    def new_lifecycle(self, known: set[str]) -> str:
        return wait_for(
            "a new lifecycle", lambda: [i for i in self.api.lifecycle_ids() if i not in known], 90
        )[0]

    def status(self, run_id: str) -> dict[str, Any]:
        return self.api.get(f"lifecycles/{run_id}")

    def rollout(self, run_id: str) -> dict[str, Any]:
        return (self.api.get(f"lifecycles/{run_id}-rollout").get("orchestration") or {}).get(
            "custom_status"
        ) or {}

    def until_status(self, run_id: str, statuses: set[str], timeout: float) -> dict[str, Any]:
        return wait_for(
            f"{run_id} to end {statuses}",
            lambda: (d := self.status(run_id)).get("status") in statuses and d,
            timeout,
        )


@pytest.fixture(scope="module")
def lives(stack: Stack) -> Iterator[Lives]:
    shared = Lives(stack)
    try:
        yield shared
    finally:
        if shared.load is not None:
            shared.load.stop()


def signed_in(browser: Any, stack: Stack, user: str, role: str, path: str) -> Any:
    """A fresh browser context signed in through the emulated /.auth/login/aad, at `path`."""
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{stack.console_url}/.auth/login/aad?post_login_redirect_uri={quote(path, safe='/')}")
    page.fill("#user", user)
    page.check(f"#role-{role}")
    page.click("#sign-in")
    page.wait_for_selector("#role")
    return page


def chart_points(page: Any, chart_id: str) -> list[int]:
    """How many points each dataset of a chart.js chart holds (what the person sees drawn)."""
    return page.evaluate(
        "id => { const c = Chart.getChart(id); return c ? c.data.datasets.map(d => d.data.filter(v => v !== null && !Number.isNaN(v)).length) : [] }",
        chart_id,
    )


def test_signing_in_shows_the_user_and_role_and_the_models_page(browser, stack, lives):
    from samples.churn.data import generate, to_csv_bytes

    known = set(lives.api.lifecycle_ids())
    upload(stack, "churn/console/01-first.csv", to_csv_bytes(generate(ROWS, seed=11, drift=0.0)))
    first = lives.new_lifecycle(known)
    page = signed_in(browser, stack, READER, "reader", "/#/models")
    assert page.text_content("#user") == READER and page.text_content("#role") == "reader"
    page.wait_for_selector(f"section[data-model='{MODEL}']")
    assert page.locator("#retrain").count() == 0  # a reader cannot ask for a retrain
    assert lives.until_status(first, {"promoted"}, 420)["status"] == "promoted"
    page.wait_for_selector(f"a[href='#/lifecycles/{first}']")
    page.context.close()
    from devstack.loadgen import LoadGenerator

    url = f"{stack.endpoint_url}/endpoints/{ENDPOINT}/score"
    lives.load = LoadGenerator(url, stack.endpoint_key, rps=40, seconds=1800).start()


@pytest.fixture(scope="module")
def waiting_ramp(stack, lives) -> str:
    """A drifted upload whose challenger ramps 10 -> 50 and then waits for an operator before 100%."""
    from samples.churn.data import generate, to_csv_bytes

    known = set(lives.api.lifecycle_ids())
    upload(stack, "churn/console/02-drifted.csv", to_csv_bytes(generate(ROWS, seed=12, drift=1.0)))
    run_id = lives.new_lifecycle(known)
    wait_for("the approval step", lambda: lives.status(run_id).get("approval"), 420)
    return run_id


def test_a_reader_sees_the_running_ramp_but_no_approve_button_and_the_api_refuses_their_approve(
    browser, stack, lives, waiting_ramp
):
    page = signed_in(browser, stack, READER, "reader", f"/#/lifecycles/{waiting_ramp}")
    page.wait_for_selector("#approval")
    assert "running" in page.text_content("h1")
    assert page.locator("#approve").count() == 0 and page.locator("#rollback").count() == 0
    assert page.is_visible("#read-only")
    assert int(page.text_content("#time-left")) > 0
    # the same request the button would send, from the reader's signed-in page: the service says no
    answer = page.evaluate(
        """id => fetch(`/api/console/lifecycles/${id}/approve`, {method: 'POST', body: '{}',
              headers: {'Content-Type': 'application/json'}}).then(async r => [r.status, await r.json()])""",
        waiting_ramp,
    )
    assert answer[0] == 403 and "needs the role operator" in answer[1]["error"]
    assert lives.status(waiting_ramp).get("approval"), "a refused approve must change nothing"
    page.context.close()


def test_an_operator_approves_from_the_page_and_the_lifecycle_continues_with_the_approver_recorded(
    browser, stack, lives, waiting_ramp
):
    page = signed_in(browser, stack, OPERATOR, "operator", f"/#/lifecycles/{waiting_ramp}")
    page.wait_for_selector("#approve")
    page.click("#approve")  # confirmed in the dialog
    detail = lives.until_status(waiting_ramp, {"promoted", "rolled_back", "failed"}, 300)
    assert detail["status"] == "promoted"
    [approval] = [d for d in detail["decisions"] if d.get("operator") == "approve"]
    assert approval["actor"] == f"aad:{OPERATOR}" and approval["via"] == "principal"
    answered = [d for d in detail["decisions"] if d.get("stage") == "approval"]
    assert answered and answered[0]["answer"] == "approve"
    page.wait_for_selector("#outcome .badge.promoted")
    page.wait_for_function("() => document.querySelector('#timeline').textContent.includes('by aad:otto')")
    # charts have data: the split over time, requests and errors by deployment, the gate's evidence
    traffic, requests, gates = (
        chart_points(page, c) for c in ("chart-traffic", "chart-requests", "chart-gates")
    )
    assert len(traffic) >= 2 and all(n >= 3 for n in traffic)  # 10 -> 50 -> 100 at least
    assert requests and requests[0] >= 2 and gates and gates[0] >= 2
    assert page.locator("#gate-table tr.look").count() >= 2
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "console-lifecycle.png"), full_page=True)
    events = lives.stack.devhost_url  # the operator_action event is on the devhost topic
    import requests as http

    recorded = http.get(
        f"{events}/runtime/topics/lifecycle/events", params={"code": stack.master_key}, timeout=10
    ).json()
    text = json.dumps(recorded)
    assert "mllifecycle.operator_action" in text and f"aad:{OPERATOR}" in text
    page.context.close()


def test_a_failing_green_is_rolled_back_while_the_page_is_open_and_the_page_shows_the_evidence(
    browser, stack, lives
):
    from adapters.local.endpoints import LocalEndpoints
    from samples.churn.data import generate, to_csv_bytes

    known = set(lives.api.lifecycle_ids())
    upload(stack, "churn/console/03-reverted.csv", to_csv_bytes(generate(ROWS, seed=21, drift=0.0)))
    run_id = lives.new_lifecycle(known)
    page = signed_in(browser, stack, OPERATOR, "operator", f"/#/lifecycles/{run_id}")
    green = wait_for(
        "the ramp", lambda: (r := lives.rollout(run_id)).get("stage") == "ramp" and r.get("green"), 420
    )
    LocalEndpoints(stack.endpoint_url or "", stack.endpoint_key).set_faults(ENDPOINT, green, error_rate=0.3)
    page.wait_for_selector("#outcome .badge.running")
    detail = lives.until_status(run_id, {"rolled_back", "promoted", "failed"}, 300)
    assert detail["status"] == "rolled_back"
    # the open page catches up by itself (polling): the rollback and the failing gate's numbers
    page.wait_for_selector("#rollback-note", timeout=15_000)
    assert "restored" in page.text_content("#rollback-note")
    assert "error_rate" in page.text_content("#failing-gate") or page.text_content("#failing-gate")
    assert page.locator("#gate-table tr.look.fail").count() >= 1
    assert max(chart_points(page, "chart-gates") or [0]) >= 1
    assert page.locator("#rollback").count() == 0  # nothing left to act on
    page.screenshot(path=str(SHOTS / "console-rollback.png"), full_page=True)
    page.context.close()
