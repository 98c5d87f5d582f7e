"""AzureMLTrainingJobs, at the wire: what Azure ML receives when the lifecycle submits a job.

The real azure-ai-ml client sends to the stand-in; the tests read the recorded ARM requests.
(Issue 10, defect 1: inputs set on the loaded job after it was built never reached the REST body.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.azure.training_jobs import AzureMLTrainingJobs
from tests.wire.armstandin import WS_PATH, AzureStandIn

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::FutureWarning")]

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "churn"
TRAIN_YAML = SAMPLES / "jobs" / "train.yml"
EVAL_YAML = SAMPLES / "jobs" / "evaluate.yml"
TRAIN_URI = "https://acct.blob.core.windows.net/training/churn/dv-42/train/"
EVAL_URI = "https://acct.blob.core.windows.net/training/churn/dv-42/eval/"
TAGS = {"model": "churn", "lifecycle_id": "run-7", "data_version": "dv-42"}


def _submit(jobs: AzureMLTrainingJobs, name: str = "churn-run-7-train"):
    return jobs.submit(
        TRAIN_YAML,
        name=name,
        inputs={"train_data": TRAIN_URI, "eval_data": EVAL_URI, "n_estimators": "50"},
        experiment="churn-lifecycle",
        tags=TAGS,
        compute="gpu-cluster-t4",
    )


def _job_put(standin: AzureStandIn, name: str) -> dict:
    (put,) = standin.sent("PUT", rf"^management\.azure\.com{WS_PATH}/jobs/{name}$")
    return put.json()["properties"]


def test_the_job_azure_receives_carries_the_data_uris_literals_compute_experiment_and_tags(
    standin, ml_client
):
    status = _submit(AzureMLTrainingJobs(ml_client))

    job = _job_put(standin, "churn-run-7-train")
    assert job["jobType"] == "Command"
    assert job["experimentName"] == "churn-lifecycle"
    assert job["computeId"] == f"{WS_PATH}/computes/gpu-cluster-t4"
    assert job["tags"] == {"model": "churn", "stage": "train", **TAGS}
    assert job["inputs"]["train_data"] == {
        "uri": f"{WS_PATH}/data/churn-lifecycle-train_data/versions/dv-42",
        "mode": "ReadOnlyMount",
        "jobInputType": "uri_folder",
    }
    assert job["inputs"]["eval_data"]["uri"] == f"{WS_PATH}/data/churn-lifecycle-eval_data/versions/dv-42"
    # the literal the lifecycle chose, and the YAML's own defaults for the rest
    assert job["inputs"]["n_estimators"] == {"value": "50", "jobInputType": "literal"}
    assert job["inputs"]["max_depth"] == {"value": "3", "jobInputType": "literal"}
    assert "--train-data ${{inputs.train_data}}" in job["command"]
    assert set(job["outputs"]) == {"model", "metrics"}
    assert job["outputs"]["model"]["jobOutputType"] == "mlflow_model"
    assert status.state == "queued"
    assert status.outputs["model"] == "azureml://jobs/churn-run-7-train/outputs/model"


def test_each_data_input_is_registered_as_a_data_asset_version_pointing_at_the_blob(standin, ml_client):
    _submit(AzureMLTrainingJobs(ml_client))
    (train,) = standin.sent("PUT", r"/data/churn-lifecycle-train_data/versions/dv-42$")
    body = train.json()["properties"]
    assert (body["dataType"], body["dataUri"]) == ("uri_folder", TRAIN_URI)
    assert body["tags"] == TAGS
    # the data assets exist before the job that names them
    writes = [c.path for c in standin.writes() if c.host == "management.azure.com"]
    job_at = writes.index(f"{WS_PATH}/jobs/churn-run-7-train")
    assert writes.index(f"{WS_PATH}/data/churn-lifecycle-train_data/versions/dv-42") < job_at


def test_the_training_code_is_uploaded_and_the_job_names_that_code_version(standin, ml_client):
    _submit(AzureMLTrainingJobs(ml_client))
    uploaded = {c.path.split("/", 2)[2] for c in standin.sent("PUT", r"\.blob\.core\.windows\.net/")}
    assert {"churn/train.py", "churn/evaluate.py", "churn/environment/conda.yaml"} <= uploaded
    (code,) = standin.sent("PUT", r"/codes/[^/]+/versions/1$")
    assert _job_put(standin, "churn-run-7-train")["codeId"] == code.path
    assert code.json()["properties"]["codeUri"].startswith("https://stmllifecycle.blob.core.windows.net/")


def test_submitting_the_same_name_again_sends_no_second_job(standin, ml_client):
    jobs = AzureMLTrainingJobs(ml_client)
    _submit(jobs)
    standin.set_job_status("churn-run-7-train", "Running")
    assert _submit(jobs).state == "running"
    assert len(standin.sent("PUT", r"/workspaces/[^/]+/jobs/")) == 1


def test_the_evaluation_job_receives_the_challenger_output_the_champion_model_and_the_eval_data(
    standin, ml_client
):
    AzureMLTrainingJobs(ml_client).submit(
        EVAL_YAML,
        name="churn-run-7-evaluate",
        inputs={
            "challenger": "azureml://jobs/churn-run-7-train/outputs/model",
            "champion": "azureml:churn:3",
            "eval_data": EVAL_URI,
        },
        experiment="churn-lifecycle",
        tags=TAGS,
    )
    job = _job_put(standin, "churn-run-7-evaluate")
    assert job["inputs"]["challenger"] == {
        "uri": "azureml://jobs/churn-run-7-train/outputs/model",
        "mode": "ReadOnlyMount",
        "jobInputType": "mlflow_model",
    }
    assert job["inputs"]["champion"]["jobInputType"] == "mlflow_model"
    assert job["inputs"]["champion"]["uri"] in ("azureml:churn:3", f"{WS_PATH}/models/churn/versions/3")
    assert job["inputs"]["eval_data"]["uri"] == f"{WS_PATH}/data/churn-lifecycle-eval_data/versions/dv-42"
    assert job["computeId"] == f"{WS_PATH}/computes/gpu-cluster"  # the YAML's compute: the policy named none


def test_cancel_posts_a_cancellation_once_and_leaves_a_finished_job_alone(standin, ml_client):
    jobs = AzureMLTrainingJobs(ml_client)
    _submit(jobs)
    assert jobs.cancel("churn-run-7-train").state == "running"  # CancelRequested: the orchestrator polls
    standin.set_job_status("churn-run-7-train", "Completed")
    assert jobs.cancel("churn-run-7-train").state == "completed"
    assert [c.path for c in standin.sent("POST", r"/workspaces/[^/]+/jobs/")] == [
        f"{WS_PATH}/jobs/churn-run-7-train/cancel"
    ]


def test_a_failed_job_is_reported_failed(standin, ml_client):
    jobs = AzureMLTrainingJobs(ml_client)
    _submit(jobs)
    standin.set_job_status("churn-run-7-train", "Failed")
    status = jobs.status("churn-run-7-train")
    assert status.state == "failed" and "failed" in status.message


def test_no_request_went_anywhere_the_stand_in_does_not_know(standin, ml_client):
    _submit(AzureMLTrainingJobs(ml_client))
    assert standin.unknown == []


def test_a_completed_jobs_named_output_is_downloaded_through_run_history_and_the_datastore(
    standin, ml_client, tmp_path
):
    standin.complete_after_reads = 2
    standin.job_writes = lambda name, props: {"metrics": {"metrics.json": b'{"challenger": {"auc": 0.8}}'}}
    jobs = AzureMLTrainingJobs(ml_client)
    _submit(jobs)
    assert jobs.status("churn-run-7-train").state == "running"
    assert jobs.status("churn-run-7-train").state == "completed"
    folder = jobs.download_output("churn-run-7-train", "metrics", tmp_path)
    assert (folder / "metrics.json").read_bytes() == b'{"challenger": {"auc": 0.8}}'
    assert folder == tmp_path / "named-outputs" / "metrics"  # where AML lays out a named output
    (rundata,) = standin.sent("POST", r"api\.azureml\.ms/history/v1\.0/.+/rundata$")
    assert rundata.json()["runId"] == "churn-run-7-train"
    assert standin.unknown == []
