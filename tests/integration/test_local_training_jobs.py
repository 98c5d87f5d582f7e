"""LocalTrainingJobs runs the churn job YAML as a detached subprocess, tracked on disk.

Each test stops what it starts: jobs end by themselves or are canceled/killed by their PID."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from adapters.local.registry import MlflowModelRegistry
from adapters.local.training_jobs import LocalTrainingJobs
from core.kernel.ports import JobStatus, TrainingJobs
from samples.churn import data

pytestmark = [pytest.mark.slow, pytest.mark.integration]

CHURN_JOBS = Path(__file__).resolve().parents[2] / "samples" / "churn" / "jobs"


def _wait(jobs: LocalTrainingJobs, name: str, timeout: float = 120.0) -> JobStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = jobs.status(name)
        if status.done:
            return status
        time.sleep(0.3)
    jobs.cancel(name)
    raise AssertionError(f"job {name} did not finish within {timeout}s; log:\n{jobs.status(name).message}")


def _pid(jobs: LocalTrainingJobs, name: str, timeout: float = 30.0) -> int:
    """The job's runner pid, which the runner records once it holds the job's lock."""
    runner = jobs.state_dir / "jobs" / name / "runner.json"
    deadline = time.monotonic() + timeout
    while not runner.exists():
        assert time.monotonic() < deadline, f"the runner of {name} never started"
        time.sleep(0.05)
    return int(json.loads(runner.read_text())["pid"])


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


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def jobs(tmp_path: Path, tracking_uri: str) -> LocalTrainingJobs:
    return LocalTrainingJobs(tmp_path / "state", tracking_uri)


@pytest.fixture(scope="module")
def splits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("churn-data")
    for name, seed in (("train", 1), ("eval", 2)):
        (tmp / name).mkdir()
        data.generate(rows=400 if name == "train" else 200, seed=seed).to_parquet(
            tmp / name / "part-0.parquet"
        )
    return {"train": tmp / "train", "eval": tmp / "eval"}


def test_the_adapter_implements_the_training_jobs_port(jobs: LocalTrainingJobs) -> None:
    assert isinstance(jobs, TrainingJobs)


def test_the_churn_job_trains_end_to_end_and_a_replayed_submit_does_not_train_twice(
    jobs: LocalTrainingJobs, splits: dict[str, Path], tmp_path: Path
) -> None:
    inputs = {"train_data": str(splits["train"]), "eval_data": splits["eval"].as_uri(), "n_estimators": "15"}
    started = time.monotonic()
    first = jobs.submit(
        CHURN_JOBS / "train.yml",
        name="churn-train-1",
        inputs=inputs,
        experiment="churn",
        tags={"lifecycle_id": "lc-1"},
    )
    assert first.state in ("queued", "running")
    assert time.monotonic() - started < 20  # submit does not wait for training
    replay = jobs.submit(
        CHURN_JOBS / "train.yml", name="churn-train-1", inputs=inputs, experiment="churn", tags={}
    )
    assert replay.state in ("queued", "running", "completed")

    done = _wait(jobs, "churn-train-1")
    assert done.state == "completed", done.message
    assert 0.5 < done.metrics["auc"] <= 1.0
    assert set(done.outputs) == {"model", "metrics"}
    assert (Path(done.outputs["model"]) / "MLmodel").is_file()

    log = (jobs.state_dir / "jobs" / "churn-train-1" / "std.log").read_text()
    assert log.count("training on 400 rows") == 1  # trained once
    assert "--n-estimators 15" in log

    from mlflow import MlflowClient

    client = MlflowClient(jobs.tracking_uri)
    experiment = client.get_experiment_by_name("churn")
    runs = client.search_runs([experiment.experiment_id], "tags.job_name = 'churn-train-1'")
    assert len(runs) == 1
    assert runs[0].info.status == "FINISHED"
    assert runs[0].data.tags["lifecycle_id"] == "lc-1"
    assert runs[0].data.tags["model"] == "churn"  # the YAML's own tags are kept
    assert runs[0].data.params["n_estimators"] == "15"

    copied = jobs.download_output("churn-train-1", "model", tmp_path / "model")
    assert (copied / "MLmodel").is_file()
    # another process (a restarted host) sees the same finished job
    assert LocalTrainingJobs(jobs.state_dir, jobs.tracking_uri).status("churn-train-1").state == "completed"

    # the registered champion goes in as an MLflow model URI, the local analog of azureml:name:version
    champion = MlflowModelRegistry(jobs.tracking_uri).register(
        "churn", done.outputs["model"], {"lifecycle_id": "lc-0"}
    )
    evaluation = jobs.submit(
        CHURN_JOBS / "evaluate.yml",
        name="churn-eval-1",
        inputs={
            "challenger": done.outputs["model"],
            "champion": f"models:/churn/{champion.version}",
            "eval_data": str(splits["eval"]),
        },
        experiment="churn",
        tags={"lifecycle_id": "lc-1"},
    )
    finished = _wait(jobs, evaluation.name)
    assert finished.state == "completed", finished.message
    metrics = json.loads((Path(finished.outputs["metrics"]) / "metrics.json").read_text())
    assert metrics["eval_rows"] == 200
    assert metrics["challenger"]["auc"] == pytest.approx(done.metrics["auc"])
    assert metrics["champion"]["auc"] == pytest.approx(done.metrics["auc"])  # the same model, scored the same
    assert finished.metrics["challenger_auc"] == pytest.approx(done.metrics["auc"])


def test_cancel_stops_the_job_process_group(jobs: LocalTrainingJobs, tmp_path: Path) -> None:
    yaml = _job_yaml(tmp_path, "python -c 'import time; print(\"started\", flush=True); time.sleep(120)'")
    jobs.submit(yaml, name="sleepy", inputs={}, experiment="test", tags={})
    pid = _pid(jobs, "sleepy")
    deadline = time.monotonic() + 60
    while "started" not in (jobs.state_dir / "jobs" / "sleepy" / "std.log").read_text():
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.2)

    status = jobs.cancel("sleepy")
    assert status.state == "canceled"
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # no process of the job's group is left
    later = LocalTrainingJobs(jobs.state_dir, jobs.tracking_uri).status("sleepy")
    assert later.state == "canceled"
    with pytest.raises(RuntimeError, match="not completed"):
        jobs.download_output("sleepy", "out", tmp_path / "out")


def test_a_failing_job_reports_the_tail_of_its_log(jobs: LocalTrainingJobs, tmp_path: Path) -> None:
    yaml = _job_yaml(
        tmp_path, "python -c 'import sys; print(\"boom: the eval split is empty\"); sys.exit(3)'"
    )
    jobs.submit(yaml, name="broken", inputs={}, experiment="test", tags={})
    status = _wait(jobs, "broken")
    assert status.state == "failed"
    assert "exited with code 3" in status.message
    assert "boom: the eval split is empty" in status.message


def test_a_job_whose_process_died_without_an_exit_code_is_failed(
    jobs: LocalTrainingJobs, tmp_path: Path
) -> None:
    yaml = _job_yaml(tmp_path, "sleep 120")
    jobs.submit(yaml, name="crashed", inputs={}, experiment="test", tags={})
    os.killpg(_pid(jobs, "crashed"), signal.SIGKILL)  # as a machine crash would
    deadline = time.monotonic() + 10
    status = jobs.status("crashed")
    while status.state == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
        status = LocalTrainingJobs(jobs.state_dir, jobs.tracking_uri).status("crashed")
    assert status.state == "failed"
    assert "died without writing an exit code" in status.message


def test_inputs_are_rendered_quoted_and_optional_blocks_follow_their_inputs(
    jobs: LocalTrainingJobs, tmp_path: Path
) -> None:
    spaced = tmp_path / "a folder with spaces"
    spaced.mkdir()
    yaml = _job_yaml(
        tmp_path, "echo data=${{inputs.data}} $[[champion=${{inputs.champion}}]] out=${{outputs.out}}"
    )
    jobs.submit(yaml, name="echo-1", inputs={"data": str(spaced)}, experiment="test", tags={})
    jobs.submit(
        yaml, name="echo-2", inputs={"data": str(spaced), "champion": str(spaced)}, experiment="test", tags={}
    )
    for name in ("echo-1", "echo-2"):
        assert _wait(jobs, name).state == "completed"
    one = (jobs.state_dir / "jobs" / "echo-1" / "std.log").read_text()
    two = (jobs.state_dir / "jobs" / "echo-2" / "std.log").read_text()
    assert f"data={spaced} out={jobs.state_dir / 'jobs' / 'echo-1' / 'outputs' / 'out'}" in one
    assert "champion=" not in one.splitlines()[-1]
    assert f"champion={spaced}" in two


def test_bad_submissions_fail_fast_and_leave_no_job(
    jobs: LocalTrainingJobs, splits: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        jobs.submit(
            CHURN_JOBS / "train.yml",
            name="no-data",
            inputs={"train_data": str(tmp_path / "missing"), "eval_data": str(splits["eval"])},
            experiment="churn",
            tags={},
        )
    with pytest.raises(ValueError, match=r"inputs\.train_data"):
        jobs.submit(CHURN_JOBS / "train.yml", name="no-inputs", inputs={}, experiment="churn", tags={})
    with pytest.raises(ValueError, match="remote URI"):
        jobs.submit(
            CHURN_JOBS / "train.yml",
            name="remote",
            inputs={
                "train_data": "https://acct.blob.core.windows.net/training/x",
                "eval_data": str(splits["eval"]),
            },
            experiment="churn",
            tags={},
        )
    with pytest.raises(KeyError):
        jobs.status("no-data")


def test_remote_inputs_are_fetched_once_through_the_fetch_hook(tmp_path: Path, tracking_uri: str) -> None:
    fetched: list[str] = []

    def fetch(uri: str, folder: Path) -> Path:
        fetched.append(uri)
        (folder / "part-0.parquet").write_bytes(b"not really parquet")
        return folder

    jobs = LocalTrainingJobs(tmp_path / "state", tracking_uri, fetch=fetch)
    uri = "http://127.0.0.1:10000/devstoreaccount1/training/churn/v1/train/"
    yaml = _job_yaml(tmp_path, "ls ${{inputs.data}}")
    for name in ("fetch-1", "fetch-2"):
        jobs.submit(yaml, name=name, inputs={"data": uri}, experiment="test", tags={})
    assert fetched == [uri]  # cached by URI: data versions never change content
    for name in ("fetch-1", "fetch-2"):
        assert _wait(jobs, name).state == "completed"
        assert "part-0.parquet" in (jobs.state_dir / "jobs" / name / "std.log").read_text()


def test_jobs_started_together_on_a_new_tracking_store_all_run(tmp_path: Path) -> None:
    """MLflow migrates a new SQLite store on first use; concurrent first uses must not collide."""
    jobs = LocalTrainingJobs(tmp_path / "state", f"sqlite:///{tmp_path / 'fresh.db'}")
    yaml = _job_yaml(tmp_path, "echo hello")
    names = [f"together-{i}" for i in range(3)]
    for name in names:
        jobs.submit(yaml, name=name, inputs={}, experiment="test", tags={})
    assert [_wait(jobs, name).state for name in names] == ["completed"] * 3
