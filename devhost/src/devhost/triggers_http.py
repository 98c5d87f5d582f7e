"""HTTP triggers under /{routePrefix}/{route}: ASP.NET-style route templates, declared methods and Azure's
auth levels, with func.HttpRequest in and func.HttpResponse (or str/dict via $return) out."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from aiohttp import web
from azure.functions.http import HttpRequest as WorkerHttpRequest

from devhost.discovery import FunctionSpec, LoadedApp
from devhost.invoke import InvocationFailed, Invoker
from devhost.keys import HostKeys, request_key

log = logging.getLogger("devhost")

_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?i:true|false)",
    "guid": r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}",
    "decimal": r"-?\d+(?:\.\d+)?",
    "double": r"-?\d+(?:\.\d+)?",
    "float": r"-?\d+(?:\.\d+)?",
}
_PARAM = re.compile(r"\{([^{}]+)\}")


@dataclass
class Route:
    spec: FunctionSpec
    template: str
    pattern: re.Pattern[str]
    methods: frozenset[str] | None
    auth_level: str
    literal_segments: int
    has_catch_all: bool

    def sort_key(self) -> tuple[int, int, int]:
        return (int(self.has_catch_all), -self.literal_segments, -len(self.template))


def _param_regex(body: str) -> tuple[str, str, bool]:
    """`name`, `name:int`, `name?`, `*rest` -> (group name, regex, optional)."""
    catch_all = body.startswith("*")
    body = body.lstrip("*")
    optional = body.endswith("?")
    body = body.rstrip("?")
    body = body.split("=", 1)[0]  # a default value makes the parameter optional too
    name, _, constraint = body.partition(":")
    if catch_all:
        return name, r".*", True
    constraint = constraint.split(":")[0].split("(")[0].lower()
    return name, _CONSTRAINTS.get(constraint, r"[^/]+"), optional


def compile_route(template: str) -> tuple[re.Pattern[str], int, bool]:
    """Compile a route template into a case-insensitive, full-path regex with named groups."""
    template = template.strip("/")
    parts: list[str] = []
    literal_segments = 0
    has_catch_all = False
    for index, segment in enumerate(template.split("/") if template else []):
        prefix = "/" if index else ""
        params = list(_PARAM.finditer(segment))
        if not params:
            literal_segments += 1
            parts.append(prefix + re.escape(segment))
            continue
        regex, cursor, optional_segment = "", 0, False
        for match in params:
            regex += re.escape(segment[cursor : match.start()])
            name, pattern, optional = _param_regex(match.group(1))
            has_catch_all = has_catch_all or match.group(1).startswith("*")
            regex += f"(?P<{name}>{pattern})"
            optional_segment = (
                optional and len(params) == 1 and match.start() == 0 and match.end() == len(segment)
            )
            cursor = match.end()
        regex += re.escape(segment[cursor:])
        parts.append(f"(?:{prefix}{regex})?" if optional_segment else prefix + regex)
    return re.compile("^" + "".join(parts) + "/?$", re.IGNORECASE), literal_segments, has_catch_all


def build_routes(app: LoadedApp) -> list[Route]:
    routes = []
    for spec in app.by_trigger("httpTrigger"):
        template = spec.trigger.get("route") or spec.name
        pattern, literal, catch_all = compile_route(template)
        methods = spec.trigger.get("methods")
        routes.append(
            Route(
                spec=spec,
                template=template.strip("/"),
                pattern=pattern,
                methods=frozenset(m.upper() for m in methods) if methods else None,
                auth_level=str(spec.trigger.get("authLevel") or "function").lower(),
                literal_segments=literal,
                has_catch_all=catch_all,
            )
        )
    return sorted(routes, key=Route.sort_key)


def _to_func_request(request: web.Request, body: bytes, route_params: dict[str, str]) -> WorkerHttpRequest:
    headers: dict[str, str] = {}
    for key, value in request.headers.items():
        headers[key.lower()] = f"{headers[key.lower()]}, {value}" if key.lower() in headers else value
    return WorkerHttpRequest(
        method=request.method,
        url=str(request.url),
        headers=headers,
        params=dict(request.query),
        route_params=route_params,
        body_type="bytes",
        body=body,
    )


def to_web_response(result: Any) -> web.Response:
    """What the worker's $return http output does with each kind of return value."""
    if isinstance(result, web.StreamResponse):
        return result  # type: ignore[return-value]
    if isinstance(result, func.HttpResponse):
        headers = [(k, v) for k, v in result.headers.items() if k.lower() != "content-length"]
        if not any(k.lower() == "content-type" for k, _ in headers):
            mimetype = result.mimetype or "text/plain"
            ct = f"{mimetype}; charset={result.charset}" if mimetype.startswith("text/") else mimetype
            headers.append(("Content-Type", ct))
        body = result.get_body() or b""
        from multidict import CIMultiDict

        return web.Response(status=result.status_code, body=body, headers=CIMultiDict(headers))
    if result is None:
        return web.Response(status=204)
    if isinstance(result, bytes):
        return web.Response(status=200, body=result, content_type="application/octet-stream")
    if isinstance(result, str):
        return web.Response(status=200, text=result, content_type="text/plain")
    return web.Response(status=200, text=json.dumps(result, default=str), content_type="application/json")


class HttpTriggers:
    def __init__(self, app: LoadedApp, keys: HostKeys, invoker: Invoker) -> None:
        self.routes = build_routes(app)
        self.prefix = app.route_prefix
        self.keys = keys
        self.invoker = invoker

    def register(self, web_app: web.Application) -> None:
        path = f"/{self.prefix}/{{tail:.*}}" if self.prefix else "/{tail:.*}"
        web_app.router.add_route("*", path, self.handle)

    def match(self, path: str, method: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            found = route.pattern.match(path)
            if found and (route.methods is None or method in route.methods):
                params = {k: v for k, v in found.groupdict().items() if v is not None}
                return route, params
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info.get("tail", "")
        matched = self.match(tail, request.method.upper())
        if matched is None:
            return web.Response(status=404)
        route, params = matched
        if not self.keys.allows(route.auth_level, request_key(request)):
            return web.Response(status=401)
        body = await request.read()
        try:
            result = await self.invoker.invoke(
                route.spec,
                _to_func_request(request, body, params),
                "This function was programmatically called via the host APIs.",
            )
        except InvocationFailed:
            return web.Response(status=500)
        try:
            return to_web_response(result)
        except Exception as exc:  # e.g. a return value that cannot be serialised
            log.error("Function '%s' returned a value devhost cannot send as HTTP: %s", route.spec.name, exc)
            return web.Response(status=500)

    def describe(self, base_url: str) -> list[str]:
        lines = []
        for route in sorted(self.routes, key=lambda r: r.spec.name.lower()):
            methods = (
                ",".join(sorted(route.methods)) if route.methods else "GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS"
            )
            prefix = f"/{self.prefix}" if self.prefix else ""
            lines.append(
                f"{route.spec.name}: [{methods}] {base_url}{prefix}/{route.template}  (auth: {route.auth_level})"
            )
        return lines
