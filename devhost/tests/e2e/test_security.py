"""What an attacker who reaches devhost's port, or a web page in the user's browser, can do: nothing
without a key, and nothing through a foreign Host or Origin; hostile input is a 4xx, never a 500."""

from __future__ import annotations

import http.client
import os
import stat

import pytest
import requests

from tests.e2e.conftest import Devhost

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _raw(host: Devhost, method: str, path: str, headers: dict[str, bytes | str], body: bytes = b"") -> int:
    """Send header bytes as given (requests refuses non-latin-1 values)."""
    port = int(host.base_url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True)
        headers = {"Host": f"127.0.0.1:{port}", "Content-Length": str(len(body)), **headers}
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        return conn.getresponse().status
    finally:
        conn.close()


def test_the_log_holds_no_key_and_log_and_keys_are_private(patterns_host: Devhost) -> None:
    log = patterns_host.log()
    keys = [
        patterns_host.function_key,
        patterns_host.stored_key("eventgrid_extension"),
        patterns_host.stored_key("durabletask_extension"),
    ]
    assert "system key 'durabletask_extension'" in log
    for key in [*keys, patterns_host.master_key]:
        assert key not in log
    for path in (patterns_host.log_path, patterns_host.state_dir / "keys.json"):
        assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0, path


def test_a_foreign_host_header_is_refused(patterns_host: Devhost) -> None:
    port = patterns_host.base_url.rsplit(":", 1)[1]
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example"):
        r = requests.get(patterns_host.url("/admin/host/status"), headers={"Host": host}, timeout=10)
        assert r.status_code == 421, host
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"app.localhost:{port}", f"[::1]:{port}"):
        r = requests.get(patterns_host.url("/admin/host/status"), headers={"Host": host}, timeout=10)
        assert r.status_code == 200, host


def test_a_cross_site_text_plain_post_changes_nothing(patterns_host: Devhost) -> None:
    key = patterns_host.stored_key("durabletask_extension")
    r = requests.post(
        patterns_host.url("/runtime/webhooks/durabletask/orchestrators/chaining"),
        params={"code": key},
        data="{}",
        headers={"Content-Type": "text/plain", "Origin": "https://evil.example"},
        timeout=10,
    )
    assert r.status_code == 403
    r = requests.post(
        patterns_host.url("/runtime/topics/t"),
        data="[]",
        headers={
            "Content-Type": "text/plain",
            "Sec-Fetch-Site": "cross-site",
            "aeg-sas-key": patterns_host.master_key,
        },
        timeout=10,
    )
    assert r.status_code == 403


def test_the_durable_api_needs_a_key_and_its_401_carries_none(patterns_host: Devhost) -> None:
    r = requests.post(patterns_host.url("/runtime/webhooks/durabletask/orchestrators/chaining"), timeout=10)
    assert r.status_code == 401
    assert patterns_host.stored_key("durabletask_extension") not in r.text
    r = requests.post(patterns_host.url("/durabletask/orchestrators/chaining"), data="1", timeout=10)
    assert r.status_code in (404, 405)


@pytest.mark.parametrize("value", ["\u00e9t\u00e9".encode(), b"\xff\xfe\xfd"], ids=["non-ascii", "non-utf8"])
def test_a_non_ascii_or_non_utf8_key_is_a_401(patterns_host: Devhost, value: bytes) -> None:
    assert (
        _raw(patterns_host, "GET", "/runtime/webhooks/durabletask/instances", {"x-functions-key": value})
        == 401
    )
    assert _raw(patterns_host, "POST", "/runtime/topics/t", {"aeg-sas-key": value}, b"[]") == 401
    assert _raw(patterns_host, "GET", "/admin/functions", {"x-functions-key": value}) == 401


def test_deep_json_nesting_on_the_event_grid_webhook_is_a_400(patterns_host: Devhost) -> None:
    body = "[" * 100_000 + "]" * 100_000
    r = requests.post(
        patterns_host.url("/runtime/webhooks/eventgrid"),
        params={"functionName": "on_event", "code": patterns_host.stored_key("eventgrid_extension")},
        data=body,
        headers={"aeg-event-type": "Notification", "Content-Type": "application/json"},
        timeout=10,
    )
    assert r.status_code == 400, r.text
