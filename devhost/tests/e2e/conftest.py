"""devhost started as a real process on the sample app, driven over HTTP only; stopped by its PID."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from devhost import procs

DEVHOST_ROOT = Path(__file__).resolve().parents[2]
APPS = DEVHOST_ROOT / "tests" / "apps"
PATTERNS_APP = APPS / "durable_patterns"
MASTER_KEY = "e2e-master-key"
TERMINAL = {"Completed", "Failed", "Terminated", "Canceled"}


@dataclass
class Devhost:
    proc: procs.Proc
    base_url: str
    master_key: str
    state_dir: Path
    data_dir: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stored_key(self, name: str) -> str:
        """Keys are in the state dir's keys.json (0600); the banner only shows them masked."""
        return json.loads((self.state_dir / "keys.json").read_text(encoding="utf-8"))[name]

    @property
    def function_key(self) -> str:
        return self.stored_key("function_default")

    @property
    def eventgrid_key(self) -> str:
        return self.stored_key("eventgrid_extension")

    @property
    def durable_key(self) -> str:
        return self.stored_key("durabletask_extension")

    @property
    def durable(self) -> bool:
        return bool(requests.get(f"{self.base_url}/admin/host/status", timeout=5).json().get("durable"))

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def get(self, path: str, *, key: str | None = None, **kwargs: Any) -> requests.Response:
        params = {**kwargs.pop("params", {}), **({"code": key} if key else {})}
        return requests.get(self.url(path), params=params, timeout=10, **kwargs)

    def post(self, path: str, *, key: str | None = None, **kwargs: Any) -> requests.Response:
        params = {**kwargs.pop("params", {}), **({"code": key} if key else {})}
        return requests.post(self.url(path), params=params, timeout=10, **kwargs)

    def start(
        self, orchestrator: str, payload: Any = None, instance_id: str | None = None
    ) -> requests.Response:
        path = f"/api/orchestrators/{orchestrator}" + (f"/{instance_id}" if instance_id else "")
        return self.post(path, key=self.master_key, json=payload)

    def wait_for(
        self, status_url: str, *, timeout: float = 30.0, until: Callable[[dict], bool] | None = None
    ) -> dict:
        done = until or (lambda s: s.get("runtimeStatus") in TERMINAL)
        deadline = time.monotonic() + timeout
        status: dict = {}
        while time.monotonic() < deadline:
            response = requests.get(status_url, timeout=10)
            if response.status_code in (200, 202) and response.content:
                status = response.json()
                if done(status):
                    return status
            time.sleep(0.1)
        raise AssertionError(
            f"instance not done within {timeout}s; last status {status}\n{self.log()[-3000:]}"
        )

    def run(self, orchestrator: str, payload: Any = None, timeout: float = 30.0) -> dict:
        started = self.start(orchestrator, payload)
        assert started.status_code == 202, started.text
        return self.wait_for(started.json()["statusQueryGetUri"], timeout=timeout)


def start_devhost(
    app_dir: Path,
    state_dir: Path,
    data_dir: Path,
    *,
    extra_args: tuple[str, ...] = (),
    port: int | None = None,
    env: dict[str, str] | None = None,
) -> Devhost:
    port = port or procs.free_port()
    log_path = state_dir.parent / f"{state_dir.name}-devhost.log"
    argv = procs.python_argv(
        "-m", "devhost", "start", str(app_dir), "--port", str(port), "--state-dir", str(state_dir),
        *extra_args,
    )  # fmt: skip
    proc = procs.start(
        "devhost",
        argv,
        port,
        log_path=log_path,
        env={"PATTERNS_DATA_DIR": str(data_dir), "FUNCTIONS_MASTER_KEY": MASTER_KEY, **(env or {})},
        cwd=DEVHOST_ROOT,
    )
    host = Devhost(proc, f"http://127.0.0.1:{port}", MASTER_KEY, state_dir, data_dir, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            status = requests.get(host.url("/admin/host/status"), timeout=2).json()
            if status.get("state") == "Running" and "Host listening" in host.log():
                return host
        except requests.RequestException:
            pass
        time.sleep(0.1)
    proc.stop()
    raise AssertionError(f"devhost did not become ready:\n{host.log()}")


@pytest.fixture(scope="package")
def patterns_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    root = tmp_path_factory.mktemp("patterns")
    host = start_devhost(PATTERNS_APP, root / "state", root / "data")
    try:
        yield host
    finally:
        host.proc.stop()


@pytest.fixture
def durable_host(patterns_host: Devhost) -> Devhost:
    if not patterns_host.durable:
        pytest.skip("devhost/durable/engine.py is not there yet: durable patterns cannot run")
    return patterns_host
