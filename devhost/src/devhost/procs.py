"""Start and stop the local stand-ins as child processes, each stopped by its own PID.

Used by the local stack launcher (make run / make demo) and by tests' fixtures."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path


def node_bin() -> Path:
    """Where Azurite (and other npm tools) are: DEVHOST_NODE_BIN, else ./node_modules/.bin of the current directory."""
    return Path(os.environ.get("DEVHOST_NODE_BIN") or Path.cwd() / "node_modules" / ".bin")


# Azurite's well-known development account (public, documented key; local only).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(
    port: int, host: str = "127.0.0.1", timeout: float = 30.0, proc: subprocess.Popen | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"process {proc.args!r} exited with {proc.returncode} before listening on {port}"
            )
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on {host}:{port} within {timeout:.0f}s")


@dataclass
class Proc:
    """A child process started in its own process group, stopped by its PID."""

    name: str
    popen: subprocess.Popen
    port: int
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)


def start(
    name: str,
    argv: Sequence[str],
    port: int,
    *,
    log_path: Path | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60.0,
) -> Proc:
    # 0600: a process's log may hold what it was given (keys in its environment are not printed,
    # but an app's own logging might)
    out = (
        os.fdopen(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
        if log_path
        else subprocess.DEVNULL
    )
    popen = subprocess.Popen(
        list(argv),
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        cwd=str(cwd) if cwd else None,
        start_new_session=True,
    )
    proc = Proc(name, popen, port, log_path)
    try:
        wait_for_port(port, timeout=timeout, proc=popen)
    except BaseException:
        proc.stop()
        raise
    return proc


def azurite_connection_string(blob_port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{blob_port}/{AZURITE_ACCOUNT};"
    )


def start_azurite(data_dir: Path, port: int | None = None, log_path: Path | None = None) -> Proc:
    """Azurite's blob service only (the data lake); --skipApiVersionCheck lets newer SDKs talk to it."""
    exe = node_bin() / "azurite-blob"
    if not exe.exists():
        raise RuntimeError(f"{exe} is missing: run `make setup` (npm ci) first")
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        str(exe),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--location",
        str(data_dir),
        "--skipApiVersionCheck",
        "--loose",
        "--silent",
    ]
    return start("azurite", argv, port, log_path=log_path)


@contextlib.contextmanager
def running(proc: Proc) -> Iterator[Proc]:
    try:
        yield proc
    finally:
        proc.stop()


def python_argv(*args: str) -> list[str]:
    return [sys.executable, *args]
