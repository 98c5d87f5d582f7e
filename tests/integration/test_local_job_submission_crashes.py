"""A submitter killed (SIGKILL) at any point of a local job submission never strands the job
and never runs it twice: the retried submit (what Durable does after a host crash) or a status
poll starts a runner that never started, and the runner's lock makes a second start a no-op.

Each submitter is a subprocess this test starts and that kills itself at the chosen point; each
job's runner is waited for (and killed by its PID if a test fails)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from adapters.local.training_jobs import LocalTrainingJobs
from core.kernel.datafiles import inside, stage_folder
from tests.fakes import FakeDataLake

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]

# the submitter kills itself by SIGKILL right at one point of submit()
SUBMITTER = textwrap.dedent(
    """
    import os, signal, subprocess, sys
    from pathlib import Path
    from adapters.local import training_jobs as tj

    state, tracking, yaml, point = sys.argv[1:5]

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    if point == "before-claim":  # the folder is built under its temporary name
        real_rename = os.rename
        os.rename = lambda *a: die()
    elif point == "after-claim":  # the folder is in place, no runner launched
        tj.LocalTrainingJobs._launch = lambda self, name: die()
    elif point == "before-popen":  # job.json says launched, the runner never started
        real_popen = subprocess.Popen
        tj.subprocess.Popen = lambda *a, **k: die()
    elif point == "after-launch":  # the runner runs, submit() never returned
        real_launch = tj.LocalTrainingJobs._launch
        def launch_then_die(self, name):
            real_launch(self, name)
            die()
        tj.LocalTrainingJobs._launch = launch_then_die
    jobs = tj.LocalTrainingJobs(Path(state), tracking)
    jobs.submit(Path(yaml), name="once", inputs={}, experiment="test", tags={})
    """
)

POINTS = ["before-claim", "after-claim", "before-popen", "after-launch"]


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def _job_yaml(tmp: Path, command: str) -> Path:
    path = tmp / "job.yml"
    path.write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json\n"
        "type: command\ncode: .\nexperiment_name: test\n"
        f"command: {json.dumps(command)}\n"
        "outputs:\n  out:\n    type: uri_folder\n"
        "environment: azureml:churn-env@latest\ncompute: azureml:gpu-cluster\n"
    )
    return path


def _runner_pid(job_dir: Path) -> int | None:
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
        return int(json.loads((job_dir / "runner.json").read_text())["pid"])
    return None


def _wait_done(jobs: LocalTrainingJobs, name: str, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = jobs.status(name)
        if status.done:
            return status
        time.sleep(0.2)
    if (pid := _runner_pid(jobs.state_dir / "jobs" / name)) is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    raise AssertionError(f"{name} did not finish in {timeout}s: {jobs.status(name)}")


def _submit_and_die(state: Path, tracking_uri: str, yaml: Path, point: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SUBMITTER, str(state), tracking_uri, str(yaml), point],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]


@pytest.mark.parametrize("point", POINTS)
def test_a_retried_submit_after_the_submitter_was_killed_runs_the_job_exactly_once(
    tmp_path: Path, tracking_uri: str, point: str
) -> None:
    runs = tmp_path / "runs.txt"
    yaml = _job_yaml(tmp_path, f"echo ran >> {runs}")
    state = tmp_path / "state"
    _submit_and_die(state, tracking_uri, yaml, point)

    jobs = LocalTrainingJobs(state, tracking_uri)
    jobs.submit(yaml, name="once", inputs={}, experiment="test", tags={})  # Durable's retry
    jobs.submit(yaml, name="once", inputs={}, experiment="test", tags={})  # and a replay
    assert _wait_done(jobs, "once").state == "completed"
    jobs.submit(yaml, name="once", inputs={}, experiment="test", tags={})  # after the end
    time.sleep(1.0)
    assert runs.read_text().splitlines() == ["ran"]
    assert not list((state / "jobs").glob(".once.*.build"))  # no build left behind


def test_a_status_poll_alone_starts_a_runner_that_never_started(tmp_path: Path, tracking_uri: str) -> None:
    runs = tmp_path / "runs.txt"
    yaml = _job_yaml(tmp_path, f"echo ran >> {runs}")
    state = tmp_path / "state"
    _submit_and_die(state, tracking_uri, yaml, "before-popen")
    jobs = LocalTrainingJobs(state, tracking_uri, launch_grace_s=0.5)
    assert jobs.status("once").state == "queued"
    assert _wait_done(jobs, "once").state == "completed"
    assert runs.read_text().splitlines() == ["ran"]


def test_runners_started_together_run_the_job_once(tmp_path: Path, tracking_uri: str) -> None:
    runs = tmp_path / "runs.txt"
    yaml = _job_yaml(tmp_path, f"echo ran >> {runs}; sleep 1")
    jobs = LocalTrainingJobs(tmp_path / "state", tracking_uri)
    jobs.submit(yaml, name="once", inputs={}, experiment="test", tags={})
    job_dir = jobs.state_dir / "jobs" / "once"
    extra = [
        subprocess.Popen(
            [sys.executable, "-m", "adapters.local.training_jobs", "run", str(job_dir)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for _ in range(3)
    ]
    try:
        assert [p.wait(60) for p in extra] == [0, 0, 0]
    finally:
        for p in extra:
            if p.poll() is None:
                p.kill()
    assert _wait_done(jobs, "once").state == "completed"
    assert runs.read_text().splitlines() == ["ran"]


def test_a_job_gets_only_the_environment_it_needs(
    tmp_path: Path, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUNCTIONS_MASTER_KEY", "master-secret")
    monkeypatch.setenv("AzureWebJobsStorage", "DefaultEndpointsProtocol=http;AccountKey=storage-secret")
    monkeypatch.setenv("ENDPOINT_SERVER_KEY", "endpoint-secret")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    yaml = _job_yaml(tmp_path, "env > ${{outputs.out}}/env.txt")
    jobs = LocalTrainingJobs(tmp_path / "state", tracking_uri)
    jobs.submit(yaml, name="env", inputs={}, experiment="test", tags={})
    assert _wait_done(jobs, "env").state == "completed"
    seen = dict(
        line.split("=", 1)
        for line in (jobs.state_dir / "jobs" / "env" / "outputs" / "out" / "env.txt").read_text().splitlines()
        if "=" in line
    )
    assert not {"FUNCTIONS_MASTER_KEY", "AzureWebJobsStorage", "ENDPOINT_SERVER_KEY"} & set(seen)
    assert "secret" not in json.dumps(seen)
    assert seen["LC_ALL"] == "C.UTF-8" and seen["MLFLOW_RUN_ID"] and seen["PATH"]


# --------------------------------------------------------------------------- staging paths


def test_staging_copies_a_folder_and_refuses_names_that_leave_it(tmp_path: Path) -> None:
    lake = FakeDataLake()
    lake.put("training", "churn/dv-1/train/part-000.parquet", b"rows")
    root = tmp_path / "datalake"
    folder = stage_folder(lake, "training", "churn/dv-1/train/", root)
    assert folder == (root / "training" / "churn" / "dv-1" / "train").resolve()
    assert (folder / "part-000.parquet").read_bytes() == b"rows"

    lake.put("training", "churn/dv-1/train/../../../../../escaped.txt", b"x")
    with pytest.raises(ValueError, match="not a plain name"):
        stage_folder(lake, "training", "churn/dv-1/train/", root)
    with pytest.raises(ValueError):
        stage_folder(lake, "training", "churn/../../../", root)
    assert not list(tmp_path.rglob("escaped.txt"))


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/etc/passwd"])
def test_inside_refuses_paths_that_resolve_outside_their_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="outside"):
        inside(tmp_path / "jobs", name)
    assert inside(tmp_path / "jobs", "a/b") == (tmp_path / "jobs" / "a" / "b").resolve()
