"""The control API: endpoints, deployments, traffic, faults (JSON shaped like azure-ai-ml's entities).

Deployments load their model in the background (state `creating` until it serves); the traffic
rules are Azure ML's (core.rollout.traffic_rules). See standins/endpoint/server.py for the routes.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

from core.kernel.ports import TrafficRuleError
from standins.endpoint.httpio import read_json, require_key
from standins.endpoint.runtime import DEFAULT_REQUEST_TIMEOUT_MS, Faults, load_model
from standins.endpoint.state import NAME_RULE, ApiError, Deployment, Endpoint, EndpointStore, valid_name
from standins.endpoint.telemetry import TrafficLogWriter

log = logging.getLogger("standins.endpoint")

ENDPOINT_FIELDS = {"traffic", "mirror_traffic", "entity_id_column"}


class ControlApi:
    def __init__(
        self,
        store: EndpointStore,
        key: str,
        telemetry: TrafficLogWriter,
        loader: ThreadPoolExecutor,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
    ) -> None:
        self.store = store
        self.key = key
        self.telemetry = telemetry
        self.loader = loader
        self.spawn = spawn

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/health", self.health)
        app.router.add_post("/admin/flush", self.flush)
        app.router.add_get("/endpoints", self.list_endpoints)
        app.router.add_put("/endpoints/{endpoint}", self.put_endpoint)
        app.router.add_get("/endpoints/{endpoint}", self.get_endpoint)
        app.router.add_patch("/endpoints/{endpoint}", self.patch_endpoint)
        app.router.add_get("/endpoints/{endpoint}/deployments", self.list_deployments)
        app.router.add_put("/endpoints/{endpoint}/deployments/{deployment}", self.put_deployment)
        app.router.add_get("/endpoints/{endpoint}/deployments/{deployment}", self.get_deployment)
        app.router.add_delete("/endpoints/{endpoint}/deployments/{deployment}", self.delete_deployment)
        app.router.add_put("/endpoints/{endpoint}/deployments/{deployment}/faults", self.put_faults)

    # ------------------------------------------------------------------ endpoints

    async def list_endpoints(self, request: web.Request) -> web.Response:
        require_key(request, self.key)
        return web.json_response(
            {"value": [self.store.endpoint_json(ep) for ep in self.store.endpoints.values()]}
        )

    async def put_endpoint(self, request: web.Request) -> web.Response:
        require_key(request, self.key)
        name = request.match_info["endpoint"]
        if not valid_name(name):
            raise ApiError(400, "InvalidName", f"endpoint name '{name}' is invalid: {NAME_RULE}")
        body = await read_json(request, default={})
        created = name not in self.store.endpoints
        if created:
            self.store.endpoints[name] = Endpoint(name)
            self.store.save()
        ep = self.store.endpoints[name]
        self._set_entity_id_column(ep, body)
        if "traffic" in body or "mirror_traffic" in body:
            self.store.apply_split(ep, body.get("traffic"), body.get("mirror_traffic"))
        return web.json_response(self.store.endpoint_json(ep), status=201 if created else 200)

    async def get_endpoint(self, request: web.Request) -> web.Response:
        require_key(request, self.key)
        return web.json_response(
            self.store.endpoint_json(self.store.endpoint(request.match_info["endpoint"]))
        )

    async def patch_endpoint(self, request: web.Request) -> web.Response:
        require_key(request, self.key)
        ep = self.store.endpoint(request.match_info["endpoint"])
        body = await read_json(request)
        unknown = set(body) - ENDPOINT_FIELDS
        if unknown:
            raise ApiError(
                400,
                "InvalidRequest",
                f"only traffic, mirror_traffic and entity_id_column can be changed, got {sorted(unknown)}",
            )
        for key in ("traffic", "mirror_traffic"):
            if key in body and not isinstance(body[key], dict):
                raise ApiError(400, "InvalidRequest", f"{key} must be an object of deployment -> percent")
        self._set_entity_id_column(ep, body)
        if "traffic" in body or "mirror_traffic" in body:
            self.store.apply_split(ep, body.get("traffic"), body.get("mirror_traffic"))
        return web.json_response(self.store.endpoint_json(ep))

    def _set_entity_id_column(self, ep: Endpoint, body: dict[str, Any]) -> None:
        if "entity_id_column" not in body:
            return
        column = body["entity_id_column"]
        if column is not None and (not isinstance(column, str) or not column.strip()):
            raise ApiError(400, "InvalidRequest", "entity_id_column must be an input column name or null")
        ep.entity_id_column = column.strip() if column else None
        self.store.save()

    # ------------------------------------------------------------------ deployments

    async def put_deployment(self, request: web.Request) -> web.Response:
        require_key(request, self.key)
        ep = self.store.endpoint(request.match_info["endpoint"])
        name = request.match_info["deployment"]
        if not valid_name(name):
            raise ApiError(400, "InvalidName", f"deployment name '{name}' is invalid: {NAME_RULE}")
        body = await read_json(request)
        model = body.get("model")
        if isinstance(model, str):
            model = {"name": "", "version": "", "uri": model}
        if not isinstance(model, dict) or not model.get("uri"):
            raise ApiError(
                400,
                "InvalidRequest",
                'model must be {"name", "version", "uri"} with the MLflow model URI or path',
            )
        model = {
            "name": str(model.get("name", "")),
            "version": str(model.get("version", "")),
            "uri": str(model["uri"]),
        }
        env = {str(k): str(v) for k, v in (body.get("environment_variables") or {}).items()}
        try:
            faults = Faults.from_env(env)
        except ValueError as exc:
            raise ApiError(400, "InvalidRequest", str(exc)) from exc
        timeout_ms = int(
            (body.get("request_settings") or {}).get("request_timeout_ms", DEFAULT_REQUEST_TIMEOUT_MS)
        )
        instance_type = str(body.get("instance_type") or "Standard_DS3_v2")
        instance_count = int(body.get("instance_count") or 1)

        current = ep.deployments.get(name)
        if (
            current is not None
            and current.state in ("creating", "succeeded")
            and current.model == model
            and current.environment_variables == env
            and current.request_timeout_ms == timeout_ms
        ):
            current.instance_type, current.instance_count = instance_type, instance_count
            self.store.save()
            return web.json_response(current.to_json(), status=200)

        dep = Deployment(
            name=name,
            endpoint=ep.name,
            model=model,
            environment_variables=env,
            instance_type=instance_type,
            instance_count=instance_count,
            request_timeout_ms=timeout_ms,
            faults=faults,
        )
        if current is not None and current.runtime is not None:
            # an update keeps serving the old model until the new one has loaded, as AML's rolling update
            dep.runtime, dep.local_path = current.runtime, current.local_path
        ep.deployments[name] = dep
        self.store.save()
        self.spawn(self._load(ep, dep, previous=current))
        return web.json_response(dep.to_json(), status=202)

    async def _load(self, ep: Endpoint, dep: Deployment, previous: Deployment | None) -> None:
        store = self.store
        loop = asyncio.get_running_loop()
        try:
            runtime = await loop.run_in_executor(
                self.loader, load_model, dep.model["uri"], store.model_dir(dep), store.tracking_uri
            )
        except Exception as exc:
            if ep.deployments.get(dep.name) is dep:
                log.warning("deployment %s/%s failed: %s", ep.name, dep.name, exc)
                dep.state, dep.message = "failed", f"model load failed: {exc}"
                store.save()
            return
        if ep.deployments.get(dep.name) is not dep:  # deleted or replaced meanwhile
            shutil.rmtree(store.model_dir(dep), ignore_errors=True)
            return
        dep.runtime, dep.local_path = runtime, str(runtime.local_path)
        dep.state, dep.message = "succeeded", ""
        store.save()
        if previous is not None and previous.generation != dep.generation:
            shutil.rmtree(store.model_dir(previous), ignore_errors=True)

    async def get_deployment(self, request: web.Request) -> web.Response:
        require_key(request, self.key)
        ep = self.store.endpoint(request.match_info["endpoint"])
        return web.json_response(self.store.deployment(ep, request.match_info["deployment"]).to_json())

    async def list_deployments(self, request: web.Request) -> web.Response:
        require_key(request, self.key)
        ep = self.store.endpoint(request.match_info["endpoint"])
        return web.json_response({"value": [d.to_json() for d in ep.deployments.values()]})

    async def delete_deployment(self, request: web.Request) -> web.Response:
        require_key(request, self.key)
        ep = self.store.endpoint(request.match_info["endpoint"])
        dep = self.store.deployment(ep, request.match_info["deployment"])
        if ep.traffic.get(dep.name, 0) > 0:
            raise TrafficRuleError(
                f"deployment '{dep.name}' has {ep.traffic[dep.name]}% live traffic in endpoint '{ep.name}'; "
                "move its traffic to another deployment before deleting it"
            )
        if ep.mirror_traffic.get(dep.name, 0) > 0:
            raise TrafficRuleError(
                f"deployment '{dep.name}' receives {ep.mirror_traffic[dep.name]}% mirror traffic; "
                "set mirror_traffic to {} before deleting it"
            )
        del ep.deployments[dep.name]
        ep.traffic.pop(dep.name, None)
        ep.mirror_traffic.pop(dep.name, None)
        ep.rebuild_routes()
        self.store.save()
        shutil.rmtree(self.store.model_dir(dep), ignore_errors=True)
        return web.json_response({"name": dep.name, "state": "deleted"})

    async def put_faults(self, request: web.Request) -> web.Response:
        require_key(request, self.key)
        ep = self.store.endpoint(request.match_info["endpoint"])
        dep = self.store.deployment(ep, request.match_info["deployment"])
        body = await read_json(request)
        try:
            dep.faults = Faults.from_json(body)
        except (TypeError, ValueError) as exc:
            raise ApiError(400, "InvalidRequest", f"invalid faults: {exc}") from exc
        self.store.save()
        return web.json_response(dep.to_json())

    # ------------------------------------------------------------------ admin

    async def flush(self, request: web.Request) -> web.Response:
        require_key(request, self.key)
        written = await asyncio.get_running_loop().run_in_executor(None, self.telemetry.flush)
        return web.json_response({"written": written, "total": self.telemetry.written})

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "endpoints": len(self.store.endpoints)})
