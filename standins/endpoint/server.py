"""The local online endpoint server (aiohttp, one process).

Control API (key auth: `Authorization: Bearer KEY` or `api-key: KEY`), JSON shaped like
azure-ai-ml's entities:

    GET    /endpoints                                  list endpoints
    PUT    /endpoints/{e}                              create if missing (optional traffic/mirror_traffic,
                                                       entity_id_column)
    GET    /endpoints/{e}                              {name, scoring_uri, traffic, mirror_traffic,
                                                        provisioning_state, deployments: {...}}
    PATCH  /endpoints/{e}                              {"traffic": {...}, "mirror_traffic": {...},
                                                        "entity_id_column": "customer_id"};
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

Telemetry: the traffic log (AmlOnlineEndpointTrafficLog's columns) and the prediction log
(core/rollout/prediction_table.py: one row per answered input row, with the value of the endpoint's
`entity_id_column` in that row, or the server's `--entity-id-column` default; none: no entity id).

Modules: state.py (endpoints, deployments, persistence), control.py (the control API),
scoring.py (routing, mirroring, the model call, logging); this one assembles them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import web

from core.kernel.ports import OnlineFeatureStore, TrafficRuleError
from standins.endpoint.control import ControlApi
from standins.endpoint.scoring import Scoring
from standins.endpoint.state import ApiError, EndpointStore
from standins.endpoint.telemetry import TrafficLogWriter

log = logging.getLogger("standins.endpoint")


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
        entity_id_column: str | None = None,
        features: OnlineFeatureStore | None = None,
    ) -> None:
        self.store = EndpointStore(state_dir, tracking_uri, public_base, entity_id_column)
        self.telemetry = TrafficLogWriter(db_path, flush_interval=flush_interval)
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-loader")
        self._scorer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="model-scorer")
        self._background: set[asyncio.Task] = set()
        self.control = ControlApi(self.store, key, self.telemetry, self._loader, self._spawn)
        self.scoring = Scoring(self.store, key, self.telemetry, self._scorer, self._spawn, features)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

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
        await loop.run_in_executor(self._loader, self.store.restore)
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
        self.control.routes(app)
        self.scoring.routes(app)
        app.on_startup.append(self.on_startup)
        app.on_cleanup.append(self.on_cleanup)
        return app


def online_feature_store(env: Any) -> OnlineFeatureStore | None:
    """The Cosmos stand-in named by FEATURE_STORE_ENDPOINT and FEATURE_STORE_KEY (the app's own settings),
    or None: then requests must carry their features."""
    endpoint, key = env.get("FEATURE_STORE_ENDPOINT"), env.get("FEATURE_STORE_KEY")
    if not (endpoint and key):
        return None
    from adapters.azure.feature_store import CosmosOnlineFeatureStore

    logging.getLogger("azure").setLevel(logging.WARNING)  # azure-cosmos logs every response at INFO

    database = env.get("COSMOS_DATABASE") or "mllifecycle"
    container = env.get("FEATURE_STORE_CONTAINER") or "features"
    return CosmosOnlineFeatureStore.connect(endpoint, key, database, container, connection_verify=False)


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
    parser.add_argument(
        "--entity-id-column",
        default=None,
        help="input column the prediction log records as the entity id, for endpoints that set none",
    )
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
    features = online_feature_store(os.environ)
    server = EndpointServer(
        state_dir=args.state_dir,
        db_path=args.db,
        key=args.key,
        tracking_uri=args.tracking_uri,
        public_base=f"http://{args.host}:{args.port}",
        flush_interval=args.flush_interval,
        entity_id_column=args.entity_id_column,
        features=features,
    )
    with contextlib.suppress(KeyboardInterrupt):
        web.run_app(server.app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
