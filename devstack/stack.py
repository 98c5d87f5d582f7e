"""The local stack behind `make run`: Azurite (the data lake), the local online-endpoint server, and devhost
hosting this repository's Function App, wired through environment settings and stopped by PID on exit.

    python -m devstack.stack run [--state-dir .local] [--port 7071] [--azurite-port 10000] [--endpoint-port 8501]
                                 [--console-port 4280]

The operator console (devstack/console.py, the Static Web Apps emulation) is served in front of devhost, and the
stand-in of Azure Monitor log alerts (devstack/log_alerts.py) turns the drift monitor's figures into alerts.

Everything listens on 127.0.0.1. The master key comes from FUNCTIONS_MASTER_KEY (keys never go on a command line), else one is
generated and printed, because the app's EventPublisher uses it as the topic key."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import secrets
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from core.monitoring.figures import FREQUENCY_SECONDS, WINDOW_SECONDS
from devhost import procs
from devstack import NODE_BIN, REPO_ROOT

CONTAINERS = ("raw", "features", "training", "quarantine")
# the Cosmos stand-in (@vercel/cosmosdb-server) accepts any key; this is the emulator's public, documented one
COSMOS_STANDIN_KEY = (
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
)
EVENTS_TOPIC = "lifecycle"
COSMOS_STANDIN = REPO_ROOT / "standins" / "cosmos" / "server.js"


def start_cosmos(port: int, log_path: Path | None = None) -> procs.Proc:
    """The Cosmos DB stand-in on 127.0.0.1:`port` (https, self-signed), with HTTP keep-alive as a Cosmos DB
    account answers: @vercel/cosmosdb-server's own CLI closes every connection, which cost each request of
    the feature store a new TLS connection (43 upserts/s; bench.feature_store). Needs `npm ci` (make setup)."""
    if not (NODE_BIN / "cosmosdb-server").exists():
        raise FileNotFoundError(f"{NODE_BIN / 'cosmosdb-server'} is missing: run `make setup` (npm ci) first")
    return procs.start(
        "cosmosdb-server", ["node", str(COSMOS_STANDIN), "--port", str(port)], port, log_path=log_path
    )


@dataclass
class Stack:
    state_dir: Path
    master_key: str
    devhost_url: str
    connection_string: str
    endpoint_url: str | None
    endpoint_key: str
    env: dict[str, str]
    console_url: str | None = None
    log_alerts_url: str | None = None  # the log-alert stand-in (devstack/log_alerts.py): GET /alerts
    processes: list[procs.Proc] = field(default_factory=list)

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()
        self.processes.clear()


def stack_env(
    state_dir: Path,
    *,
    master_key: str,
    devhost_port: int,
    azurite_port: int,
    endpoint_port: int,
    endpoint_key: str,
) -> dict[str, str]:
    """The settings core/kernel/settings.py reads, pointing every adapter at the local stand-ins."""
    connection = procs.azurite_connection_string(azurite_port)
    return {
        "LIFECYCLE_MODE": "local",
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "FUNCTIONS_MASTER_KEY": master_key,
        "AzureWebJobsStorage": connection,
        "STORAGE_CONNECTION_STRING": connection,
        "LOCAL_STATE_DIR": str(state_dir),
        "ENDPOINT_SERVER_URL": f"http://127.0.0.1:{endpoint_port}",
        "ENDPOINT_SERVER_KEY": endpoint_key,
        "LOCAL_ENDPOINT_KEY": endpoint_key,
        "TRAFFIC_DB_PATH": str(state_dir / "traffic.db"),
        "EVENTS_TOPIC_ENDPOINT": f"http://127.0.0.1:{devhost_port}/runtime/topics/{EVENTS_TOPIC}",
        "EVENTS_TOPIC_KEY": master_key,
        "MLFLOW_TRACKING_URI": os.environ.get("MLFLOW_TRACKING_URI")
        or f"sqlite:///{state_dir / 'mlflow.db'}",
        "DEVHOST_WATCH_BLOBS": "STORAGE_CONNECTION_STRING",
        "DEVHOST_WATCH_CONTAINERS": "raw",
        "DEVHOST_BLOB_EVENTS_FUNCTION": "on_blob_created",
    }


def promotion_env(
    state_dir: Path, *, registry: str, environment: str = "dev", subscribe: str = "on_model_promoted"
) -> dict[str, str]:
    """Both sides of a cross-environment promotion on ONE devhost: this app names its environment
    (the `promoted` CloudEvent's source is /mllifecycle/envs/{environment}/models/{model}), shares
    champions into `registry` (locally a second MLflow store in the state dir), and devhost's topic
    subscription delivers the lifecycle topic's `promoted` events to the deploy-only trigger, as
    prod's Event Grid subscription to dev's topic does on Azure."""
    return {
        "LIFECYCLE_ENVIRONMENT": environment,
        "SHARED_REGISTRY_NAME": registry,
        "SHARED_REGISTRY_TRACKING_URI": f"sqlite:///{state_dir.resolve() / 'shared-registry.db'}",
        "DEVHOST_TOPIC_SUBSCRIPTIONS": f"{EVENTS_TOPIC}:{subscribe}:mllifecycle.promoted",
    }


def promoted_events(stack: Stack, source: str) -> list[dict[str, Any]]:
    """The `promoted` CloudEvents one environment's model published, as devhost's lifecycle topic recorded them
    (both environments publish on the same topic; each event's source names its environment and model)."""
    r = requests.get(
        f"{stack.devhost_url}/runtime/topics/{EVENTS_TOPIC}/events",
        params={"code": stack.master_key, "type": "mllifecycle.promoted"},
        timeout=30,
    )
    r.raise_for_status()
    return [e for e in r.json() if e.get("source") == source]


def _create_containers(connection_string: str) -> None:
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient

    with BlobServiceClient.from_connection_string(connection_string) as service:
        for name in CONTAINERS:
            with contextlib.suppress(ResourceExistsError):
                service.create_container(name)


def _wait_ready(url: str, proc: procs.Proc, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}; see {proc.log_path}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).json().get("state") == "Running":
                return
        time.sleep(0.2)
    raise TimeoutError(f"{proc.name} was not ready within {timeout:.0f}s; see {proc.log_path}")


@contextlib.contextmanager
def running_stack(
    state_dir: Path,
    *,
    app_dir: Path = REPO_ROOT,
    devhost_port: int = 7071,
    azurite_port: int = 10000,
    endpoint_port: int = 8501,
    master_key: str | None = None,
    with_endpoints: bool = True,
    extra_env: dict[str, str] | None = None,
    console_port: int | None = None,
    entity_id_column: str | None = None,
    feature_store_port: int | None = None,
    drift_alerts: tuple[float, int] | None = (FREQUENCY_SECONDS, WINDOW_SECONDS),
) -> Iterator[Stack]:
    """`entity_id_column`: the endpoint server's default input column recorded as the entity id in its
    prediction log (policies with `rollout.gates.entity_id_column` join labels on it).
    `feature_store_port`: also run the Cosmos stand-in there as the online feature store, for the app
    (materialization) and the endpoint server (scoring by entity id). `drift_alerts`: the log-alert
    stand-in's (frequency, window) in seconds, Azure's rule by default; None: not started."""
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    master_key = master_key or os.environ.get("FUNCTIONS_MASTER_KEY") or secrets.token_urlsafe(24)
    endpoint_key = (
        os.environ.get("LOCAL_ENDPOINT_KEY")
        or os.environ.get("ENDPOINT_SERVER_KEY")
        or secrets.token_urlsafe(16)
    )
    env = stack_env(
        state_dir,
        master_key=master_key,
        devhost_port=devhost_port,
        azurite_port=azurite_port,
        endpoint_port=endpoint_port,
        endpoint_key=endpoint_key,
    )
    env["CONSOLE_PRINCIPAL_SECRET"] = secrets.token_urlsafe(
        24
    )  # the console server's proof (core/kernel/authz.py)
    env.update(extra_env or {})  # e.g. LIFECYCLE_POLICY_DIR for the demo's compressed policy
    stack = Stack(
        state_dir=state_dir,
        master_key=master_key,
        devhost_url=f"http://127.0.0.1:{devhost_port}",
        connection_string=env["STORAGE_CONNECTION_STRING"],
        endpoint_url=None,
        endpoint_key=endpoint_key,
        env=env,
    )
    try:
        stack.processes.append(
            procs.start_azurite(state_dir / "azurite", azurite_port, state_dir / "azurite.log")
        )
        _create_containers(stack.connection_string)
        if feature_store_port is not None:
            stack.processes.append(start_cosmos(feature_store_port, state_dir / "cosmos.log"))
            env["FEATURE_STORE_ENDPOINT"] = f"https://127.0.0.1:{feature_store_port}"
            env["FEATURE_STORE_KEY"] = COSMOS_STANDIN_KEY
        if with_endpoints and importlib.util.find_spec("standins.endpoint.server") is not None:
            argv = procs.python_argv(
                "-m", "standins.endpoint.server", "--port", str(endpoint_port),
                "--db", env["TRAFFIC_DB_PATH"], "--state-dir", str(state_dir / "endpoints"),
                "--tracking-uri", env["MLFLOW_TRACKING_URI"],
                *(["--entity-id-column", entity_id_column] if entity_id_column else []),
            )  # fmt: skip
            stack.processes.append(
                procs.start(
                    "endpoints",
                    argv,
                    endpoint_port,
                    log_path=state_dir / "endpoints.log",
                    env=env,
                    cwd=REPO_ROOT,
                )
            )
            stack.endpoint_url = env["ENDPOINT_SERVER_URL"]
        argv = procs.python_argv(
            "-m", "devhost", "start", str(app_dir), "--port", str(devhost_port),
            "--state-dir", str(state_dir / "devhost"), "--blob-events-optional",
        )  # fmt: skip
        devhost = procs.start(
            "devhost", argv, devhost_port, log_path=state_dir / "devhost.log", env=env, cwd=REPO_ROOT
        )
        stack.processes.append(devhost)
        _wait_ready(f"{stack.devhost_url}/admin/host/status", devhost)
        if drift_alerts is not None:
            port = procs.free_port()
            argv = procs.python_argv(
                "-m", "devstack.log_alerts", "--db", str(state_dir / "drift-figures.db"),
                "--alerts-url", f"{stack.devhost_url}/api/alerts", "--frequency", str(drift_alerts[0]),
                "--window", str(drift_alerts[1]), "--port", str(port),
            )  # fmt: skip
            stack.processes.append(
                procs.start(
                    "log-alerts", argv, port, log_path=state_dir / "log-alerts.log", env=env, cwd=REPO_ROOT
                )
            )
            stack.log_alerts_url = f"http://127.0.0.1:{port}"
        if console_port is not None:
            argv = procs.python_argv(
                "-m", "devstack.console", "--port", str(console_port), "--devhost", stack.devhost_url
            )  # fmt: skip
            stack.processes.append(
                procs.start(
                    "console", argv, console_port, log_path=state_dir / "console.log", env=env, cwd=REPO_ROOT
                )
            )
            stack.console_url = f"http://127.0.0.1:{console_port}"
        yield stack
    finally:
        stack.stop()


def _follow(path: Path, offset: int) -> int:
    """Copy what devhost logged since `offset` to our stdout, so `make run` shows invocations live."""
    with contextlib.suppress(FileNotFoundError), open(path, "rb") as handle:
        handle.seek(offset)
        chunk = handle.read()
        if chunk:
            sys.stdout.write(chunk.decode("utf-8", errors="replace"))
            sys.stdout.flush()
        return offset + len(chunk)
    return offset


def run(args: argparse.Namespace) -> int:
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        with running_stack(
            Path(args.state_dir),
            devhost_port=args.port,
            azurite_port=args.azurite_port,
            endpoint_port=args.endpoint_port,
            with_endpoints=not args.no_endpoints,
            console_port=args.console_port,
            entity_id_column=args.entity_id_column or None,
        ) as stack:
            print(
                f"\nLocal stack up (state in {stack.state_dir}):\n"
                f"  devhost        {stack.devhost_url}   master key: {stack.master_key}\n"
                f"  Azurite blob   {stack.connection_string.split('BlobEndpoint=')[1].rstrip(';')}\n"
                f"  endpoints      {stack.endpoint_url or '(standins.endpoint.server not available)'}\n"
                f"  console        {stack.console_url}/   (sign in as reader or operator)\n"
                f"  lifecycle events: GET {stack.devhost_url}/runtime/topics/{EVENTS_TOPIC}/events?code=<key>\n"
                "Ctrl-C stops everything.\n",
                flush=True,
            )
            offset = 0
            while not stop:
                offset = _follow(stack.state_dir / "devhost.log", offset)
                dead = [p for p in stack.processes if p.popen.poll() is not None]
                if dead:
                    print(
                        f"{dead[0].name} exited ({dead[0].popen.returncode}); stopping the stack",
                        file=sys.stderr,
                    )
                    return 1
                time.sleep(0.5)
    except (RuntimeError, TimeoutError) as exc:
        print(f"local stack failed to start: {exc}", file=sys.stderr)
        return 1
    print("local stack stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.stack", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="start the local stack until Ctrl-C")
    run_parser.add_argument("--state-dir", default=str(REPO_ROOT / ".local"))
    run_parser.add_argument("--port", type=int, default=7071)
    run_parser.add_argument("--azurite-port", type=int, default=10000)
    run_parser.add_argument("--endpoint-port", type=int, default=8501)
    run_parser.add_argument("--console-port", type=int, default=4280)
    run_parser.add_argument("--no-endpoints", action="store_true")
    run_parser.add_argument(
        "--entity-id-column",
        default="customer_id",
        help="input column the endpoint server's prediction log records as the entity id ('' for none)",
    )
    args = parser.parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
