"""LocalTrainingJobs: the TrainingJobs port as subprocesses, from the SAME Azure ML job YAML.

`azure.ai.ml.load_job` parses the YAML exactly as the Azure adapter does; the command's
`${{inputs.x}}`, `${{outputs.y}}` and optional `$[[...]]` blocks are rendered with local paths,
and the command runs in this repo's virtualenv (built from the job environment's requirements).

Why a detached runner process (`python -m adapters.local.training_jobs run JOB_DIR`) instead of
running the command directly: the Functions host that submitted a job may restart while it
trains. The runner owns the job's whole life (creates the MLflow run with the job's tags, runs
the command with MLFLOW_RUN_ID set as Azure ML does, closes the run, writes result.json), and every
fact lives in files under state_dir/jobs/{name}/ so any process can answer `status`:

    spec.json    what to run (written once, before the job folder is claimed)
    job.json     state, when a runner was last launched, cancel request (the submitting side)
    runner.lock  held (fcntl) by the one runner of this job for its whole life
    runner.json  runner pid + start time (written by the runner once it holds the lock)
    run.json     MLflow run id (written by the runner)
    result.json  exit code, final state, metrics (written by the runner when it ends)
    std.log      the command's stdout and stderr
    outputs/{y}  the job's outputs
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from adapters.local.mlflow_uris import (
    absolute_tracking_uri,
    default_artifact_root,
    download_model,
    ensure_store,
)
from core.kernel.ports import JobStatus
from core.training.jobs import check_job_name

REPO_ROOT = Path(__file__).resolve().parents[2]
_REF_RE = re.compile(r"\$\{\{\s*(inputs|outputs)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_OPTIONAL_RE = re.compile(r"\$\[\[(.*?)\]\]", re.DOTALL)
_PATH_TYPES = {"uri_folder", "uri_file", "mlflow_model", "custom_model", "triton_model", "mltable"}
_QUEUED_GRACE_S = 120.0
_CANCEL_GRACE_S = 10.0
_LOG_TAIL_LINES = 25
# A runner launched this long ago that has not written runner.json never started (its
# submitter died between claiming the job and starting it): status() launches it again.
_LAUNCH_GRACE_S = 10.0

# What a local training job inherits from the host's environment: enough to run Python and
# find the machine's locale, temp dir and GPUs; never devhost's keys or connection strings.
_ENV_PASSTHROUGH = frozenset(
    {
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM",
        "TMPDIR", "TEMP", "TMP", "VIRTUAL_ENV", "SSL_CERT_FILE", "SSL_CERT_DIR",
        "CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
        "NUMEXPR_NUM_THREADS", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE", "PYTHONIOENCODING",
    }
)  # fmt: skip
_ENV_PREFIXES = ("LC_",)


def job_environment(base: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """The allow-listed part of `base` (see _ENV_PASSTHROUGH)."""
    return {k: v for k, v in base.items() if k in _ENV_PASSTHROUGH or k.startswith(_ENV_PREFIXES)}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def _proc_start_ticks(pid: int) -> int | None:
    """Process start time in clock ticks (Linux), to tell our runner from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])


def _alive(pid: int, start_ticks: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[0] in ("Z", "X"):  # exited, not yet reaped by its parent
                return False
            if start_ticks is not None and int(fields[19]) != start_ticks:
                return False  # the pid was reused by another process
    return True


def _legacy_runner(job: dict[str, Any]) -> dict[str, Any] | None:
    """Jobs submitted by the previous version recorded the runner's pid in job.json."""
    if job.get("pid") is None:
        return None
    return {"pid": job["pid"], "pid_start_ticks": job.get("pid_start_ticks")}


def _is_remote(value: str) -> bool:
    return (
        bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", value)) and not value.startswith("file://")
    ) or value.startswith("azureml:")


def _local_path(value: str, *, base: Path) -> Path:
    if value.startswith("file://"):
        parsed = urlparse(value)
        return Path(unquote(parsed.path))
    if _is_remote(value):
        raise ValueError(
            f"input {value!r} is a remote URI; local jobs read local paths or file:// URIs "
            "(download the data first, or build LocalTrainingJobs with a fetch= function)"
        )
    path = Path(value)
    return path if path.is_absolute() else (base / path).resolve()


def _log_tail(log: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = log.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


class LocalTrainingJobs:
    """TrainingJobs on this machine: each job is a detached subprocess tracked on disk."""

    def __init__(
        self,
        state_dir: Path,
        tracking_uri: str,
        python: str = sys.executable,
        fetch: Callable[[str, Path], Path] | None = None,
        launch_grace_s: float = _LAUNCH_GRACE_S,
    ) -> None:
        """`fetch(uri, folder) -> path` materialises a remote input (e.g. a data version's blob
        prefix in Azurite) under `folder` and returns the path to pass; without it, inputs must
        be local paths or file:// URIs. Fetched inputs are cached by URI (data versions are
        content-addressed, so a URI never changes content)."""
        self.state_dir = Path(state_dir).resolve()
        self.tracking_uri = absolute_tracking_uri(tracking_uri)
        self.python = python
        self.fetch = fetch
        self.launch_grace_s = launch_grace_s
        self._children: dict[str, subprocess.Popen] = {}

    # ------------------------------------------------------------------ port

    def submit(
        self,
        job_yaml: Path,
        *,
        name: str,
        inputs: dict[str, str],
        experiment: str,
        tags: dict[str, str],
        compute: str | None = None,
    ) -> JobStatus:
        check_job_name(name)
        job_dir = self._dir(name)
        if job_dir.exists():  # idempotent: a replayed submit never trains twice...
            self._ensure_runner(name, grace_s=0.0)  # ...but starts a runner that never started
            return self.status(name)
        spec = self._spec(
            Path(job_yaml), name=name, inputs=inputs, experiment=experiment, tags=tags, compute=compute
        )
        job_dir.parent.mkdir(parents=True, exist_ok=True)
        self._remove_stale_builds(name)
        # Build the whole job folder under a temporary name, then claim the name with one
        # rename: a crash before it leaves no job, a crash after it leaves a complete one.
        build = job_dir.parent / f".{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.build"
        build.mkdir()
        for key in spec["outputs"]:
            (build / "outputs" / key).mkdir(parents=True)
        shim = build / "bin" / "python"
        shim.parent.mkdir()
        shim.write_text(f'#!/bin/sh\nexec {shlex.quote(self.python)} "$@"\n')
        shim.chmod(0o755)
        _write_json(build / "spec.json", spec)
        _write_json(
            build / "job.json", {"name": name, "state": "queued", "submitted_at": spec["submitted_at"]}
        )
        try:
            os.rename(build, job_dir)  # fails on an existing, non-empty folder: someone else won
        except OSError as exc:
            shutil.rmtree(build, ignore_errors=True)
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            self._ensure_runner(name, grace_s=0.0)
            return self.status(name)
        self._launch(name)
        return self.status(name)

    def _remove_stale_builds(self, name: str) -> None:
        """Builds left by submitters that died before their rename."""
        for stale in self._dir(name).parent.glob(f".{name}.*.build"):
            pid = stale.name[len(name) + 2 :].split(".", 1)[0]
            if pid.isdigit() and not _alive(int(pid), None):
                shutil.rmtree(stale, ignore_errors=True)

    def _launch(self, name: str) -> None:
        """Start a runner for the job. Safe to repeat: a runner that finds the job's lock held,
        or the job already started once, exits without doing anything."""
        job_dir = self._dir(name)
        job = _read_json(job_dir / "job.json") or {"name": name}
        _write_json(
            job_dir / "job.json",
            {**job, "launched_at": time.time(), "launches": int(job.get("launches", 0)) + 1},
        )
        env = job_environment(os.environ)
        env["PYTHONPATH"] = str(REPO_ROOT)
        with (job_dir / "std.log").open("ab") as log:
            proc = subprocess.Popen(
                [self.python, "-m", "adapters.local.training_jobs", "run", str(job_dir)],
                cwd=str(REPO_ROOT),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: cancel kills it and its children only
            )
        if (old := self._children.get(name)) is not None:
            old.poll()
        self._children[name] = proc

    def _ensure_runner(self, name: str, *, grace_s: float) -> None:
        """Launch a runner if none ever started and the last launch is older than grace_s."""
        job_dir = self._dir(name)
        job = _read_json(job_dir / "job.json")
        if job is None or _read_json(job_dir / "spec.json") is None:
            return
        if job.get("state") == "canceled" or (job_dir / "runner.json").exists() or _legacy_runner(job):
            return
        if (job_dir / "result.json").exists():
            return
        launched = job.get("launched_at")
        if isinstance(launched, int | float) and time.time() - launched < grace_s:
            return
        self._launch(name)

    def status(self, name: str) -> JobStatus:
        job_dir = self._dir(name)
        spec = _read_json(job_dir / "spec.json")
        job = _read_json(job_dir / "job.json")
        if spec is None or job is None:
            if job_dir.exists() and time.time() - job_dir.stat().st_mtime < _QUEUED_GRACE_S:
                return JobStatus(name=name, state="queued", message="being submitted")
            if job_dir.exists():
                return JobStatus(
                    name=name, state="failed", message=f"submission of {name} was interrupted; see {job_dir}"
                )
            raise KeyError(f"no local job named {name!r} under {self.state_dir / 'jobs'}")
        if (child := self._children.get(name)) is not None:
            child.poll()  # reap our own child so its pid does not linger as a zombie

        result = _read_json(job_dir / "result.json")
        if result is None and job.get("state") != "canceled":
            runner = _read_json(job_dir / "runner.json") or _legacy_runner(job)
            if runner is None:
                self._ensure_runner(name, grace_s=self.launch_grace_s)
                return self._status(name, spec, "queued", message="waiting for the runner to start")
            pid = runner["pid"]
            if _alive(int(pid), runner.get("pid_start_ticks")):
                return self._status(name, spec, "running")
            result = _read_json(job_dir / "result.json")  # it may have finished just now
            if result is None:
                return self._status(
                    name,
                    spec,
                    "failed",
                    message=f"job process {pid} died without writing an exit code (killed, or its host crashed)\n"
                    + _log_tail(job_dir / "std.log"),
                )
        if result is None:  # cancel requested, runner not finished yet
            return self._status(name, spec, "canceled", message="canceled on request")
        state = result["state"]
        message = result.get("message", "")
        if state == "failed":
            message = f"{message}\n{_log_tail(job_dir / 'std.log')}".strip()
        return self._status(name, spec, state, message=message, metrics=result.get("metrics") or {})

    def cancel(self, name: str) -> JobStatus:
        current = self.status(name)
        if current.done:
            return current
        job_dir = self._dir(name)
        job = _read_json(job_dir / "job.json") or {"name": name}
        _write_json(
            job_dir / "job.json", {**job, "state": "canceled", "canceled_at": datetime.now(UTC).isoformat()}
        )
        # job.json says canceled before runner.json is read; the runner writes runner.json
        # before it reads job.json: a runner starting now either is seen here or sees the cancel
        runner = _read_json(job_dir / "runner.json") or _legacy_runner(job) or {}
        pid, ticks = runner.get("pid"), runner.get("pid_start_ticks")
        if pid is not None and _alive(int(pid), ticks):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(pid), signal.SIGTERM)
            deadline = time.monotonic() + _CANCEL_GRACE_S
            while time.monotonic() < deadline:
                if (child := self._children.get(name)) is not None:
                    child.poll()
                if not _alive(int(pid), ticks):
                    break
                time.sleep(0.1)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(int(pid), signal.SIGKILL)
        if (child := self._children.pop(name, None)) is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(5)
        return self.status(name)

    def download_output(self, name: str, output: str, dest: Path) -> Path:
        current = self.status(name)
        spec = _read_json(self._dir(name) / "spec.json") or {}
        outputs = spec.get("outputs", {})
        if output not in outputs:
            raise KeyError(f"job {name!r} has no output {output!r}; its outputs are {sorted(outputs)}")
        if current.state != "completed":
            raise RuntimeError(f"job {name!r} is {current.state}, not completed: its outputs are not final")
        dest = Path(dest)
        shutil.copytree(outputs[output], dest, dirs_exist_ok=True)
        return dest

    # ------------------------------------------------------------------ helpers

    def _dir(self, name: str) -> Path:
        check_job_name(name)
        return self.state_dir / "jobs" / name

    def _status(
        self,
        name: str,
        spec: dict[str, Any],
        state: Any,
        *,
        message: str = "",
        metrics: dict[str, float] | None = None,
    ) -> JobStatus:
        return JobStatus(
            name=name,
            state=state,
            message=message,
            studio_url=(self._dir(name) / "std.log").as_uri(),
            outputs=dict(spec["outputs"]),
            metrics=dict(metrics or {}),
        )

    def _spec(
        self,
        job_yaml: Path,
        *,
        name: str,
        inputs: dict[str, str],
        experiment: str,
        tags: dict[str, str],
        compute: str | None,
    ) -> dict[str, Any]:
        """Parse the YAML with azure-ai-ml and render its command with local paths."""
        from azure.ai.ml import load_job

        job_yaml = job_yaml.resolve()
        if not job_yaml.is_file():
            raise FileNotFoundError(f"job YAML {job_yaml} does not exist")
        job: Any = load_job(job_yaml)  # a Command for command jobs
        if getattr(job, "type", None) != "command" or not getattr(job, "command", None):
            raise ValueError(
                f"{job_yaml}: local jobs run Azure ML command jobs; this is a {getattr(job, 'type', '?')} job"
            )
        code = job.code or "."
        if not isinstance(code, str) or code.startswith("azureml:"):
            raise ValueError(f"{job_yaml}: code must be a local folder for local jobs, got {code!r}")
        code_dir = (job_yaml.parent / code).resolve()
        if not code_dir.is_dir():
            raise FileNotFoundError(f"{job_yaml}: code folder {code_dir} does not exist")

        declared: dict[str, Any] = {}
        for key, node_input in (job.inputs or {}).items():
            declared[key] = getattr(node_input, "_data", node_input)
        values: dict[str, str] = {}
        for key, data in declared.items():
            kind = getattr(data, "type", None)
            if kind in _PATH_TYPES:
                if key in inputs:
                    values[key] = str(self._resolve(inputs[key]))
                elif getattr(data, "path", None):
                    values[key] = str(_local_path(str(data.path), base=job_yaml.parent))
            elif data is not None:
                values[key] = str(inputs.get(key, data))
        for key, value in inputs.items():
            if key not in declared:  # e.g. an optional input only some submissions pass
                is_path = value.startswith("file://") or os.path.sep in value
                values[key] = str(self._resolve(value)) if is_path else value
        for key, value in values.items():
            kind = getattr(declared.get(key), "type", None)
            if (kind in _PATH_TYPES or (key not in declared and os.path.isabs(value))) and not Path(
                value
            ).exists():
                raise FileNotFoundError(f"input {key!r} of job {name!r}: {value} does not exist")

        job_dir = self._dir(name)
        outputs = {key: str(job_dir / "outputs" / key) for key in (job.outputs or {})}
        command = self._render(str(job.command), values, outputs, job_yaml)
        return {
            "name": name,
            "job_yaml": str(job_yaml),
            "code_dir": str(code_dir),
            "command": command,
            "inputs": values,
            "outputs": outputs,
            "experiment": experiment or job.experiment_name or "Default",
            "tags": {**{k: str(v) for k, v in (job.tags or {}).items()}, **tags},
            "compute": compute or (str(job.compute) if job.compute else None),
            "environment_variables": {k: str(v) for k, v in (job.environment_variables or {}).items()},
            "tracking_uri": self.tracking_uri,
            "python_path": os.environ.get("PYTHONPATH"),
            "submitted_at": datetime.now(UTC).isoformat(),
        }

    def _resolve(self, value: str) -> Path:
        """A local path for an input value: local paths as they are; MLflow model URIs
        (models:/name/version, runs:/id/path, the local analog of azureml:name:version) downloaded
        from this tracking store; other remote URIs through `fetch`. Downloads are cached by URI,
        except model aliases (models:/name@alias), which move."""
        is_model_uri = value.startswith(("models:/", "runs:/"))
        if not is_model_uri and (not _is_remote(value) or self.fetch is None):
            return _local_path(value, base=Path.cwd())
        cacheable = not (is_model_uri and "@" in value)
        key = value if cacheable else f"{value}#{time.time_ns()}"
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        cache = self.state_dir / "inputs"
        marker = cache / f"{digest}.json"
        if cacheable and (done := _read_json(marker)) is not None:
            return Path(done["path"])
        folder = cache / digest
        staging = cache / f".{digest}.{os.getpid()}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        if is_model_uri:
            fetched = download_model(self.tracking_uri, value, staging)
        else:
            assert self.fetch is not None  # checked above
            fetched = Path(self.fetch(value, staging))
        relative = Path(fetched).resolve().relative_to(staging.resolve())
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(staging, folder)
        _write_json(marker, {"uri": value, "path": str(folder / relative)})
        return folder / relative

    @staticmethod
    def _render(command: str, values: dict[str, str], outputs: dict[str, str], job_yaml: Path) -> str:
        def refs_present(block: str) -> bool:
            return all(
                (kind == "inputs" and key in values) or (kind == "outputs" and key in outputs)
                for kind, key in _REF_RE.findall(block)
            )

        command = _OPTIONAL_RE.sub(lambda m: m.group(1) if refs_present(m.group(1)) else "", command)
        missing = sorted(
            {
                f"{kind}.{key}"
                for kind, key in _REF_RE.findall(command)
                if key not in (values if kind == "inputs" else outputs)
            }
        )
        if missing:
            raise ValueError(
                f"{job_yaml}: the command needs {missing}; pass them in `inputs` or declare them in the YAML"
            )
        return _REF_RE.sub(
            lambda m: shlex.quote(values[m.group(2)] if m.group(1) == "inputs" else outputs[m.group(2)]),
            command,
        )


# ---------------------------------------------------------------------- the runner process


class _Canceled(BaseException):
    pass


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Canceled()


def _hold_job_lock(job_dir: Path) -> int | None:
    """The job's lock, held until this process exits (also when it is killed), or None when
    another runner holds it. The descriptor is not inherited by the job's command."""
    fd = os.open(job_dir / "runner.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _run(job_dir: Path) -> int:
    """Run one job to its end and write result.json; runs detached from the submitter.

    At most once per job: a runner that cannot take the job's lock, or finds that a runner
    already started the job (runner.json), exits at once and changes nothing."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    if _hold_job_lock(job_dir) is None:
        return 0
    if (job_dir / "runner.json").exists() or (job_dir / "result.json").exists():
        return 0
    if _legacy_runner(_read_json(job_dir / "job.json") or {}):
        return 0
    _write_json(
        job_dir / "runner.json",
        {
            "pid": os.getpid(),
            "pid_start_ticks": _proc_start_ticks(os.getpid()),
            "started_at": datetime.now(UTC).isoformat(),
        },
    )
    spec = json.loads((job_dir / "spec.json").read_text())
    result: dict[str, Any] = {"state": "failed", "exit_code": None, "message": "", "metrics": {}}
    if (_read_json(job_dir / "job.json") or {}).get("state") == "canceled":
        result.update(state="canceled", message="canceled before it started")
        result["finished_at"] = datetime.now(UTC).isoformat()
        _write_json(job_dir / "result.json", result)
        return 0
    client = run_id = None
    proc: subprocess.Popen | None = None
    try:
        from mlflow.tracking import MlflowClient

        ensure_store(spec["tracking_uri"])
        client = MlflowClient(tracking_uri=spec["tracking_uri"])
        experiment = client.get_experiment_by_name(spec["experiment"])
        if experiment is not None:
            experiment_id = experiment.experiment_id
        else:
            root = default_artifact_root(spec["tracking_uri"])
            location = (root / spec["experiment"]).as_uri() if root is not None else None
            try:
                experiment_id = client.create_experiment(spec["experiment"], artifact_location=location)
            except Exception:  # created concurrently by another job
                again = client.get_experiment_by_name(spec["experiment"])
                if again is None:
                    raise
                experiment_id = again.experiment_id
        run = client.create_run(
            experiment_id,
            tags={**spec["tags"], "mlflow.runName": spec["name"], "job_name": spec["name"]},
            run_name=spec["name"],
        )
        run_id = run.info.run_id
        _write_json(job_dir / "run.json", {"run_id": run_id, "experiment_id": experiment_id})

        env = job_environment(os.environ)
        if spec.get("python_path"):
            env["PYTHONPATH"] = spec["python_path"]
        env.update(spec["environment_variables"])
        env.update(
            {
                "PATH": f"{job_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}",
                "MLFLOW_TRACKING_URI": spec["tracking_uri"],
                "MLFLOW_EXPERIMENT_NAME": spec["experiment"],
                "MLFLOW_EXPERIMENT_ID": experiment_id,
                "MLFLOW_RUN_ID": run_id,
                "AZUREML_RUN_ID": spec["name"],
                "PYTHONUNBUFFERED": "1",
            }
        )
        with (job_dir / "std.log").open("ab") as log:
            log.write(f"[local job {spec['name']}] $ {spec['command']}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                ["bash", "-c", spec["command"]],
                cwd=spec["code_dir"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            code = proc.wait()
        result.update(exit_code=code, state="completed" if code == 0 else "failed")
        if code != 0:
            result["message"] = f"command exited with code {code}"
    except _Canceled:
        result.update(state="canceled", message="canceled on request")
        if proc is not None and proc.poll() is None:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
    except Exception as exc:
        with (job_dir / "std.log").open("a") as log:
            traceback.print_exc(file=log)
        result["message"] = f"the local job runner failed: {type(exc).__name__}: {exc}"
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # finish the bookkeeping even if asked twice
        if client is not None and run_id is not None:
            with contextlib.suppress(Exception):
                status = {"completed": "FINISHED", "failed": "FAILED", "canceled": "KILLED"}[result["state"]]
                if client.get_run(run_id).info.status == "RUNNING":
                    client.set_terminated(run_id, status)
                result["metrics"] = dict(client.get_run(run_id).data.metrics)
        result["run_id"] = run_id
        result["finished_at"] = datetime.now(UTC).isoformat()
        _write_json(job_dir / "result.json", result)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "run":
        sys.exit("usage: python -m adapters.local.training_jobs run JOB_DIR")
    sys.exit(_run(Path(sys.argv[2])))
