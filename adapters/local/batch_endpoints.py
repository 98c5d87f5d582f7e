"""LocalBatchEndpoints: the BatchEndpoints port on this machine, scoring with the same MLflow model.

A batch "endpoint" is an entry in `state_dir/batch/endpoints.json` (its deployments, each a
downloaded copy of one registered model version, and its default), changed under a file lock so
the host and a test or CLI can share it. A scoring job is a detached runner process
(`python -m adapters.local.batch_endpoints run JOB_DIR`) that loads the deployment's model with
`mlflow.pyfunc`, scores every CSV/Parquet file of the input and writes `predictions.csv` as an
Azure ML MLflow batch deployment does: no header, one line per row, `row, prediction, file`
(how-to-mlflow-batch.md; core/batch/runs.py PREDICTION_COLUMNS). Every fact lives in files, so a restarted host still
answers `status`:

    batch/endpoints.json            endpoints, deployments, defaults
    batch/models/{endpoint}/{dep}/  the deployment's MLflow model folder
    batch/jobs/{job}/spec.json      what to score (written before the runner starts)
    batch/jobs/{job}/job.json       runner pid and its start time
    batch/jobs/{job}/result.json    final state, rows scored (written by the runner)
    batch/jobs/{job}/std.log        the runner's output
    {output_uri}/predictions.csv    row, prediction, file (no header, as Azure ML writes it)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from adapters.local.training_jobs import (
    REPO_ROOT,
    _alive,
    _local_path,
    _log_tail,
    _proc_start_ticks,
    _read_json,
    _write_json,
)
from core.kernel.ports import (
    BatchDefaultError,
    BatchDeploymentInfo,
    BatchEndpointInfo,
    BatchJobStatus,
    ModelVersion,
)

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]$")  # endpoint and deployment names
_JOB_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
_QUEUED_GRACE_S = 120.0
PREDICTIONS_FILE = "predictions.csv"
INPUT_SUFFIXES = (".csv", ".parquet", ".pq")


class ModelSource(Protocol):
    """Where deployments get their model: the workspace registry, or the shared registry in prod."""

    def download(self, name: str, version: str, dest: Path) -> Path: ...


def _check(kind: str, name: str) -> str:
    if not _NAME_RE.match(name):
        raise ValueError(f"{kind} name {name!r}: use 3-32 letters, digits and '-', starting with a letter")
    return name


class LocalBatchEndpoints:
    def __init__(
        self,
        state_dir: Path,
        models: ModelSource,
        *,
        python: str = sys.executable,
        fetch: Callable[[str, Path], Path] | None = None,
    ) -> None:
        """`fetch(uri, folder) -> path` materialises a remote input (e.g. an Azurite blob prefix);
        without it inputs must be local paths or file:// URIs."""
        self.root = Path(state_dir).resolve() / "batch"
        self.models = models
        self.python = python
        self.fetch = fetch
        self._children: dict[str, subprocess.Popen] = {}

    # ------------------------------------------------------------------ endpoints and deployments

    def ensure_endpoint(self, endpoint: str) -> BatchEndpointInfo:
        _check("batch endpoint", endpoint)
        with self._state() as state:
            state.setdefault(endpoint, {"default": None, "deployments": {}})
        return self.get(endpoint)

    def get(self, endpoint: str) -> BatchEndpointInfo:
        state = self._read_state()
        if endpoint not in state:
            raise KeyError(f"batch endpoint {endpoint!r} does not exist under {self.root}")
        entry = state[endpoint]
        return BatchEndpointInfo(
            name=endpoint,
            scoring_uri=(self.root / "models" / endpoint).as_uri(),
            default_deployment=entry["default"],
            deployments={n: self._dep_info(n, d) for n, d in entry["deployments"].items()},
        )

    def begin_deploy(
        self,
        endpoint: str,
        deployment: str,
        model: ModelVersion,
        *,
        compute: str | None = None,
        instance_count: int = 1,
        mini_batch_size: int = 10,
    ) -> BatchDeploymentInfo:
        """Locally the model is copied in now, so the deployment is succeeded (or failed) at once."""
        _check("batch deployment", deployment)
        current = self.deployment(endpoint, deployment)
        if current.state == "succeeded" and (current.model_name, current.model_version) == (
            model.name,
            model.version,
        ):
            return current  # idempotent: a replayed activity does not redeploy
        folder = self.root / "models" / endpoint / deployment
        shutil.rmtree(folder, ignore_errors=True)
        record: dict[str, Any] = {
            "model_name": model.name,
            "model_version": model.version,
            "created_at": datetime.now(UTC).isoformat(),
            "mini_batch_size": mini_batch_size,
        }
        try:
            model_dir = self.models.download(model.name, model.version, folder)
            record.update(state="succeeded", model_dir=str(model_dir), message="")
        except Exception as exc:  # recorded, so the orchestrator sees a failed deployment
            record.update(state="failed", model_dir="", message=f"{type(exc).__name__}: {exc}")
        with self._state() as state:
            if endpoint not in state:
                raise KeyError(f"batch endpoint {endpoint!r} does not exist; ensure_endpoint first")
            state[endpoint]["deployments"][deployment] = record
        return self._dep_info(deployment, record)

    def deployment(self, endpoint: str, deployment: str) -> BatchDeploymentInfo:
        entry = self._read_state().get(endpoint, {}).get("deployments", {}).get(deployment)
        if entry is None:
            return BatchDeploymentInfo(deployment, "", "", "missing")
        return self._dep_info(deployment, entry)

    def set_default(self, endpoint: str, deployment: str) -> BatchEndpointInfo:
        with self._state() as state:
            dep = state.get(endpoint, {}).get("deployments", {}).get(deployment)
            if dep is None:
                raise KeyError(f"batch endpoint {endpoint!r} has no deployment {deployment!r}")
            if dep["state"] != "succeeded":
                raise ValueError(
                    f"deployment {deployment!r} is {dep['state']}: only a succeeded one can be default"
                )
            state[endpoint]["default"] = deployment
        return self.get(endpoint)

    def delete_deployment(self, endpoint: str, deployment: str) -> None:
        with self._state() as state:
            entry = state.get(endpoint)
            if entry is None or deployment not in entry["deployments"]:
                return  # already gone: deleting is idempotent
            if entry["default"] == deployment:
                raise BatchDefaultError(
                    f"deployment {deployment!r} is the default of batch endpoint {endpoint!r}; "
                    "make another deployment default first"
                )
            del entry["deployments"][deployment]
        shutil.rmtree(self.root / "models" / endpoint / deployment, ignore_errors=True)

    # ------------------------------------------------------------------ jobs

    def submit(
        self,
        endpoint: str,
        *,
        job_name: str,
        input_uri: str,
        output_uri: str,
        deployment: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> BatchJobStatus:
        if not _JOB_RE.match(job_name):
            raise ValueError(f"job name {job_name!r} must be 1-255 letters, digits, '_', '-' or '.'")
        job_dir = self.root / "jobs" / job_name
        if job_dir.exists():
            return self.status(job_name)  # idempotent: a replayed submit never scores twice
        info = self.get(endpoint)
        chosen = deployment or info.default_deployment
        if chosen is None:
            raise ValueError(
                f"batch endpoint {endpoint!r} has no default deployment; name one or set a default"
            )
        dep = self._read_state()[endpoint]["deployments"].get(chosen)
        if dep is None or dep["state"] != "succeeded":
            raise ValueError(f"batch endpoint {endpoint!r} has no succeeded deployment {chosen!r}")
        source = self._input(input_uri, job_name)
        output = _local_path(output_uri, base=Path.cwd())
        spec = {
            "name": job_name,
            "endpoint": endpoint,
            "deployment": chosen,
            "model_name": dep["model_name"],
            "model_version": dep["model_version"],
            "model_dir": dep["model_dir"],
            "input_uri": input_uri,
            "input_path": str(source),
            "output_uri": output_uri,
            "output_path": str(output),
            "tags": dict(tags or {}),
            "submitted_at": datetime.now(UTC).isoformat(),
        }
        job_dir.parent.mkdir(parents=True, exist_ok=True)
        try:
            job_dir.mkdir()  # atomic claim of the name, also against a concurrent submit
        except FileExistsError:
            return self.status(job_name)
        _write_json(job_dir / "spec.json", spec)
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
        with (job_dir / "std.log").open("ab") as log:
            proc = subprocess.Popen(
                [self.python, "-m", "adapters.local.batch_endpoints", "run", str(job_dir)],
                cwd=str(REPO_ROOT),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._children[job_name] = proc
        _write_json(job_dir / "job.json", {"pid": proc.pid, "pid_start_ticks": _proc_start_ticks(proc.pid)})
        return self.status(job_name)

    def status(self, job_name: str) -> BatchJobStatus:
        job_dir = self.root / "jobs" / job_name
        spec = _read_json(job_dir / "spec.json")
        if spec is None:
            if job_dir.exists() and time.time() - job_dir.stat().st_mtime < _QUEUED_GRACE_S:
                return BatchJobStatus(job_name, "", "", "queued", "", "", message="being submitted")
            if job_dir.exists():
                return BatchJobStatus(
                    job_name, "", "", "failed", "", "", message=f"submission was interrupted; see {job_dir}"
                )
            raise KeyError(f"no local batch job named {job_name!r} under {self.root / 'jobs'}")
        if (child := self._children.get(job_name)) is not None:
            child.poll()  # reap our own child so its pid does not linger as a zombie
        result = _read_json(job_dir / "result.json")
        if result is None:
            job = _read_json(job_dir / "job.json")
            if job is None:
                return self._status(spec, "queued", message="waiting for the runner to start")
            if _alive(int(job["pid"]), job.get("pid_start_ticks")):
                return self._status(spec, "running")
            result = _read_json(job_dir / "result.json")  # it may have finished just now
            if result is None:
                return self._status(
                    spec,
                    "failed",
                    message="the scoring process died without a result (killed, or its host crashed)\n"
                    + _log_tail(job_dir / "std.log"),
                )
        message = result.get("message", "")
        if result["state"] == "failed":
            message = f"{message}\n{_log_tail(job_dir / 'std.log')}".strip()
        return self._status(spec, result["state"], message=message, rows=result.get("rows"))

    def download_output(self, job_name: str, dest: Path) -> Path:
        current = self.status(job_name)
        if current.state != "completed":
            raise RuntimeError(f"batch job {job_name!r} is {current.state}, not completed: no predictions")
        spec = _read_json(self.root / "jobs" / job_name / "spec.json") or {}
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(spec["output_path"]) / PREDICTIONS_FILE, dest / PREDICTIONS_FILE)
        return dest / PREDICTIONS_FILE

    # ------------------------------------------------------------------ helpers

    @contextlib.contextmanager
    def _state(self) -> Iterator[dict[str, Any]]:
        """Read-modify-write endpoints.json under an exclusive lock."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "endpoints.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                state = self._read_state()
                yield state
                _write_json(self.root / "endpoints.json", state)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read_state(self) -> dict[str, Any]:
        return _read_json(self.root / "endpoints.json") or {}

    @staticmethod
    def _dep_info(name: str, entry: dict[str, Any]) -> BatchDeploymentInfo:
        return BatchDeploymentInfo(
            name=name,
            model_name=entry["model_name"],
            model_version=entry["model_version"],
            state=entry["state"],
            message=entry.get("message", ""),
            created_at=datetime.fromisoformat(entry["created_at"]),
        )

    def _input(self, input_uri: str, job_name: str) -> Path:
        if self.fetch is not None and not input_uri.startswith("file://") and "://" in input_uri:
            return Path(self.fetch(input_uri, self.root / "inputs" / job_name))
        path = _local_path(input_uri, base=Path.cwd())
        if not path.exists():
            raise FileNotFoundError(f"batch input {input_uri} does not exist")
        return path

    @staticmethod
    def _status(
        spec: dict[str, Any], state: Any, *, message: str = "", rows: int | None = None
    ) -> BatchJobStatus:
        return BatchJobStatus(
            name=spec["name"],
            endpoint=spec["endpoint"],
            deployment=spec["deployment"],
            state=state,
            input_uri=spec["input_uri"],
            output_uri=spec["output_uri"],
            message=message,
            model_name=spec["model_name"],
            model_version=spec["model_version"],
            rows=rows,
        )


# ---------------------------------------------------------------------- the runner process


def input_files(path: Path) -> list[Path]:
    """The CSV/Parquet files of a batch input (a file, or a folder scanned recursively)."""
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"{path} holds no {'/'.join(INPUT_SUFFIXES)} files to score")
    return files


def _score(spec: dict[str, Any]) -> int:
    import mlflow.pyfunc
    import numpy as np
    import pandas as pd

    model = mlflow.pyfunc.load_model(spec["model_dir"])
    out = Path(spec["output_path"])
    out.mkdir(parents=True, exist_ok=True)
    frames = []
    for file in input_files(Path(spec["input_path"])):
        frame = pd.read_csv(file) if file.suffix.lower() == ".csv" else pd.read_parquet(file)
        predictions = np.asarray(model.predict(frame))
        if predictions.ndim > 1:
            predictions = predictions[:, -1] if predictions.shape[1] > 1 else predictions[:, 0]
        frames.append(
            pd.DataFrame({"row": np.arange(len(frame)), "prediction": predictions, "file": file.name})
        )
    scored = pd.concat(frames, ignore_index=True)
    tmp = out / f".{PREDICTIONS_FILE}.{os.getpid()}.tmp"
    scored.to_csv(tmp, index=False, header=False)
    os.replace(tmp, out / PREDICTIONS_FILE)  # readers never see half a file
    return len(scored)


def _run(job_dir: Path) -> int:
    spec = json.loads((job_dir / "spec.json").read_text())
    result: dict[str, Any] = {"state": "failed", "message": "", "rows": None}
    try:
        result.update(state="completed", rows=_score(spec))
    except Exception as exc:
        traceback.print_exc()
        result["message"] = f"scoring failed: {type(exc).__name__}: {exc}"
    finally:
        result["finished_at"] = datetime.now(UTC).isoformat()
        _write_json(job_dir / "result.json", result)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "run":
        sys.exit("usage: python -m adapters.local.batch_endpoints run JOB_DIR")
    sys.exit(_run(Path(sys.argv[2])))
