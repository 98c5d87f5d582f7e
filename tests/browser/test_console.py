"""The operator console in a real browser (Debian's headless chromium, driven by Playwright), on the real
local stack: Azurite, the endpoint server, devhost with this app and the compressed demo policies, and the
console server (devstack/console.py) in front. The tests run in order, as a person would see a model's life: a
first model, a ramp waiting for approval (a reader looks, an operator approves), then a faulty challenger rolled
back while the page is open. The stack is the one promote-to-prod's tests find the approved champion on
(tests/dev_prod.py). Screenshots go to .local/screenshots/ (docs/ keeps the ones the README shows)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from devstack import REPO_ROOT
from devstack.demo import ENDPOINT, MODEL, ROWS, upload
from devstack.stack import Stack
from tests.dev_prod import DevProd, wait_for

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

playwright_sync = pytest.importorskip("playwright.sync_api")
if not CHROMIUM.exists():
    pytest.skip(
        "needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)", allow_module_level=True
    )


@pytest.fixture(scope="module")
def stack(dev_prod: DevProd) -> Stack:
    return dev_prod.stack


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


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


def test_signing_in_shows_the_user_and_role_and_the_models_page(browser, stack, dev_prod):
    first = dev_prod.start_first()
    page = signed_in(browser, stack, READER, "reader", "/#/models")
    assert page.text_content("#user") == READER and page.text_content("#role") == "reader"
    page.wait_for_selector(f"section[data-model='{MODEL}']")
    assert page.locator("#retrain").count() == 0  # a reader cannot ask for a retrain
    assert dev_prod.first()["status"] == "promoted"
    page.wait_for_selector(f"a[href='#/lifecycles/{first}']")
    page.context.close()


@pytest.fixture(scope="module")
def waiting_ramp(dev_prod: DevProd) -> str:
    """A drifted upload whose challenger ramps 10 -> 50 and then waits for an operator before 100%."""
    run_id = dev_prod.start_second()
    wait_for("the approval step", lambda: dev_prod.status(run_id).get("approval"), 420)
    return run_id


def test_a_reader_sees_the_running_ramp_but_no_approve_button_and_the_api_refuses_their_approve(
    browser, stack, dev_prod, waiting_ramp
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
    assert dev_prod.status(waiting_ramp).get("approval"), "a refused approve must change nothing"
    page.context.close()


def test_an_operator_approves_from_the_page_and_the_lifecycle_continues_with_the_approver_recorded(
    browser, stack, dev_prod, waiting_ramp
):
    page = signed_in(browser, stack, OPERATOR, "operator", f"/#/lifecycles/{waiting_ramp}")
    page.wait_for_selector("#approve")
    page.click("#approve")  # confirmed in the dialog
    detail = dev_prod.until_status(waiting_ramp, {"promoted", "rolled_back", "failed"}, 300)
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
    events = dev_prod.stack.devhost_url  # the operator_action event is on the devhost topic
    import requests as http

    recorded = http.get(
        f"{events}/runtime/topics/lifecycle/events", params={"code": stack.master_key}, timeout=10
    ).json()
    text = json.dumps(recorded)
    assert "mllifecycle.operator_action" in text and f"aad:{OPERATOR}" in text
    page.context.close()


def test_a_failing_green_is_rolled_back_while_the_page_is_open_and_the_page_shows_the_evidence(
    browser, stack, dev_prod
):
    from adapters.local.endpoints import LocalEndpoints
    from samples.churn.data import generate, to_csv_bytes

    known = set(dev_prod.lifecycle_ids())
    upload(stack, "churn/console/03-reverted.csv", to_csv_bytes(generate(ROWS, seed=21, drift=0.0)))
    run_id = dev_prod.new_lifecycle(known)
    page = signed_in(browser, stack, OPERATOR, "operator", f"/#/lifecycles/{run_id}")
    green = wait_for(
        "the ramp", lambda: (r := dev_prod.rollout(run_id)).get("stage") == "ramp" and r.get("green"), 420
    )
    LocalEndpoints(stack.endpoint_url or "", stack.endpoint_key).set_faults(ENDPOINT, green, error_rate=0.3)
    page.wait_for_selector("#outcome .badge.running")
    detail = dev_prod.until_status(run_id, {"rolled_back", "promoted", "failed"}, 300)
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
