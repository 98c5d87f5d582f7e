"""Issue 20, tried from outside as an attacker would: devhost running this app (dry-run lifecycles, a
trained model `churn` and a deploy-only `churn-prod`) with the console server in front, over HTTP,
and a real browser (Debian's chromium via Playwright) where the session cookie matters."""

from __future__ import annotations

import contextlib
import functools
import http.client
import http.server
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from bench.events import EdgeHost, edge_devhost
from devhost import procs
from devstack import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

CHROMIUM = Path("/usr/bin/chromium")
SECRET = secrets.token_urlsafe(24)
RUN_ID = "churn-20261204120000-abcdef"  # a well-formed lifecycle id: what a forged approve names


@dataclass
class Stack:
    host: EdgeHost
    console_url: str
    console_port: int

    def operator(self) -> requests.Session:
        """A session signed in to the console as an operator (the form post the sign-in page makes)."""
        session = requests.Session()
        answer = session.post(
            f"{self.console_url}/.auth/login/aad",
            data={"user": "otto@contoso.com", "role": "operator"},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 302
        return session

    def operator_requests(self, model: str) -> list:
        return [r for r in self.host.ledger().pending_requests(model) if r.source == "operator"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("hardening2")
    env = {"CONSOLE_PRINCIPAL_SECRET": SECRET}
    # a long debounce: requests stay pending in the ledger, where the tests look for them
    with edge_devhost(
        work, ["churn"], debounce_seconds=600, deploy_only=("churn-prod",), extra_env=env
    ) as host:
        port = procs.free_port()
        argv = procs.python_argv("-m", "devstack.console", "--port", str(port), "--devhost", host.base_url)
        console = procs.start(
            "console", argv, port, log_path=work / "console.log", env=env, cwd=REPO_ROOT, timeout=60
        )
        try:
            yield Stack(host, f"http://127.0.0.1:{port}", port)
        finally:
            console.stop()


@contextlib.contextmanager
def attacker_site(root: Path, page: str) -> Iterator[str]:
    """A page served from another loopback port (as anyone can upload HTML to the local blob store)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "index.html").write_text(page, encoding="utf-8")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def raw_get(port: int, path: str, headers: list[tuple[str, bytes]], method: str = "GET") -> int:
    """A request whose header values are raw bytes (not valid UTF-8), as a hostile client sends them."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest(method, path)
        if method == "POST":
            conn.putheader("Content-Length", "0")
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


# --------------------------------------------------------------------------- 1. cross-port forgery


def test_a_page_on_another_loopback_port_cannot_make_the_signed_in_operator_retrain(stack, tmp_path):
    playwright_sync = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium")
    # a text/plain form needs no CORS preflight; its body reads as JSON: {"reason":"=forged"}
    page_html = (
        "<!doctype html><form id=f method=post enctype=text/plain "
        f"action='{stack.console_url}/api/console/models/churn/retrain'>"
        "<input name='{\"reason\":\"' value='forged\"}'></form><script>f.submit()</script>"
    )
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True)
        try:
            page = browser.new_context().new_page()
            page.goto(f"{stack.console_url}/.auth/login/aad")
            page.fill("#user", "otto@contoso.com")
            page.check("#role-operator")
            page.click("#sign-in")
            page.wait_for_load_state()
            with attacker_site(tmp_path / "site", page_html) as url:
                with page.expect_response(lambda r: "/retrain" in r.url) as answer:
                    page.goto(url)
                status, text = answer.value.status, answer.value.text()
        finally:
            browser.close()
    assert status == 403, text
    assert "cross-origin request refused" in text
    assert stack.operator_requests("churn") == []


def test_a_state_change_from_another_port_is_refused_and_the_consoles_own_origin_is_served(stack):
    session = stack.operator()
    other = f"http://127.0.0.1:{procs.free_port()}"
    for path in ("models/churn/retrain", f"lifecycles/{RUN_ID}/approve"):
        forged = session.post(
            f"{stack.console_url}/api/console/{path}",
            data='{"reason": "forged"}',
            headers={"Content-Type": "text/plain", "Origin": other, "Sec-Fetch-Site": "same-site"},
            timeout=10,
        )
        assert forged.status_code == 403, (path, forged.status_code, forged.text)
    assert stack.operator_requests("churn") == []
    own = session.post(
        f"{stack.console_url}/api/console/models/churn/retrain",
        json={"reason": "from the console"},
        headers={"Origin": stack.console_url, "Sec-Fetch-Site": "same-origin"},
        timeout=30,
    )
    assert own.status_code == 202, own.text
    [recorded] = stack.operator_requests("churn")
    assert recorded.details["actor"] == "aad:otto@contoso.com"


# --------------------------------------------------------------------------- 2. DNS rebinding


def test_the_console_server_answers_a_foreign_host_with_421_and_reveals_nothing(stack):
    session = stack.operator()
    rebound = {"Host": f"evil.example:{stack.console_port}"}
    login = requests.post(
        f"{stack.console_url}/.auth/login/aad",
        data={"user": "mallory", "role": "operator"},
        headers=rebound,
        allow_redirects=False,
        timeout=10,
    )
    assert login.status_code == 421 and "Set-Cookie" not in login.headers
    for path in ("/api/console/models", "/api/console/lifecycles", "/api/console/models/churn", "/.auth/me"):
        answer = session.get(f"{stack.console_url}{path}", headers=rebound, timeout=10)
        assert answer.status_code == 421, (path, answer.status_code)
        assert "churn" not in answer.text
    assert session.get(f"{stack.console_url}/api/console/models", timeout=10).status_code == 200


# --------------------------------------------------------------------------- 3. malformed headers


def test_a_header_that_is_not_utf8_is_a_401_on_both_doors_not_a_500(stack):
    host_port = int(stack.host.base_url.rsplit(":", 1)[1])
    bad = ("x-console-principal-secret", b"\xff\xfe")
    assert raw_get(host_port, "/api/console/models", [bad]) == 401
    assert raw_get(host_port, "/api/models", [("x-functions-key", stack.host.key.encode()), bad]) == 401
    key = ("x-functions-key", stack.host.key.encode())
    for name in ("x-ms-client-principal", "Idempotency-Key", "Authorization"):
        for method, path in (("GET", "/api/models"), ("POST", "/api/models/churn/retrain")):
            status = raw_get(host_port, path, [key, (name, b"\xff\xfe")], method)
            assert status < 500, (name, method, path, status)
    cookie = stack.operator().cookies.get("StaticWebAppsAuthCookie")
    through_console = [("Cookie", f"StaticWebAppsAuthCookie={cookie}".encode()), bad]
    assert raw_get(stack.console_port, "/api/console/models", through_console) == 200  # the proxy drops it


# --------------------------------------------------------------------------- 7. deploy-only models


def test_a_deploy_only_model_refuses_a_retrain_on_both_doors_and_says_why(stack):
    keyed = requests.post(
        f"{stack.host.base_url}/api/models/churn-prod/retrain",
        json={"reason": "try"},
        headers={"x-functions-key": stack.host.key},
        timeout=30,
    )
    assert keyed.status_code == 409 and "deploy-only" in keyed.json()["error"]
    console = stack.operator().post(
        f"{stack.console_url}/api/console/models/churn-prod/retrain", json={"reason": "try"}, timeout=30
    )
    assert console.status_code == 409 and "deploy-only" in console.json()["error"]
    assert stack.host.ledger().pending_requests("churn-prod") == []


def test_a_deploy_only_models_batch_view_is_a_clear_404_not_a_500(stack):
    answer = requests.get(
        f"{stack.host.base_url}/api/models/churn-prod/batch",
        headers={"x-functions-key": stack.host.key},
        timeout=30,
    )
    assert answer.status_code == 404, answer.text
    assert "churn-prod has no batch section" in answer.json()["error"]


# --------------------------------------------------------------------------- 6. crafted promotion events


def promoted_event(version: object, event_id: str) -> dict:
    return {
        "specversion": "1.0",
        "id": event_id,
        "type": "mllifecycle.promoted",
        "source": "/mllifecycle/envs/dev/models/churn-prod",
        "time": "2026-12-04T12:00:00Z",
        "datacontenttype": "application/json",
        "data": {"registry": "shared", "registry_model": "churn-prod", "registry_version": version},
    }


@pytest.mark.parametrize("version", ["1/../../../churn-prod/versions/1", "..", "3?x=1", "a" * 65])
def test_a_promotion_event_with_a_crafted_version_starts_nothing_and_is_recorded_with_its_reason(
    stack, version
):
    event_id = f"evt-crafted-{secrets.token_hex(4)}"
    delivered = requests.post(
        f"{stack.host.base_url}/runtime/webhooks/eventgrid?functionName=on_model_promoted&code={stack.host.key}",
        json=[promoted_event(version, event_id)],
        headers={"aeg-event-type": "Notification", "content-type": "application/cloudevents-batch+json"},
        timeout=30,
    )
    assert delivered.status_code in (200, 202), delivered.text  # refused for good: no redelivery
    [refused] = [
        e for e in stack.host.ledger().entries("unrouted", "event") if e.data.get("event_id") == event_id
    ]
    assert refused.data["ignored"] == "promoted event not accepted"
    assert "is not a registry version" in refused.data["error"]
    listed = requests.get(
        f"{stack.host.base_url}/api/lifecycles?model=churn-prod",
        headers={"x-functions-key": stack.host.key},
        timeout=30,
    )
    assert listed.status_code == 200 and listed.json()["lifecycles"] == []


# --------------------------------------------------------------------------- 8. a promotion across a crash


def test_a_promotion_published_just_before_a_crash_still_starts_prods_deploy_after_the_restart(tmp_path):
    """dev publishes `promoted` on the lifecycle topic and the host dies at once (SIGKILL): the
    subscription's delivery to prod's `on_model_promoted` was stored with the event, so the restarted
    host delivers it and prod's deploy starts (once: the deploy id comes from the event)."""
    env = {
        "CONSOLE_PRINCIPAL_SECRET": SECRET,
        "DEVHOST_TOPIC_SUBSCRIPTIONS": "lifecycle:on_model_promoted:mllifecycle.promoted",
    }
    work = tmp_path / "crash"
    event = promoted_event("3", "evt-promoted-before-crash")
    with edge_devhost(
        work, ["churn"], debounce_seconds=600, deploy_only=("churn-prod",), extra_env=env
    ) as host:
        published = requests.post(
            f"{host.base_url}/runtime/topics/lifecycle?api-version=2018-01-01",
            json=event,
            headers={"aeg-sas-key": host.key, "content-type": "application/cloudevents+json; charset=utf-8"},
            timeout=30,
        )
        host.proc.kill()  # a crash right after the topic accepted the event
        assert published.status_code == 200, published.text
    with edge_devhost(
        work, ["churn"], debounce_seconds=600, deploy_only=("churn-prod",), extra_env=env
    ) as host:
        deadline = time.monotonic() + 60
        deploys: list[dict] = []
        while not deploys and time.monotonic() < deadline:
            instances = requests.get(
                f"{host.base_url}/runtime/webhooks/durabletask/instances",
                params={"code": host.durable_key, "top": 1000},
                timeout=30,
            ).json()
            deploys = [i for i in instances if i.get("name") == "deploy"]
            time.sleep(0.5)
        assert [d["instanceId"].startswith("churn-prod-20261204120000-") for d in deploys] == [True]
