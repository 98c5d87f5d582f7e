"""Jobs: one name rule (Azure ML's), data staged per mode, the run's rules on submit."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.kernel.datafiles import stage_job_input
from core.kernel.payload import BlobRef
from core.kernel.policy import load_policy
from core.training.jobs import check_job_name, job_name, submit_job
from core.training.payloads import SubmitJobInput
from tests.fakes import FakeDataLake, FakeTrainingJobs

ROOT = Path(__file__).resolve().parents[3]
POLICY = load_policy(ROOT / "samples" / "churn" / "policy.yaml")


def test_job_names_are_deterministic_and_valid_for_azure_ml_whatever_the_run_id():
    name = job_name("churn", "train", "coordinator-churn:run/3", "dv-0123456789abcdef")
    assert name == job_name("churn", "train", "coordinator-churn:run/3", "dv-0123456789abcdef")
    assert name == "churn-train-coordinator-churn-run-3-0123456789"
    assert check_job_name(name) == name


@pytest.mark.parametrize("bad", ["", "-starts-with-hyphen", "has.dot", "has space", "x" * 256])
def test_names_azure_ml_refuses_are_refused_everywhere(bad):
    with pytest.raises(ValueError, match="not a valid AML job name"):
        check_job_name(bad)


def test_on_azure_a_job_input_is_the_folders_url():
    lake = FakeDataLake()
    assert stage_job_input(lake, "training", "churn/dv-1/train/", None) == lake.url(
        "training", "churn/dv-1/train/"
    )


def test_locally_a_job_input_is_a_copy_of_the_folder_reused_once_made(tmp_path):
    lake = FakeDataLake()
    lake.put("training", "churn/dv-1/train/part-0.parquet", b"PAR1")
    folder = Path(stage_job_input(lake, "training", "churn/dv-1/train/", tmp_path))
    assert folder == tmp_path / "training" / "churn" / "dv-1" / "train"
    assert (folder / "part-0.parquet").read_bytes() == b"PAR1"

    assert Path(stage_job_input(lake, "training", "churn/dv-1/train/", tmp_path)) == folder
    assert len(lake.reads) == 1  # the copy was reused, not downloaded again


def test_an_empty_folder_cannot_be_a_job_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing to stage"):
        stage_job_input(FakeDataLake(), "training", "churn/none/", tmp_path)


def test_a_job_is_submitted_with_the_given_rules_job_yaml_experiment_and_compute(tmp_path):
    jobs, lake = FakeTrainingJobs(), FakeDataLake()
    lake.put("training", "churn/dv-1/eval/part-0.parquet", b"PAR1")
    req = SubmitJobInput(
        run_id="r1",
        model="churn",
        kind="evaluate",
        job_name="churn-eval-r1",
        inputs={"challenger": "runs:/abc/model"},
        data_inputs={"eval_data": BlobRef(container="training", path="churn/dv-1/eval/")},
        tags={"stage": "evaluate"},
    )
    rules = POLICY.model_copy(update={"training": POLICY.training.model_copy(update={"experiment": "exp-x"})})
    status = submit_job(jobs, lake, rules, req, None)
    job = jobs.jobs["churn-eval-r1"]
    assert status.name == "churn-eval-r1"
    assert job.job_yaml == ROOT / "samples" / "churn" / "jobs" / "evaluate.yml"
    assert (job.experiment, job.compute) == ("exp-x", "gpu-cluster")
    assert job.inputs == {
        "challenger": "runs:/abc/model",
        "eval_data": lake.url("training", "churn/dv-1/eval/"),
    }
