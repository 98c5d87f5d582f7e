"""devhost: one aiohttp server on one long-lived event loop, hosting a v2-model Python Function App.

Everything runs on that single loop on purpose: the durable SDK's client keeps one aiohttp session per
module, so client code from HTTP, Event Grid and timer functions must all share the loop it was created on."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import inspect
import json
import logging
import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from yarl import URL

from devhost.blobwatch import BlobWatchConfig, BlobWatcher
from devhost.discovery import (
    DURABLE_TRIGGERS,
    EVENTGRID_TRIGGER,
    AppLoadError,
    LoadedApp,
    load_app,
    load_settings,
)
from devhost.eventgrid import WEBHOOK_PATH, EventGridTriggers
from devhost.invoke import Invoker
from devhost.keys import HostKeys, request_key
from devhost.timers import TimerTriggers
from devhost.topics import Subscription, Topics, TopicStore, parse_subscriptions
from devhost.triggers_http import HttpTriggers

log = logging.getLogger("devhost")

VERSION = "devhost/1.0 (Functions host v4 semantics)"

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})


def mask(key: str) -> str:
    """What the banner shows of a key: enough to tell keys apart, not enough to use one."""
    return f"{key[:4]}…({len(key)} chars)" if len(key) > 8 else "…"


def durable_engine_class() -> Any | None:
    """The durable engine is optional: a plain HTTP/Event Grid/timer app runs without it."""
    if (
        importlib.util.find_spec("devhost.durable") is None
        or importlib.util.find_spec("devhost.durable.engine") is None
    ):
        return None
    from devhost.durable.engine import DurableEngine

    return DurableEngine


@dataclass
class HostOptions:
    app_dir: Path
    port: int = 7071
    state_dir: Path | None = None
    master_key: str | None = None
    bind: str = "127.0.0.1"
    blob_watch: BlobWatchConfig | None = None
    activity_concurrency: int = 16
    extra_env: dict[str, str] = field(default_factory=dict)
    # Host names accepted besides loopback ones (DNS rebinding: a page on evil.example resolving to
    # 127.0.0.1 sends `Host: evil.example`); also $DEVHOST_ALLOWED_HOSTS, comma-separated.
    allowed_hosts: tuple[str, ...] = ()
    # topic -> Event Grid triggered function deliveries; None: $DEVHOST_TOPIC_SUBSCRIPTIONS
    topic_subscriptions: list[Subscription] | None = None

    @property
    def resolved_state_dir(self) -> Path:
        return (self.state_dir or self.app_dir / ".devhost").resolve()


class Host:
    def __init__(self, options: HostOptions) -> None:
        self.options = options
        self.app_dir = options.app_dir.resolve()
        self.state_dir = options.resolved_state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        load_settings(self.app_dir)
        self.app: LoadedApp = load_app(self.app_dir)
        self.keys = HostKeys.load(self.state_dir, options.master_key)
        self.base_url = f"http://{options.bind}:{options.port}"
        self.engine: Any | None = None
        engine_cls = durable_engine_class() if self.app.has_durable else None
        if engine_cls is not None:
            kwargs: dict[str, Any] = {}
            if "system_key" in inspect.signature(engine_cls).parameters:
                kwargs["system_key"] = self.keys.durabletask_extension
            try:
                self.engine = engine_cls(
                    db_path=self.state_dir / "durable.db",
                    functions=self.app.raw_functions,
                    task_hub=self.app.task_hub,
                    activity_concurrency=options.activity_concurrency,
                    logger=logging.getLogger("devhost.durable"),
                    **kwargs,
                )
            except (TypeError, ValueError) as exc:  # an orchestrator the engine cannot replay, named in exc
                raise AppLoadError(f"Cannot host the app's Durable Functions: {exc}") from exc
        elif self.app.has_durable:
            log.warning(
                "This app has Durable Functions but devhost/durable/engine.py is missing: they will not run."
            )
        self.invoker = Invoker(
            app_dir=str(self.app_dir),
            client_binding=(
                self.engine.client_binding if self.engine is not None else self._engineless_binding
            ),
        )
        self.http = HttpTriggers(self.app, self.keys, self.invoker)
        self.eventgrid = EventGridTriggers(self.app, self.keys, self.invoker)
        self.timers = TimerTriggers(self.app, self.invoker, self.state_dir)
        self.topic_store = TopicStore(self.state_dir / "devhost.db")
        self.topics = Topics(
            self.topic_store, self.keys, self._subscriptions(options), self._deliver_to_function
        )
        self.blob_watcher: BlobWatcher | None = None
        if options.blob_watch:
            try:
                self.blob_watcher = BlobWatcher(
                    options.blob_watch, self.app, self.eventgrid, self.state_dir / "devhost.db"
                )
            except AppLoadError as exc:
                if not options.blob_watch.optional:
                    raise
                log.warning("blob watcher disabled: %s", exc)
        self.started = time.monotonic()
        self.host_id = uuid.uuid4().hex[:16]
        self.runner: web.AppRunner | None = None

    def _subscriptions(self, options: HostOptions) -> list[Subscription]:
        try:
            subs = (
                options.topic_subscriptions
                if options.topic_subscriptions is not None
                else parse_subscriptions(os.environ.get("DEVHOST_TOPIC_SUBSCRIPTIONS", ""))
            )
        except ValueError as exc:
            raise AppLoadError(str(exc)) from None
        for sub in subs:
            if self.eventgrid.function(sub.function) is None:
                raise AppLoadError(
                    f"topic subscription {sub.topic}:{sub.function}: the app has no Event Grid triggered "
                    f"function {sub.function!r} (fix DEVHOST_TOPIC_SUBSCRIPTIONS)"
                )
        return subs

    async def _deliver_to_function(self, function: str, events: list[dict[str, Any]]) -> Any:
        spec = self.eventgrid.function(function)
        assert spec is not None  # checked when the subscriptions were read
        return await self.eventgrid.deliver(spec, events)

    def _engineless_binding(self) -> str:
        """Without the engine, functions that hold a durable client still run; its calls answer 404."""
        webhooks = f"{self.base_url}/runtime/webhooks/durabletask"
        return json.dumps(
            {
                "taskHubName": self.app.task_hub,
                "creationUrls": {},
                "managementUrls": {
                    "id": "INSTANCEID",
                    "statusQueryGetUri": f"{webhooks}/instances/INSTANCEID",
                },
                "baseUrl": webhooks,
                "requiredQueryStringParameters": "",
                "rpcBaseUrl": f"{webhooks}/",
            }
        )

    # -- the web application ---------------------------------------------------------------------------
    def build_web_app(self) -> web.Application:
        web_app = web.Application(
            client_max_size=256 * 1024 * 1024,
            middlewares=[self._same_site_only, self._master_key_opens_durable_api],
        )
        web_app.router.add_get("/admin/host/status", self.host_status)
        web_app.router.add_get("/admin/host/ping", self.ping)
        web_app.router.add_post("/admin/host/ping", self.ping)
        web_app.router.add_get("/admin/functions", self.list_functions)
        web_app.router.add_get("/", self.ping)
        self.eventgrid.register(web_app)
        self.topics.register(web_app)
        if self.engine is not None:
            from devhost.durable.api import register_routes

            register_routes(self.engine, web_app)
        self.http.register(web_app)
        return web_app

    def _allowed_host(self, host: str) -> bool:
        name = host.strip().lower()
        if name.startswith("["):  # [::1]:7071
            name = name[1 : name.find("]")] if "]" in name else name
        elif name.count(":") == 1:
            name = name.rsplit(":", 1)[0]
        name = name.rstrip(".")
        return name in self._allowed_names or name.endswith(".localhost")

    @functools.cached_property
    def _allowed_names(self) -> frozenset[str]:
        """Read once: every request asks (building it per request was a share of an event storm)."""
        extra = {
            h.strip().lower() for h in os.environ.get("DEVHOST_ALLOWED_HOSTS", "").split(",") if h.strip()
        }
        return LOOPBACK_NAMES | {self.options.bind.lower()} | extra | set(self.options.allowed_hosts)

    @web.middleware
    async def _same_site_only(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Refuse a request whose Host is not ours (DNS rebinding) and a cross-site browser request
        that would change state (a `text/plain` POST needs no CORS preflight)."""
        if not self._allowed_host(request.headers.get("Host", "")):
            return web.json_response(
                {"error": "Host header not allowed: devhost answers loopback names or DEVHOST_ALLOWED_HOSTS"},
                status=421,
            )
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            origin = request.headers.get("Origin")
            cross = request.headers.get("Sec-Fetch-Site") == "cross-site"
            if cross or (
                origin is not None
                and not self._allowed_host(URL(origin).host or "" if origin != "null" else "")
            ):
                return web.json_response({"error": "cross-site request refused"}, status=403)
        return await handler(request)

    @web.middleware
    async def _master_key_opens_durable_api(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """On Azure the master key also opens system (extension) endpoints: hand the engine its own key."""
        if self.engine is not None and request.path.startswith("/runtime/webhooks/durabletask"):
            given = request_key(request)
            if self.keys.is_master(given) and given != self.keys.durabletask_extension:
                query = request.rel_url.query.copy()
                query["code"] = self.keys.durabletask_extension
                request = request.clone(rel_url=request.rel_url.with_query(query))
        return await handler(request)

    async def host_status(self, request: web.Request) -> web.Response:
        """Open without a key, as Core Tools serves it locally, so launchers and tests can poll readiness."""
        return web.json_response(
            {
                "id": self.host_id,
                "state": "Running",
                "version": VERSION,
                "versionDetails": VERSION,
                "processUptime": int((time.monotonic() - self.started) * 1000),
                "functions": [f.name for f in self.app.functions],
                "durable": self.engine is not None,
            }
        )

    async def ping(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def list_functions(self, request: web.Request) -> web.Response:
        if not self.keys.is_master(request_key(request)):
            return web.Response(status=401)
        return web.json_response(
            [{"name": f.name, "trigger": f.trigger_type, "bindings": f.bindings} for f in self.app.functions]
        )

    # -- lifecycle ---------------------------------------------------------------------------------------
    async def start(self) -> None:
        self.runner = web.AppRunner(self.build_web_app(), access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.options.bind, self.options.port, reuse_address=True)
        await site.start()
        if self.engine is not None:
            await self.engine.start(self.base_url)
        await self.topics.start()  # deliveries a previous run left pending go out first
        self.print_banner()
        await self.timers.start()
        if self.blob_watcher is not None:
            await self.blob_watcher.start()

    async def stop(self) -> None:
        await self.topics.close()  # an interrupted delivery stays pending: the next start sends it
        await self.timers.stop()
        if self.blob_watcher is not None:
            await self.blob_watcher.stop()
        if self.engine is not None:
            with contextlib.suppress(Exception):
                await self.engine.stop()
        if self.runner is not None:
            await self.runner.cleanup()
        self.invoker.close()
        self.topic_store.close()

    async def serve_forever(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await self.start()
        try:
            await stop.wait()
        finally:
            log.info("devhost stopping")
            await self.stop()

    def print_banner(self) -> None:
        lines = [
            "",
            f"devhost {VERSION}",
            f"App: {self.app_dir}",
            f"State: {self.state_dir}",
            "",
            "Functions:",
            "",
        ]
        lines += [f"\t{line}" for line in self.http.describe(self.base_url)]
        for spec in self.app.by_trigger(EVENTGRID_TRIGGER):
            lines.append(
                f"\t{spec.name}: eventGridTrigger  {self.base_url}{WEBHOOK_PATH}?functionName={spec.name}"
            )
        lines += [f"\t{line}" for line in self.timers.describe()]
        for spec in self.app.by_trigger(*DURABLE_TRIGGERS):
            lines.append(f"\t{spec.name}: {spec.trigger_type}")
        lines += ["", f"Keys (masked; the whole keys are in {self.state_dir / 'keys.json'}, mode 0600):"]
        origin = "generated" if self.keys.master_generated else "given or stored"
        lines.append(f"\tmaster ({origin}): {mask(self.keys.master)}")
        lines.append(f"\tfunction key 'default': {mask(self.keys.function_default)}")
        lines.append(f"\tsystem key 'eventgrid_extension': {mask(self.keys.eventgrid_extension)}")
        if self.engine is not None:
            lines.append(f"\tsystem key 'durabletask_extension': {mask(self.keys.durabletask_extension)}")
        lines.append(
            f"\ttopics: POST {self.base_url}/runtime/topics/{{topic}}?api-version=2018-01-01 (aeg-sas-key = master key)"
        )
        for sub in self.topics.subscriptions:
            types = "|".join(sub.event_types) or "all types"
            lines.append(f"\ttopic subscription: {sub.topic} ({types}) -> {sub.function}")
        if self.engine is None and self.app.has_durable:
            lines.append("\tWARNING: durable engine missing; orchestrations will not run")
        if self.blob_watcher is not None:
            lines += ["", self.blob_watcher.describe()]
        lines += ["", f"Host listening on {self.base_url} (pid {os.getpid()})", ""]
        print("\n".join(lines), flush=True)


def run(options: HostOptions) -> int:
    """Build and serve; AppLoadError -> one clear paragraph on stderr and exit code 2."""
    try:
        host = Host(options)
    except AppLoadError as exc:
        print(f"devhost: cannot start: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        asyncio.run(host.serve_forever())
    except OSError as exc:  # port in use
        print(f"devhost: cannot listen on {options.bind}:{options.port}: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0
