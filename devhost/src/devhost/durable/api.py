"""HTTP API of the engine: the rpc endpoints `DurableOrchestrationClient` calls (under the binding's
`rpcBaseUrl`, `/durabletask/`) and the public management API (`/runtime/webhooks/durabletask/`,
the URLs of `create_check_status_response`).

Both need a key, as Azure's webhooks need the Durable system key: the public API takes it as
`?code=` or `x-functions-key`; the SDK client cannot add a key to its rpc calls, so the rpc API is
served under an unguessable path segment that only the in-process client binding knows (on Azure it
is a port only the worker can reach). A caller without the key gets 401 and never a URL with a key.

The two differ in one wire detail: the SDK client posts inputs and event payloads with
`json=df_dumps(value)`, i.e. JSON-encoded twice, while a human or curl posts the JSON itself.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from aiohttp import web

from devhost.durable.binding import PUBLIC_PREFIX, RPC_PREFIX, management_urls
from devhost.durable.instances import InstanceExistsError, OrchestratorNotFoundError

CONTINUATION_HEADER = "x-ms-continuation-token"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Engine(Protocol):
    """What the HTTP API needs of the engine (engine.py implements it; this module never imports it)."""

    base_url: str
    task_hub: str
    system_key: str | None
    rpc_token: str

    def start_new_json(self, name: str, instance_id: str | None, input_json: str | None) -> str: ...
    async def wait_for(self, instance_id: str, timeout: float) -> dict[str, Any]: ...
    async def get_status(
        self,
        instance_id: str,
        *,
        show_history: bool = ...,
        show_history_output: bool = ...,
        show_input: bool = ...,
    ) -> dict[str, Any] | None: ...
    async def list_instances(self, **filters: Any) -> tuple[list[dict[str, Any]], str | None]: ...
    async def purge(self, instance_id: str) -> int: ...
    async def purge_by(
        self, *, created_from: Any = ..., created_to: Any = ..., statuses: Sequence[str] | None = ...
    ) -> int: ...
    def raise_event_json(self, instance_id: str, event_name: str, data_json: str | None) -> str: ...
    def stored_input(self, instance_id: str) -> str | None: ...


def register_routes(engine: Engine, app: web.Application) -> None:
    rpc_prefix = f"{RPC_PREFIX}/{engine.rpc_token}"
    for prefix, rpc in ((rpc_prefix, True), (PUBLIC_PREFIX, False)):
        api = _Api(engine, prefix, rpc)
        r = app.router
        r.add_post(f"{prefix}/orchestrators/{{name}}", api.guard(api.start))
        r.add_post(f"{prefix}/orchestrators/{{name}}/{{instance_id}}", api.guard(api.start))
        for path in (f"{prefix}/instances", f"{prefix}/instances/"):
            r.add_get(path, api.guard(api.list))
            r.add_delete(path, api.guard(api.purge_by))
        r.add_get(f"{prefix}/instances/{{instance_id}}", api.guard(api.status))
        r.add_delete(f"{prefix}/instances/{{instance_id}}", api.guard(api.purge))
        r.add_post(f"{prefix}/instances/{{instance_id}}/raiseEvent/{{event}}", api.guard(api.raise_event))
        for op in ("terminate", "suspend", "resume", "rewind"):
            r.add_post(f"{prefix}/instances/{{instance_id}}/{op}", api.guard(functools_op(api, op)))
        r.add_post(f"{prefix}/instances/{{instance_id}}/restart", api.guard(api.restart))


def functools_op(api: _Api, op: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await api.control(request, op)

    return handler


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", headers=headers
    )


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.lower() in ("true", "1", "yes")


def _same(given: str, expected: str) -> bool:
    """Constant-time compare of UTF-8 bytes (a non-ASCII key is a 401, not a 500)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


class _Api:
    def __init__(self, engine: Engine, prefix: str, rpc: bool) -> None:
        self.engine = engine
        self.prefix = prefix
        self.rpc = rpc

    def guard(self, handler: Handler) -> Handler:
        """The public API needs the system key (the rpc API's path holds its own secret)."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            if not self.rpc:
                key = self.engine.system_key
                given = request.query.get("code") or request.headers.get("x-functions-key") or ""
                if not key or not _same(given, key):
                    return _json(
                        {"error": "Unauthorized: pass the Durable system key as ?code= or x-functions-key"},
                        401,
                    )
            try:
                return await handler(request)
            except ValueError as exc:
                return _json({"ExceptionMessage": str(exc), "Message": str(exc)}, 400)

        return guarded

    async def _payload(self, request: web.Request) -> str | None:
        """The JSON text of an input / event payload (None when the body is empty)."""
        text = (await request.text()).strip()
        if not text:
            return None
        try:
            value = json.loads(text)
        except ValueError:
            return json.dumps(text)
        if self.rpc and isinstance(value, str):
            try:
                json.loads(value)
                return value
            except ValueError:
                return json.dumps(value)
        return text

    def _management(self, instance_id: str) -> dict[str, str]:
        """The instance's URLs for a caller who has shown the system key (or the rpc secret)."""
        e = self.engine
        return management_urls(e.base_url, e.task_hub, instance_id, e.system_key)

    async def start(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        instance_id = request.match_info.get("instance_id") or None
        input_json = await self._payload(request)
        try:
            instance_id = self.engine.start_new_json(name, instance_id, input_json)
        except OrchestratorNotFoundError as exc:
            return _json({"Message": str(exc), "ExceptionMessage": str(exc)}, 400)
        except InstanceExistsError as exc:
            return _json({"Message": str(exc), "ExceptionMessage": str(exc)}, 409)
        timeout = request.query.get("timeout")
        if timeout:
            try:
                status = await self.engine.wait_for(instance_id, float(timeout))
                return _json(status.get("output"), 200)
            except TimeoutError:
                pass
        payload = self._management(instance_id)
        return _json(payload, 202, {"Location": payload["statusQueryGetUri"], "Retry-After": "10"})

    async def status(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        status = await self.engine.get_status(
            request.match_info["instance_id"],
            show_history=_bool(q.get("showHistory")),
            show_history_output=_bool(q.get("showHistoryOutput")),
            show_input=_bool(q.get("showInput"), True),
        )
        if status is None:
            return web.Response(status=404)
        state = status["runtimeStatus"]
        if state in ("Pending", "Running", "Suspended", "ContinuedAsNew"):
            payload = self._management(status["instanceId"])
            return _json(status, 202, {"Location": payload["statusQueryGetUri"], "Retry-After": "10"})
        if state == "Failed" and _bool(q.get("returnInternalServerErrorOnFailure")):
            return _json(status, 500)
        return _json(status, 200)

    async def list(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        statuses = [s for s in q.get("runtimeStatus", "").split(",") if s]
        top = int(q["top"]) if q.get("top") else None
        items, token = await self.engine.list_instances(
            statuses=statuses or None,
            created_from=q.get("createdTimeFrom") or None,
            created_to=q.get("createdTimeTo") or None,
            prefix=q.get("instanceIdPrefix") or None,
            top=top,
            continuation=request.headers.get(CONTINUATION_HEADER) or q.get("continuationToken") or None,
            show_input=_bool(q.get("showInput")),
        )
        headers = {CONTINUATION_HEADER: token} if token else None
        return _json(items, 200, headers)

    async def purge(self, request: web.Request) -> web.StreamResponse:
        deleted = await self.engine.purge(request.match_info["instance_id"])
        if not deleted:
            return web.Response(status=404)
        return _json({"instancesDeleted": deleted})

    async def purge_by(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        statuses = [s for s in q.get("runtimeStatus", "").split(",") if s]
        deleted = await self.engine.purge_by(
            created_from=q.get("createdTimeFrom") or None,
            created_to=q.get("createdTimeTo") or None,
            statuses=statuses or None,
        )
        if not deleted:
            return web.Response(status=404)
        return _json({"instancesDeleted": deleted})

    async def raise_event(self, request: web.Request) -> web.StreamResponse:
        data = await self._payload(request)
        outcome = self.engine.raise_event_json(
            request.match_info["instance_id"], request.match_info["event"], data
        )
        return _outcome(outcome, request.match_info["instance_id"])

    async def control(self, request: web.Request, op: str) -> web.StreamResponse:
        instance_id = request.match_info["instance_id"]
        reason = request.query.get("reason", "")
        method = getattr(self.engine, op)
        outcome = await method(instance_id, reason)
        return _outcome(outcome, instance_id)

    async def restart(self, request: web.Request) -> web.StreamResponse:
        instance_id = request.match_info["instance_id"]
        status = await self.engine.get_status(instance_id)
        if status is None:
            return web.Response(status=404)
        new_id = None if _bool(request.query.get("restartWithNewInstanceId"), True) else instance_id
        try:
            started = self.engine.start_new_json(
                status["name"], new_id, self.engine.stored_input(instance_id)
            )
        except InstanceExistsError as exc:
            return _json({"Message": str(exc)}, 409)
        await asyncio.sleep(0)
        return _json(started, 202)


def _outcome(outcome: str, instance_id: str) -> web.Response:
    if outcome == "accepted":
        return web.Response(status=202)
    if outcome == "gone":
        return _json(
            {"Message": f"Instance '{instance_id}' has already finished (or cannot take this operation)."},
            410,
        )
    return _json({"Message": f"No instance with ID '{instance_id}' found."}, 404)
