"""The operator console, locally: Azure Static Web Apps' part of the picture, in front of devhost.

    python -m devstack.console --port 4280 --devhost http://127.0.0.1:7071 [--static console]

Static Web Apps serves the console's files, signs people in at `/.auth/login/<provider>`, answers
`/.auth/me` and `/.auth/logout`, and forwards `/api/*` to the backend with the user in the
`x-ms-client-principal` header (base64 JSON: identityProvider, userId, userDetails, userRoles). This
server does the same offline: the sign-in page lets you pick a user name and a role (`reader` or
`operator`), and the proxy forwards the people's door of the operator API, `/api/console/*`
(anonymous at the host, a principal required by the app, as on Azure), with the principal and the
shared secret that makes the app trust it (core/kernel/authz.py). It holds no function key: the keyed
`/api/*` routes are automation's and are not forwarded. Whatever a client sends in the identity
headers itself is dropped, as Static Web Apps and App Service Authentication do.

Environment: DEVHOST_URL, CONSOLE_PRINCIPAL_SECRET.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import html
import json
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from aiohttp import web

from core.kernel.authz import EMULATOR_SECRET_HEADER, PRINCIPAL_HEADER, ROLES, Principal, encode_principal
from devstack import REPO_ROOT

COOKIE = "StaticWebAppsAuthCookie"
SESSION_SECONDS = 8 * 3600
PROVIDERS = ("aad",)  # the provider staticwebapp.config.json configures on Azure
# browser libraries from npm (package.json, pinned), served from node_modules: no CDN at run time
VENDOR = {
    "chart.umd.js": REPO_ROOT / "node_modules" / "chart.js" / "dist" / "chart.umd.js",
    "msal-browser.min.js": REPO_ROOT
    / "node_modules"
    / "@azure"
    / "msal-browser"
    / "lib"
    / "msal-browser.min.js",
    "msal-redirect-bridge.min.js": REPO_ROOT
    / "node_modules"
    / "@azure"
    / "msal-browser"
    / "lib"
    / "redirect-bridge"
    / "msal-redirect-bridge.min.js",
}
PEOPLES_API = "/api/console/"
# Hop-by-hop headers, and the identity headers only the proxy may set.
DROP_REQUEST = {
    "host",
    "cookie",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
}
DROP_RESPONSE = {"content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding"}
HTTP = web.AppKey("http", aiohttp.ClientSession)
IDENTITY_PREFIXES = ("x-ms-client-", "x-functions-key", EMULATOR_SECRET_HEADER)
# The names this server answers to (it listens on loopback only): anything else in `Host` is a DNS
# rebinding, a foreign name resolving to 127.0.0.1 so that a web site reads the console's API.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Sec-Fetch-Site values of a request the console's own pages made (or the person typed); `same-site`
# is any port of the same host, which is another origin (a page uploaded to Azurite, say).
OWN_FETCH_SITES = frozenset({"same-origin", "none"})

LOGIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in (local)</title>
<link rel="stylesheet" href="/console.css"></head><body class="login">
<main><h1>Sign in</h1>
<p>Local emulation of Static Web Apps' <code>/.auth/login/{provider}</code>. On Azure this is Microsoft Entra ID.</p>
<form method="post" action="/.auth/login/{provider}">
<input type="hidden" name="post_login_redirect_uri" value="{redirect}">
<label>User name <input name="user" id="user" required maxlength="100" value="operator@contoso.com"></label>
<fieldset><legend>Role</legend>
<label><input type="radio" name="role" value="reader" id="role-reader"> reader (sees everything, changes nothing)</label>
<label><input type="radio" name="role" value="operator" id="role-operator" checked> operator (approves, rolls back, retrains)</label>
</fieldset>
<button type="submit" id="sign-in">Sign in</button></form></main></body></html>"""


class Session:
    """A signed cookie holding the principal (no server state: restarts keep people signed in)."""

    def __init__(self, secret: str) -> None:
        self.key = hashlib.sha256(f"console-cookie:{secret}".encode()).digest()

    def dump(self, principal: Principal) -> str:
        body = base64.urlsafe_b64encode(
            json.dumps({"p": encode_principal(principal), "exp": int(time.time()) + SESSION_SECONDS}).encode()
        ).decode()
        return f"{body}.{self._sign(body)}"

    def load(self, cookie: str | None) -> Principal | None:
        if not cookie or "." not in cookie:
            return None
        body, signature = cookie.rsplit(".", 1)
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        doc = json.loads(base64.urlsafe_b64decode(body))
        if doc.get("exp", 0) < time.time():
            return None
        raw = json.loads(base64.b64decode(doc["p"]))
        return Principal(
            raw["identityProvider"], raw["userId"], raw["userDetails"], frozenset(raw["userRoles"])
        )

    def _sign(self, body: str) -> str:
        return hmac.new(self.key, body.encode(), hashlib.sha256).hexdigest()


def client_principal(p: Principal) -> dict[str, Any]:
    """`/.auth/me`'s clientPrincipal: Static Web Apps adds the built-in roles to the custom ones."""
    return {
        "identityProvider": p.identity_provider,
        "userId": p.user_id,
        "userDetails": p.user_details,
        "userRoles": ["anonymous", "authenticated", *sorted(p.roles)],
    }


def _local_redirect(target: str | None) -> str:
    """Only same-site paths: an open redirect after sign-in is a phishing aid."""
    parts = urlsplit(target or "/")
    if parts.scheme or parts.netloc or not (parts.path or "/").startswith("/"):
        return "/"
    return target or "/"


def _host_name(host: str) -> str:
    """`Host` without its port: `[::1]:4280` is `::1`, `Localhost.:4280` is `localhost`."""
    name = host.strip().lower()
    if name.startswith("["):
        name = name[1 : name.find("]")] if "]" in name else name
    elif name.count(":") == 1:
        name = name.rsplit(":", 1)[0]
    return name.rstrip(".")


def refusal(method: str, headers: Any) -> tuple[int, str] | None:
    """Why the console server refuses a request (status, reason), or None when it serves it.

    Only its own origin may change state: the session cookie is SameSite=Lax, and browsers send it
    with requests from every port of the same host (same-site), so a page on another loopback port
    could otherwise post a `text/plain` retrain or approve as the signed-in operator. A client that
    is not a browser sends neither Origin nor Sec-Fetch-Site and is judged by its cookie alone."""
    host = headers.get("Host", "")
    name = _host_name(host)
    if name not in LOOPBACK_HOSTS and not name.endswith(".localhost"):
        return 421, "Host header not allowed: the console server answers loopback names only"
    if method.upper() in SAFE_METHODS:
        return None
    origin = headers.get("Origin")
    if origin is not None and origin.lower() != f"http://{host.strip().lower()}":
        return 403, f"cross-origin request refused: only http://{host} may change state"
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site.lower() not in OWN_FETCH_SITES:
        return 403, f"cross-origin request refused (Sec-Fetch-Site: {site})"
    return None


@web.middleware
async def own_origin_only(request: web.Request, handler: Any) -> web.StreamResponse:
    refused = refusal(request.method, request.headers)
    if refused is not None:
        return web.json_response({"error": refused[1]}, status=refused[0])
    return await handler(request)


def build_app(static_dir: Path, devhost_url: str, secret: str) -> web.Application:
    session = Session(secret)
    app = web.Application(client_max_size=1024 * 1024, middlewares=[own_origin_only])

    def principal_of(request: web.Request) -> Principal | None:
        try:
            return session.load(request.cookies.get(COOKIE))
        except (ValueError, KeyError, TypeError):
            return None

    async def login_page(request: web.Request) -> web.Response:
        provider = request.match_info.get("provider", "aad")
        if provider not in PROVIDERS:
            return web.Response(status=404, text=f"unknown identity provider {provider!r}")
        redirect = _local_redirect(request.query.get("post_login_redirect_uri"))
        page = LOGIN_PAGE.format(provider=provider, redirect=html.escape(redirect, quote=True))
        return web.Response(text=page, content_type="text/html")

    async def login(request: web.Request) -> web.Response:
        provider = request.match_info["provider"]
        form = await request.post()
        user, role = str(form.get("user", "")).strip()[:100], str(form.get("role", ""))
        if provider not in PROVIDERS or not user or role not in ROLES:
            return web.Response(status=400, text=f"pick a user name and a role ({' or '.join(ROLES)})")
        principal = Principal(
            provider, hashlib.sha256(user.encode()).hexdigest()[:32], user, frozenset({role})
        )
        response = web.HTTPFound(_local_redirect(str(form.get("post_login_redirect_uri") or "/")))
        response.set_cookie(
            COOKIE, session.dump(principal), httponly=True, samesite="Lax", max_age=SESSION_SECONDS
        )
        return response

    async def me(request: web.Request) -> web.Response:
        p = principal_of(request)
        return web.json_response({"clientPrincipal": client_principal(p) if p else None})

    async def logout(request: web.Request) -> web.Response:
        response = web.HTTPFound(_local_redirect(request.query.get("post_logout_redirect_uri")))
        response.del_cookie(COOKIE)
        return response

    async def api(request: web.Request) -> web.StreamResponse:
        if not request.path.startswith(PEOPLES_API):
            return web.json_response(
                {
                    "error": f"the console forwards {PEOPLES_API}* only; automation calls devhost's /api/* with a key"
                },
                status=404,
            )
        p = principal_of(request)
        if p is None:  # staticwebapp.config.json: /api/* is for authenticated users
            return web.json_response({"error": "sign in first: /.auth/login/aad"}, status=401)
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in DROP_REQUEST and not k.lower().startswith(IDENTITY_PREFIXES)
        }
        headers.update(
            {
                PRINCIPAL_HEADER: encode_principal(p),
                "x-ms-client-principal-name": p.user_details,
                "x-ms-client-principal-id": p.user_id,
                "x-ms-client-principal-idp": p.identity_provider,
                EMULATOR_SECRET_HEADER: secret,
                "x-forwarded-host": request.host,
            }
        )
        url = f"{devhost_url}{request.path_qs}"
        session_http = app[HTTP]
        async with session_http.request(
            request.method, url, headers=headers, data=await request.read(), allow_redirects=False
        ) as upstream:
            body = await upstream.read()
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in DROP_RESPONSE}
            return web.Response(status=upstream.status, body=body, headers=out)

    async def index(_: web.Request) -> web.FileResponse:
        return web.FileResponse(static_dir / "index.html", headers={"Cache-Control": "no-cache"})

    async def vendor(request: web.Request) -> web.StreamResponse:
        path = VENDOR.get(request.match_info["name"])
        if path is None:
            return web.Response(status=404, text="not a vendored library")
        if not path.is_file():
            return web.Response(status=404, text=f"{path.name} is missing: run `make setup` (npm ci)")
        return web.FileResponse(path)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"state": "Running", "devhost": devhost_url})

    async def on_startup(app: web.Application) -> None:
        app[HTTP] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))

    async def on_cleanup(app: web.Application) -> None:
        await app[HTTP].close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app.router.add_get("/.auth/login", login_page)
    app.router.add_get("/.auth/login/{provider}", login_page)
    app.router.add_post("/.auth/login/{provider}", login)
    app.router.add_get("/.auth/me", me)
    app.router.add_get("/.auth/logout", logout)
    app.router.add_get("/.console/health", health)
    app.router.add_get("/vendor/{name}", vendor)
    app.router.add_route("*", "/api/{tail:.*}", api)
    app.router.add_get("/", index)
    app.router.add_static("/", static_dir, show_index=False)
    return app


def console_url(port: int, path: str = "/") -> str:
    return f"http://127.0.0.1:{port}{quote(path)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.console", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=4280)
    parser.add_argument("--devhost", default=os.environ.get("DEVHOST_URL", "http://127.0.0.1:7071"))
    parser.add_argument("--static", default=str(REPO_ROOT / "console"))
    args = parser.parse_args(argv)
    secret = os.environ.get("CONSOLE_PRINCIPAL_SECRET")
    if not secret:
        print("set CONSOLE_PRINCIPAL_SECRET (devstack.stack does)", file=sys.stderr)
        return 2
    app = build_app(Path(args.static).resolve(), args.devhost.rstrip("/"), secret)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
