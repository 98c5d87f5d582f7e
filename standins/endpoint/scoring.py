"""The scoring path: route a request (AML's rules), mirror a copy, run the model, log it.

Every request gets a traffic log row (core/rollout/traffic_log.py) and every answered input row a
prediction log row (core/rollout/prediction_table.py). A mirrored copy is logged with the request id of
the request it copies, so the prediction log pairs blue's and green's answers to the same input
(the traffic log gives the copy its own XRequestId, as AML does).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
from aiohttp import web

from core.kernel.ports import OnlineFeatureStore
from core.rollout.online_features import fill_features
from standins.endpoint.httpio import UNAUTHORISED, authorised
from standins.endpoint.runtime import PayloadError, is_bad_input, parse_payload
from standins.endpoint.state import NO_ROUTE, ApiError, Deployment, Endpoint, EndpointStore
from standins.endpoint.telemetry import TrafficLogWriter

log = logging.getLogger("standins.endpoint")


def scores_of(predictions: Any, rows: int) -> list[float] | None:
    """One score per input row: a number per row, or the last (positive-class) column of a row
    of probabilities; None when the answer has another shape (nothing is logged then)."""
    if not isinstance(predictions, list) or len(predictions) != rows:
        return None
    out = []
    for p in predictions:
        if isinstance(p, list) and p and isinstance(p[-1], int | float):
            p = p[-1]
        if isinstance(p, bool) or not isinstance(p, int | float):
            return None
        out.append(float(p))
    return out


def entity_ids(frame: pd.DataFrame, column: str | None) -> list[str | None]:
    if column is None or column not in frame.columns:
        return [None] * len(frame)
    return [None if pd.isna(v) else str(v) for v in frame[column].tolist()]


class UnknownEntities(Exception):
    """Rows whose entity the deployment's feature set version does not know (one error per row)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} row(s) name an unknown entity")
        self.errors = errors


class Scoring:
    def __init__(
        self,
        store: EndpointStore,
        key: str,
        telemetry: TrafficLogWriter,
        scorer: ThreadPoolExecutor,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        features: OnlineFeatureStore | None = None,
    ) -> None:
        self.store = store
        self.key = key
        self.telemetry = telemetry
        self.scorer = scorer
        self.spawn = spawn
        self.rng = random.Random()
        # the online feature store (the Cosmos stand-in): requests that carry only entity ids are filled
        # from it with the feature set version the deployment's model was trained on (core/rollout/online_features.py)
        self.features = features

    def _predict(self, dep: Deployment, frame: pd.DataFrame) -> Any:
        """Fill an entity-id-only request from the online store (the deployment's version), then score."""
        assert dep.runtime is not None
        if self.features is not None:
            frame, errors = fill_features(frame, dep.environment_variables, self.features.lookup)
            if errors:
                raise UnknownEntities(errors)
        return dep.runtime.predict(frame)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/score", self.score)
        app.router.add_post("/endpoints/{endpoint}/score", self.score)

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
            if not authorised(request, self.key):
                raise ApiError(401, "Unauthorized", UNAUTHORISED)
            ep = self.store.endpoint(name or "")
            dep = self._route(ep, pinned)
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
                    copy = self._mirror(ep, mirror_dep, frame, request, len(body), client_id, request_id)
                    self.spawn(copy)
            status, payload, model_status, model_ms = await self._invoke(dep, frame)
            if status == 200:
                self._log_predictions(ep, dep, frame, payload, request_id, mirrored=False)
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

    def _route(self, ep: Endpoint, pinned: str) -> Deployment:
        if pinned:
            dep = ep.deployments.get(pinned)
            if dep is None or dep.runtime is None:
                raise ApiError(
                    404,
                    "DeploymentNotFound",
                    f"deployment '{pinned}' not found or not ready in endpoint '{ep.name}'",
                )
            return dep
        picked = ep.pick(self.rng)
        dep = ep.deployments.get(picked) if picked else None
        if dep is None or dep.runtime is None:
            raise ApiError(404, "NoRoute", NO_ROUTE)
        return dep

    def _log_predictions(
        self, ep: Endpoint, dep: Deployment, frame: pd.DataFrame, answer: Any, request_id: str, mirrored: bool
    ) -> None:
        scores = scores_of(answer, len(frame))
        if scores is None:
            return
        ids = entity_ids(frame, self.store.entity_id_column(ep))
        version = dep.model.get("version", "")
        self.telemetry.append_predictions([
            (None, request_id, i, ep.name, dep.name, version, ids[i], score, int(mirrored))
            for i, score in enumerate(scores)
        ])  # fmt: skip

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
                    self.scorer, self._predict, dep, frame
                )
                return 200, predictions, "200", (time.perf_counter() - t) * 1000
        except UnknownEntities as exc:
            # 424: the model's dependency (its features) failed; the gates count it as an error
            body = {"message": f"{exc}: see errors", "errors": exc.errors}
            return 424, body, "", (time.perf_counter() - t) * 1000
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
        self,
        ep: Endpoint,
        dep: Deployment,
        frame: Any,
        request: web.Request,
        size: int,
        client_id: str,
        original_id: str,
    ) -> None:
        t0 = time.perf_counter()
        status, payload, model_status, model_ms = await self._invoke(dep, frame)
        if status == 200:
            self._log_predictions(ep, dep, frame, payload, original_id, mirrored=True)
        response_size = len(json.dumps(payload).encode())
        self.telemetry.append((
            None, ep.name, dep.name, str(status), model_status, round((time.perf_counter() - t0) * 1000, 3),
            0.0, round(model_ms, 3), size, response_size, str(uuid.uuid4()), client_id, request.method, request.path, 1,
        ))  # fmt: skip

    def _endpoint_from_host(self, request: web.Request) -> str | None:
        host = (request.host or "").split(":")[0]
        label = host.split(".")[0] if "." in host else ""
        endpoints = self.store.endpoints
        if label in endpoints:
            return label
        if len(endpoints) == 1:
            return next(iter(endpoints))
        return None
