"""A batch-scoring submitter killed (SIGKILL) at any point of a local batch job submission never
loses the upload and never scores it twice: the retried submit (what Durable does after a host
crash) or a status poll starts a runner that never started, and the runner's lock makes a second
start a no-op (issue 20, item 9; local training jobs already survive the same crash).

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
from pathlib import Path

import pandas as pd
import pytest

from adapters.local.batch_endpoints import PREDICTIONS_FILE, LocalBatchEndpoints
from adapters.local.registry import MlflowModelRegistry
from tests.integration.test_local_batch_and_shared_registry import (  # noqa: F401  (fixtures)
    _wait,
    batch,
    dev,
    empty_db,
    model_folders,
    scoring_input,
)

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]

SUBMITTER = textwrap.dedent(
    """
    import os, signal, subprocess, sys
    from pathlib import Path
    from adapters.local import batch_endpoints as be

    state, source, output, point = sys.argv[1:5]

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    if point == "writing-spec":  # the spec is a temporary file, not yet in place
        os.replace = lambda *a: die()
    elif point == "before-claim":  # the folder is built under its temporary name
        os.rename = lambda *a: die()
    elif point == "after-claim":  # the folder is in place, no runner launched
        be.LocalBatchEndpoints._launch = lambda self, name: die()
    elif point == "before-popen":  # job.json says launched, the runner never started
        be.subprocess.Popen = lambda *a, **k: die()
    elif point == "after-launch":  # the runner runs, submit() never returned
        real_launch = be.LocalBatchEndpoints._launch
        def launch_then_die(self, name):
            real_launch(self, name)
            die()
        be.LocalBatchEndpoints._launch = launch_then_die
    endpoints = be.LocalBatchEndpoints(Path(state), models=None)
    endpoints.submit("churn-batch", job_name="upload-1", input_uri=source, output_uri=output)
    """
)

POINTS = ["writing-spec", "before-claim", "after-claim", "before-popen", "after-launch"]


def _runner_pid(job_dir: Path) -> int | None:
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
        return int(json.loads((job_dir / "runner.json").read_text())["pid"])
    return None


def _submit_and_die(state: Path, source: Path, output: Path, point: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SUBMITTER, str(state), str(source), str(output), point],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]


def _deployed(batch: LocalBatchEndpoints, dev: MlflowModelRegistry) -> None:  # noqa: F811
    batch.ensure_endpoint("churn-batch")
    batch.begin_deploy("churn-batch", "churn-v1", dev.get("churn", "1"))
    batch.set_default("churn-batch", "churn-v1")


@pytest.mark.parametrize("point", POINTS)
def test_an_upload_whose_submitter_was_killed_is_scored_exactly_once_with_complete_predictions(
    batch: LocalBatchEndpoints,  # noqa: F811
    dev: MlflowModelRegistry,  # noqa: F811
    scoring_input: Path,  # noqa: F811
    tmp_path: Path,
    point: str,
) -> None:
    _deployed(batch, dev)
    output = tmp_path / "predictions"
    _submit_and_die(batch.root.parent, scoring_input, output, point)
    job_dir = batch.root / "jobs" / "upload-1"
    try:
        for _ in range(2):  # Durable's retry, and a replay
            batch.submit(
                "churn-batch", job_name="upload-1", input_uri=str(scoring_input), output_uri=str(output)
            )
        done = _wait(batch, "upload-1")
    finally:
        if (pid := _runner_pid(job_dir)) is not None and batch.status("upload-1").state == "running":
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    assert done.state == "completed", done.message
    batch.submit("churn-batch", job_name="upload-1", input_uri=str(scoring_input), output_uri=str(output))
    assert (job_dir / "std.log").read_text().count("scoring upload-1") == 1
    predictions = pd.read_csv(output / PREDICTIONS_FILE, header=None)
    assert done.rows == len(predictions) == 50
    assert not list((batch.root / "jobs").glob(".upload-1.*.build"))  # no build left behind


def test_a_status_poll_alone_starts_a_scoring_runner_that_never_started(
    dev: MlflowModelRegistry,  # noqa: F811
    scoring_input: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    endpoints = LocalBatchEndpoints(tmp_path / "state", dev, launch_grace_s=0.5)
    _deployed(endpoints, dev)
    output = tmp_path / "predictions"
    _submit_and_die(endpoints.root.parent, scoring_input, output, "before-popen")
    try:
        assert endpoints.status("upload-1").state == "queued"
        assert _wait(endpoints, "upload-1").state == "completed"
    finally:
        for child in endpoints._children.values():
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait(10)
    assert len(pd.read_csv(output / PREDICTIONS_FILE, header=None)) == 50
