"""devstack/console.py, the local Static Web Apps emulation: sign-in, /.auth/me, and the proxy of the
people's door (/api/console/*) that adds the principal and the secret, drops whatever a client sent in
their place, holds no function key and forwards nothing else; the browser libraries from node_modules."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from core.kernel import authz
from devstack.console import build_app

SECRET = "console-secret"


async def _scenario(static: Path, steps) -> Any:
    seen: list[dict[str, str]] = []

    async def upstream(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"path": request.path_qs}, status=202 if request.method == "POST" else 200)

    backend = web.Application()
    backend.router.add_route("*", "/api/{tail:.*}", upstream)
    async with TestServer(backend) as devhost:
        app = build_app(static, str(devhost.make_url("")).rstrip("/"), SECRET)
        async with TestClient(TestServer(app)) as client:
            return await steps(client, seen)


def run(tmp_path: Path, steps) -> Any:
    (tmp_path / "index.html").write_text("<!doctype html><title>console</title>")
    return asyncio.run(_scenario(tmp_path, steps))


async def sign_in(client: TestClient, user: str, role: str, redirect: str = "/#/approvals") -> Any:
    return await client.post(
        "/.auth/login/aad",
        data={"user": user, "role": role, "post_login_redirect_uri": redirect},
        allow_redirects=False,
    )


def test_signing_in_sets_the_session_and_me_returns_the_principal_with_its_roles(tmp_path):
    async def steps(client, _):
        assert (await (await client.get("/.auth/me")).json()) == {"clientPrincipal": None}
        answer = await sign_in(client, "otto@contoso.com", "operator")
        assert answer.status == 302 and answer.headers["Location"] == "/#/approvals"
        me = (await (await client.get("/.auth/me")).json())["clientPrincipal"]
        await client.get("/.auth/logout", allow_redirects=False)
        after = await (await client.get("/.auth/me")).json()
        return me, after

    me, after = run(tmp_path, steps)
    assert me["userDetails"] == "otto@contoso.com" and me["identityProvider"] == "aad"
    assert me["userRoles"] == ["anonymous", "authenticated", "operator"]
    assert after == {"clientPrincipal": None}


def test_the_api_proxy_adds_principal_and_secret_no_key_and_drops_client_sent_ones(tmp_path):
    forged = authz.encode_principal(authz.Principal("aad", "x", "mallory", frozenset({"operator"})))

    async def steps(client, seen):
        assert (await client.get("/api/console/models")).status == 401  # not signed in: never reaches devhost
        await sign_in(client, "rita@contoso.com", "reader")
        answer = await client.post(
            "/api/console/lifecycles/r1/approve?x=1",
            json={},
            headers={
                authz.PRINCIPAL_HEADER: forged,
                authz.EMULATOR_SECRET_HEADER: "guess",
                "x-functions-key": "k",
            },
        )
        return answer.status, await answer.json(), seen

    status, body, seen = run(tmp_path, steps)
    assert status == 202 and body == {"path": "/api/console/lifecycles/r1/approve?x=1"}
    [headers] = seen
    principal = json.loads(base64.b64decode(headers[authz.PRINCIPAL_HEADER]))
    assert principal["userDetails"] == "rita@contoso.com" and principal["userRoles"] == ["reader"]
    assert headers[authz.EMULATOR_SECRET_HEADER] == SECRET
    assert "x-functions-key" not in {k.lower() for k in headers}  # the console door needs no key
    who = authz.caller(headers, mode="local", emulator_secret=SECRET)
    assert who.actor == "aad:rita@contoso.com" and not who.may("approve")


def test_the_keyed_api_is_not_forwarded_even_for_a_signed_in_operator(tmp_path):
    async def steps(client, seen):
        await sign_in(client, "otto@contoso.com", "operator")
        answer = await client.post("/api/lifecycles/r1/approve", json={})
        return answer.status, await answer.json(), seen

    status, body, seen = run(tmp_path, steps)
    assert status == 404 and "/api/console/" in body["error"] and seen == []


def test_chart_js_and_msal_are_served_from_node_modules(tmp_path):
    async def steps(client, _):
        answers = {}
        for name in ("chart.umd.js", "msal-browser.min.js", "msal-redirect-bridge.min.js", "other.js"):
            r = await client.get(f"/vendor/{name}")
            answers[name] = (r.status, (await r.read())[:200])
        return answers

    answers = run(tmp_path, steps)
    assert answers["chart.umd.js"][0] == 200
    assert (
        answers["msal-browser.min.js"][0] == 200
        and b"@azure/msal-browser" in answers["msal-browser.min.js"][1]
    )
    assert answers["msal-redirect-bridge.min.js"][0] == 200
    assert answers["other.js"][0] == 404


def test_a_tampered_session_cookie_is_no_session_and_redirects_stay_on_the_site(tmp_path):
    async def steps(client, _):
        answer = await sign_in(client, "otto", "operator", redirect="https://evil.example/")
        cookie = answer.cookies["StaticWebAppsAuthCookie"].value
        body, signature = cookie.rsplit(".", 1)
        client.session.cookie_jar.clear()
        client.session.cookie_jar.update_cookies({"StaticWebAppsAuthCookie": f"{body}x.{signature}"})
        me = await (await client.get("/.auth/me")).json()
        bad_role = await sign_in(client, "otto", "admin")
        return answer.headers["Location"], me, bad_role.status

    location, me, bad_role = run(tmp_path, steps)
    assert location == "/" and me == {"clientPrincipal": None} and bad_role == 400
