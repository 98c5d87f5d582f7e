"""The local online endpoint server (aiohttp, one process).

Control API (key auth: `Authorization: Bearer KEY` or `api-key: KEY`), JSON shaped like
azure-ai-ml's entities:

    GET    /endpoints                                  list endpoints
    PUT    /endpoints/{e}                              create if missing (optional traffic/mirror_traffic)
    GET    /endpoints/{e}                              {name, scoring_uri, traffic, mirror_traffic,
                                                        provisioning_state, deployments: {...}}
    PATCH  /endpoints/{e}                              {"traffic": {...}, "mirror_traffic": {...}};
                                                       an omitted key keeps its current value
    PUT    /endpoints/{e}/deployments/{d}              {"model": {"name","version","uri"},
                                                        "environment_variables", "instance_type",
                                                        "instance_count", "request_settings"} -> 202,
                                                       state creating; the model loads in the background
    GET    /endpoints/{e}/deployments[/{d}]            {name, model, state, message, environment_variables, ...}
    DELETE /endpoints/{e}/deployments/{d}              refused (400) while it has live or mirror traffic
    PUT    /endpoints/{e}/deployments/{d}/faults       {"error_rate", "extra_latency_ms", "jitter_ms", "error_status"}
    POST   /admin/flush                                write buffered telemetry now
    GET    /health                                     no auth

Scoring: `POST /endpoints/{e}/score` (or `POST /score` with the endpoint as the first label of
the Host header, e.g. `churn.localhost:8501`), body `{"input_data": {"columns", "index", "data"}}`,
`Authorization: Bearer KEY`; header `azureml-model-deployment` pins a deployment. The answer is
a JSON list of predictions, with response headers `azureml-model-deployment` and `x-request-id`.
Codes as AML: 401 bad key, 404 endpoint/deployment missing or no deployment with traffic,
400 malformed payload, 408 model timeout, 424 model error (ModelStatusCode 500).

Control-plane rule violations answer 400 with `{"error": {"code": "TrafficRuleViolation", "message"}}`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import logging
import os
import random
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from core.ports import TrafficRuleError
from core.traffic_rules import validate_split
from standins.endpoint.runtime import (
    DEFAULT_REQUEST_TIMEOUT_MS,
    Faults,
    ModelRuntime,
    PayloadError,
    is_bad_input,
    load_model,
    parse_payload,
)
from standins.endpoint.telemetry import TrafficLogWriter

log = logging.getLogger("standins.endpoint")

NAME_RULE = "names are 3-32 characters of letters, digits and '-', starting with a letter"
NO_ROUTE = (
    "No valid deployments to route to. Please check that the endpoint has at least one deployment "
    "with positive weight values or use a deployment specific header to route."
)


def _valid_name(name: str) -> bool:
    return 1 <= len(name) <= 32 and name[0].isalpha() and all(c.isalnum() or c == "-" for c in name)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Deployment:
    name: str
    endpoint: str
    model: dict[str, str]
    environment_variables: dict[str, str]
    instance_type: str
    instance_count: int
    request_timeout_ms: int
    faults: Faults
    state: str = "creating"
    message: str = ""
    local_path: str | None = None
    generation: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    runtime: ModelRuntime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "endpoint_name": self.endpoint,
            "model": dict(self.model),
            "state": self.state,
            "provisioning_state": {"creating": "Creating", "succeeded": "Succeeded", "failed": "Failed"}.get(
                self.state, self.state
            ),
            "message": self.message,
            "environment_variables": dict(self.environment_variables),
            "instance_type": self.instance_type,
            "instance_count": self.instance_count,
            "request_settings": {"request_timeout_ms": self.request_timeout_ms},
            "faults": self.faults.to_json(),
        }

    def to_state(self) -> dict[str, Any]:
        return {**self.to_json(), "local_path": self.local_path, "generation": self.generation}


@dataclass
class Endpoint:
    name: str
    traffic: dict[str, int] = field(default_factory=dict)
    mirror_traffic: dict[str, int] = field(default_factory=dict)
    deployments: dict[str, Deployment] = field(default_factory=dict)
    # (deployment, cumulative percent) pairs: replaced whole on every change, read whole per request
    routes: tuple[tuple[str, int], ...] = ()

    def rebuild_routes(self) -> None:
        acc, routes = 0, []
        for name, pct in sorted(self.traffic.items()):
            if pct > 0:
                acc += pct
                routes.append((name, acc))
        self.routes = tuple(routes)

    def pick(self, rng: random.Random) -> str | None:
        routes = self.routes
        if not routes:
            return None
        x = rng.random() * routes[-1][1]
        for name, upto in routes:
            if x < upto:
                return name
        return routes[-1][0]


class EndpointServer:
    def __init__(
        self,
        *,
        state_dir: Path,
        db_path: Path,
        key: str,
        tracking_uri: str | None = None,
        public_base: str = "http://127.0.0.1:8501",
        flush_interval: float = 0.2,
    ) -> None:
        self.state_dir = state_dir
        self.key = key
        self.tracking_uri = tracking_uri
        self.public_base = public_base.rstrip("/")
        self.endpoints: dict[str, Endpoint] = {}
        self.telemetry = TrafficLogWriter(db_path, flush_interval=flush_interval)
        self.rng = random.Random()
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-loader")
        self._scorer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="model-scorer")
        self._background: set[asyncio.Task] = set()
        self._state_file = state_dir / "endpoints.json"

    # ------------------------------------------------------------------ persistence

    def save(self) -> None:
        doc = {
            "endpoints": {
                ep.name: {
                    "traffic": ep.traffic,
                    "mirror_traffic": ep.mirror_traffic,
                    "deployments": {d.name: d.to_state() for d in ep.deployments.values()},
                }
                for ep in self.endpoints.values()
            }
        }
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
        os.replace(tmp, self._state_file)

    def restore(self) -> None:
        """Rebuild endpoints from the state dir and reload every model that was serving."""
        if not self._state_file.exists():
            return
        doc = json.loads(self._state_file.read_text())
        for name, raw in doc.get("endpoints", {}).items():
            ep = Endpoint(name, dict(raw.get("traffic", {})), dict(raw.get("mirror_traffic", {})))
            for dname, d in raw.get("deployments", {}).items():
                dep = Deployment(
                    name=dname,
                    endpoint=name,
                    model=d["model"],
                    environment_variables=d.get("environment_variables", {}),
                    instance_type=d.get("instance_type", "Standard_DS3_v2"),
                    instance_count=int(d.get("instance_count", 1)),
                    request_timeout_ms=int(
                        d.get("request_settings", {}).get("request_timeout_ms", DEFAULT_REQUEST_TIMEOUT_MS)
                    ),
                    faults=Faults.from_json(d.get("faults", {})),
                    state=d.get("state", "creating"),
                    message=d.get("message", ""),
                    local_path=d.get("local_path"),
                    generation=d.get("generation") or uuid.uuid4().hex[:12],
                )
                if dep.state in ("succeeded", "creating"):
                    try:
                        dep.runtime = load_model(dep.model["uri"], self._model_dir(dep), self.tracking_uri)
                        dep.local_path = str(dep.runtime.local_path)
                        dep.state, dep.message = "succeeded", ""
                    except Exception as exc:
                        log.exception("cannot reload deployment %s/%s", name, dname)
                        dep.state, dep.message = "failed", f"reload after restart failed: {exc}"
                ep.deployments[dname] = dep
            # a deployment that failed to reload cannot keep live traffic: fall back to what still serves
            ep.traffic = {
                d: (p if ep.deployments[d].state == "succeeded" else 0) for d, p in ep.traffic.items()
            }
            if sum(ep.traffic.values()) not in (0, 100):
                ep.traffic = dict.fromkeys(ep.traffic, 0)
            ep.mirror_traffic = {
                d: p for d, p in ep.mirror_traffic.items() if ep.deployments[d].state == "succeeded"
            }
            ep.rebuild_routes()
            self.endpoints[name] = ep

    def _model_dir(self, dep: Deployment) -> Path:
        return self.state_dir / "models" / dep.endpoint / dep.name / dep.generation

    # ------------------------------------------------------------------ helpers

    def _authorised(self, request: web.Request) -> bool:
        supplied = request.headers.get("api-key", "")
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            supplied = auth[7:].strip()
        # bytes, so that a non-ASCII or non-UTF-8 key is a 401 rather than a 500
        return bool(supplied) and hmac.compare_digest(
            supplied.encode("utf-8", "surrogatepass"), self.key.encode("utf-8")
        )

    def _require_key(self, request: web.Request) -> None:
        if not self._authorised(request):
            raise ApiError(401, "Unauthorized", "missing or wrong key: send 'Authorization: Bearer <key>'")

    def _endpoint(self, name: str) -> Endpoint:
        ep = self.endpoints.get(name)
        if ep is None:
            raise ApiError(404, "EndpointNotFound", f"endpoint '{name}' does not exist")
        return ep

    def _deployment(self, ep: Endpoint, name: str) -> Deployment:
        dep = ep.deployments.get(name)
        if dep is None:
            raise ApiError(
                404, "DeploymentNotFound", f"deployment '{name}' does not exist in endpoint '{ep.name}'"
            )
        return dep

    def endpoint_json(self, ep: Endpoint) -> dict[str, Any]:
        return {
            "name": ep.name,
            "scoring_uri": f"{self.public_base}/endpoints/{ep.name}/score",
            "auth_mode": "key",
            "traffic": {d: ep.traffic.get(d, 0) for d in ep.deployments},
            "mirror_traffic": dict(ep.mirror_traffic),
            "provisioning_state": "Succeeded",
            "deployments": {d.name: d.to_json() for d in ep.deployments.values()},
        }

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def apply_split(
        self, ep: Endpoint, traffic: dict[str, Any] | None, mirror: dict[str, Any] | None
    ) -> None:
        new_traffic = ep.traffic if traffic is None else traffic
        new_mirror = ep.mirror_traffic if mirror is None else mirror
        # a deployment being updated keeps serving its previous model, so it may keep its traffic
        states = {
            d.name: ("succeeded" if d.runtime is not None else d.state) for d in ep.deployments.values()
        }
        full, mirror_ok = validate_split(ep.name, states, new_traffic, new_mirror)
        # one assignment each, then one tuple swap: the next request sees the whole new split
        ep.traffic, ep.mirror_traffic = full, mirror_ok
        ep.rebuild_routes()
        self.save()

    # ------------------------------------------------------------------ control API

    async def list_endpoints(self, request: web.Request) -> web.Response:
        self._require_key(request)
        return web.json_response({"value": [self.endpoint_json(ep) for ep in self.endpoints.values()]})

    async def put_endpoint(self, request: web.Request) -> web.Response:
        self._require_key(request)
        name = request.match_info["endpoint"]
        if not _valid_name(name):
            raise ApiError(400, "InvalidName", f"endpoint name '{name}' is invalid: {NAME_RULE}")
        body = await self._json(request, default={})
        created = name not in self.endpoints
        if created:
            self.endpoints[name] = Endpoint(name)
            self.save()
        ep = self.endpoints[name]
        if "traffic" in body or "mirror_traffic" in body:
            self.apply_split(ep, body.get("traffic"), body.get("mirror_traffic"))
        return web.json_response(self.endpoint_json(ep), status=201 if created else 200)

    async def get_endpoint(self, request: web.Request) -> web.Response:
        self._require_key(request)
        return web.json_response(self.endpoint_json(self._endpoint(request.match_info["endpoint"])))

    async def patch_endpoint(self, request: web.Request) -> web.Response:
        self._require_key(request)
        ep = self._endpoint(request.match_info["endpoint"])
        body = await self._json(request)
        unknown = set(body) - {"traffic", "mirror_traffic"}
        if unknown:
            raise ApiError(
                400,
                "InvalidRequest",
                f"only traffic and mirror_traffic can be changed, got {sorted(unknown)}",
            )
        for key in ("traffic", "mirror_traffic"):
            if key in body and not isinstance(body[key], dict):
                raise ApiError(400, "InvalidRequest", f"{key} must be an object of deployment -> percent")
        self.apply_split(ep, body.get("traffic"), body.get("mirror_traffic"))
        return web.json_response(self.endpoint_json(ep))

    async def put_deployment(self, request: web.Request) -> web.Response:
        self._require_key(request)
        ep = self._endpoint(request.match_info["endpoint"])
        name = request.match_info["deployment"]
        if not _valid_name(name):
            raise ApiError(400, "InvalidName", f"deployment name '{name}' is invalid: {NAME_RULE}")
        body = await self._json(request)
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
            self.save()
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
        self.save()
        self._spawn(self._load(ep, dep, previous=current))
        return web.json_response(dep.to_json(), status=202)

    async def _load(self, ep: Endpoint, dep: Deployment, previous: Deployment | None) -> None:
        loop = asyncio.get_running_loop()
        try:
            runtime = await loop.run_in_executor(
                self._loader, load_model, dep.model["uri"], self._model_dir(dep), self.tracking_uri
            )
        except Exception as exc:
            if ep.deployments.get(dep.name) is dep:
                log.warning("deployment %s/%s failed: %s", ep.name, dep.name, exc)
                dep.state, dep.message = "failed", f"model load failed: {exc}"
                self.save()
            return
        if ep.deployments.get(dep.name) is not dep:  # deleted or replaced meanwhile
            shutil.rmtree(self._model_dir(dep), ignore_errors=True)
            return
        dep.runtime, dep.local_path = runtime, str(runtime.local_path)
        dep.state, dep.message = "succeeded", ""
        self.save()
        if previous is not None and previous.generation != dep.generation:
            shutil.rmtree(self._model_dir(previous), ignore_errors=True)

    async def get_deployment(self, request: web.Request) -> web.Response:
        self._require_key(request)
        ep = self._endpoint(request.match_info["endpoint"])
        return web.json_response(self._deployment(ep, request.match_info["deployment"]).to_json())

    async def list_deployments(self, request: web.Request) -> web.Response:
        self._require_key(request)
        ep = self._endpoint(request.match_info["endpoint"])
        return web.json_response({"value": [d.to_json() for d in ep.deployments.values()]})

    async def delete_deployment(self, request: web.Request) -> web.Response:
        self._require_key(request)
        ep = self._endpoint(request.match_info["endpoint"])
        dep = self._deployment(ep, request.match_info["deployment"])
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
        self.save()
        shutil.rmtree(self._model_dir(dep), ignore_errors=True)
        return web.json_response({"name": dep.name, "state": "deleted"})

    async def put_faults(self, request: web.Request) -> web.Response:
        self._require_key(request)
        ep = self._endpoint(request.match_info["endpoint"])
        dep = self._deployment(ep, request.match_info["deployment"])
        body = await self._json(request)
        try:
            dep.faults = Faults.from_json(body)
        except (TypeError, ValueError) as exc:
            raise ApiError(400, "InvalidRequest", f"invalid faults: {exc}") from exc
        self.save()
        return web.json_response(dep.to_json())

    async def flush(self, request: web.Request) -> web.Response:
        self._require_key(request)
        written = await asyncio.get_running_loop().run_in_executor(None, self.telemetry.flush)
        return web.json_response({"written": written, "total": self.telemetry.written})

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "endpoints": len(self.endpoints)})

    async def _json(self, request: web.Request, default: Any = None) -> dict[str, Any]:
        raw = await request.read()
        if not raw:
            if default is not None:
                return default
            raise ApiError(400, "InvalidRequest", "a JSON body is required")
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ApiError(400, "InvalidRequest", f"body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise ApiError(400, "InvalidRequest", "body must be a JSON object")
        return body

    # ------------------------------------------------------------------ scoring

    async def score(self, request: web.Request) -> web.Response:
        t0 = time.perf_counter()
        name = request.match_info.get("endpoint") or self._endpoint_from_host(request)
        body = await request.read()
        t_read = time.perf_counter()
        request_id = str(uuid.uuid4())
        client_id = request.headers.get("x-ms-client-request-id", "")
        pinned = request.headers.get("azureml-model-deployment", "").strip()
        status, payload, deployment, model_status, model_ms = 200, None, "", "", 0.0
        try:
            if not self._authorised(request):
                raise ApiError(
                    401, "Unauthorized", "missing or wrong key: send 'Authorization: Bearer <key>'"
                )
            ep = self._endpoint(name or "")
            if pinned:
                dep = ep.deployments.get(pinned)
                if dep is None or dep.runtime is None:
                    raise ApiError(
                        404,
                        "DeploymentNotFound",
                        f"deployment '{pinned}' not found or not ready in endpoint '{ep.name}'",
                    )
            else:
                picked = ep.pick(self.rng)
                dep = ep.deployments.get(picked) if picked else None
                if dep is None or dep.runtime is None:
                    raise ApiError(404, "NoRoute", NO_ROUTE)
            deployment = dep.name
            try:
                frame = parse_payload(body)
            except PayloadError as exc:
                model_status = "400"
                raise ApiError(400, "BadRequest", str(exc)) from exc
            if not pinned and ep.mirror_traffic:
                ((mirror_name, pct),) = ep.mirror_traffic.items()
                mirror_dep = ep.deployments.get(mirror_name)
                if (
                    mirror_dep is not None
                    and mirror_dep.runtime is not None
                    and self.rng.random() * 100 < pct
                ):
                    self._spawn(self._mirror(ep.name, mirror_dep, frame, request, len(body), client_id))
            status, payload, model_status, model_ms = await self._invoke(dep, frame)
        except ApiError as exc:
            status, payload = exc.status, {"message": exc.message}
        data = json.dumps(payload).encode()
        headers = {"x-request-id": request_id, "x-ms-client-request-id": client_id}
        if deployment:
            headers["azureml-model-deployment"] = deployment
        response = web.Response(body=data, status=status, content_type="application/json", headers=headers)
        total = (time.perf_counter() - t0) * 1000
        self.telemetry.append((
            None, name or "", deployment, str(status), model_status, round(total, 3),
            round((t_read - t0) * 1000, 3), round(model_ms, 3), len(body), len(data),
            request_id, client_id, request.method, request.path, 0,
        ))  # fmt: skip
        return response

    async def _invoke(self, dep: Deployment, frame: Any) -> tuple[int, Any, str, float]:
        """Run one request on one deployment: (status, body, ModelStatusCode, model ms)."""
        runtime, faults = dep.runtime, dep.faults
        assert runtime is not None
        t = time.perf_counter()
        try:
            async with asyncio.timeout(dep.request_timeout_ms / 1000):
                delay = faults.delay_seconds(self.rng)
                if delay:
                    await asyncio.sleep(delay)
                if faults.fails(self.rng):
                    return (
                        faults.error_status,
                        {"message": "injected fault: the model failed this request"},
                        "500",
                        (time.perf_counter() - t) * 1000,
                    )
                predictions = await asyncio.get_running_loop().run_in_executor(
                    self._scorer, runtime.predict, frame
                )
                return 200, predictions, "200", (time.perf_counter() - t) * 1000
        except TimeoutError:
            message = f"the model did not answer within request_timeout_ms={dep.request_timeout_ms}"
            return 408, {"message": message}, "", (time.perf_counter() - t) * 1000
        except Exception as exc:
            if is_bad_input(exc):
                return (
                    400,
                    {"message": f"input rejected by the model's schema: {exc}"},
                    "400",
                    (time.perf_counter() - t) * 1000,
                )
            log.warning("model error in %s/%s: %s", dep.endpoint, dep.name, exc)
            message = f"An unexpected error occurred in the model: {type(exc).__name__}: {exc}"
            return 424, {"message": message}, "500", (time.perf_counter() - t) * 1000

    async def _mirror(
        self, endpoint: str, dep: Deployment, frame: Any, request: web.Request, size: int, client_id: str
    ) -> None:
        t0 = time.perf_counter()
        status, payload, model_status, model_ms = await self._invoke(dep, frame)
        response_size = len(json.dumps(payload).encode())
        self.telemetry.append((
            None, endpoint, dep.name, str(status), model_status, round((time.perf_counter() - t0) * 1000, 3),
            0.0, round(model_ms, 3), size, response_size, str(uuid.uuid4()), client_id, request.method, request.path, 1,
        ))  # fmt: skip

    def _endpoint_from_host(self, request: web.Request) -> str | None:
        host = (request.host or "").split(":")[0]
        label = host.split(".")[0] if "." in host else ""
        if label in self.endpoints:
            return label
        if len(self.endpoints) == 1:
            return next(iter(self.endpoints))
        return None

    # ------------------------------------------------------------------ app

    @web.middleware
    async def errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return web.json_response({"error": {"code": exc.code, "message": exc.message}}, status=exc.status)
        except TrafficRuleError as exc:
            return web.json_response(
                {"error": {"code": "TrafficRuleViolation", "message": str(exc)}}, status=400
            )

    async def on_startup(self, app: web.Application) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._loader, self.restore)
        self.telemetry.start()
        # warm MLflow's import so the first deployment does not pay for it
        loop.run_in_executor(self._loader, __import__, "mlflow.pyfunc")

    async def on_cleanup(self, app: web.Application) -> None:
        for task in list(self._background):
            task.cancel()
        self.telemetry.close()
        self._loader.shutdown(wait=False, cancel_futures=True)
        self._scorer.shutdown(wait=False, cancel_futures=True)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.errors], client_max_size=64 * 1024 * 1024)
        app.router.add_get("/health", self.health)
        app.router.add_post("/admin/flush", self.flush)
        app.router.add_post("/score", self.score)
        app.router.add_get("/endpoints", self.list_endpoints)
        app.router.add_put("/endpoints/{endpoint}", self.put_endpoint)
        app.router.add_get("/endpoints/{endpoint}", self.get_endpoint)
        app.router.add_patch("/endpoints/{endpoint}", self.patch_endpoint)
        app.router.add_post("/endpoints/{endpoint}/score", self.score)
        app.router.add_get("/endpoints/{endpoint}/deployments", self.list_deployments)
        app.router.add_put("/endpoints/{endpoint}/deployments/{deployment}", self.put_deployment)
        app.router.add_get("/endpoints/{endpoint}/deployments/{deployment}", self.get_deployment)
        app.router.add_delete("/endpoints/{endpoint}/deployments/{deployment}", self.delete_deployment)
        app.router.add_put("/endpoints/{endpoint}/deployments/{deployment}/faults", self.put_faults)
        app.on_startup.append(self.on_startup)
        app.on_cleanup.append(self.on_cleanup)
        return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m standins.endpoint.server", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument(
        "--db", type=Path, default=Path(".local/traffic.db"), help="SQLite file of the traffic log"
    )
    parser.add_argument("--state-dir", type=Path, default=Path(".local/endpoints"))
    parser.add_argument(
        "--key-file",
        type=Path,
        default=None,
        help="a file holding the endpoint key; default $LOCAL_ENDPOINT_KEY (never the key itself on the command line)",
    )
    parser.add_argument(
        "--tracking-uri",
        default=os.environ.get("MLFLOW_TRACKING_URI"),
        help="MLflow tracking/registry URI for models:/ and runs:/",
    )
    parser.add_argument("--flush-interval", type=float, default=0.2, help="seconds between telemetry writes")
    args = parser.parse_args(argv)
    args.key = (
        args.key_file.read_text(encoding="utf-8").strip()
        if args.key_file
        else os.environ.get("LOCAL_ENDPOINT_KEY")
    )
    if not args.key:
        parser.error(
            "LOCAL_ENDPOINT_KEY (or --key-file) is required: scoring and control calls are authenticated"
        )
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the local endpoint server listens on loopback only (--host 127.0.0.1)")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # requests run in parallel on the scorer threads: one OpenMP thread per predict call, or
    # xgboost/sklearn spin-wait against each other (10x slower one-row predictions on 2 cores)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    server = EndpointServer(
        state_dir=args.state_dir,
        db_path=args.db,
        key=args.key,
        tracking_uri=args.tracking_uri,
        public_base=f"http://{args.host}:{args.port}",
        flush_interval=args.flush_interval,
    )
    with contextlib.suppress(KeyboardInterrupt):
        web.run_app(server.app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
