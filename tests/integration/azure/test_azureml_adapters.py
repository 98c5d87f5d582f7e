"""The azure-ai-ml adapters' own rules (names, state maps, traffic rules, idempotency, downloads)
against a recording fake of MLClient's operation groups. What Azure receives is tested at the wire
in tests/wire/ (the real SDK over a recording transport); tests that only inspected SDK objects
moved there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.azure.endpoints import AzureMLEndpoints
from adapters.azure.registry import AzureMLModelRegistry
from adapters.azure.training_jobs import AML_STATES, AzureMLTrainingJobs, map_state
from core.kernel.ports import ModelVersion, TrafficRuleError

from .fake_mlclient import FakeMLClient

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::FutureWarning")]

JOB_YAML = Path(__file__).resolve().parents[3] / "samples" / "churn" / "jobs" / "train.yml"
EVAL_YAML = JOB_YAML.with_name("evaluate.yml")
TRAIN_URI = "https://acct.blob.core.windows.net/training/churn/dv-42/train/"
EVAL_URI = "https://acct.blob.core.windows.net/training/churn/dv-42/eval/"
TAGS = {"model": "churn", "lifecycle_id": "run-7", "data_version": "dv-42"}


def _submit(jobs: AzureMLTrainingJobs, name: str = "churn-run-7-train"):
    return jobs.submit(
        JOB_YAML,
        name=name,
        inputs={"train_data": TRAIN_URI, "eval_data": EVAL_URI, "n_estimators": "50"},
        experiment="churn-lifecycle",
        tags=TAGS,
        compute="gpu-cluster-t4",
    )


# ------------------------------------------------------------------------------ training jobs
# What Azure receives when a job is submitted is tested at the wire: tests/wire/test_azureml_training_jobs_wire.py


def test_an_invalid_job_name_is_refused_before_anything_is_sent():
    ml = FakeMLClient()
    with pytest.raises(ValueError, match="valid AML job name"):
        _submit(AzureMLTrainingJobs(ml), name="churn/run 7")
    assert "jobs.create_or_update" not in ml.calls.names()


@pytest.mark.parametrize(
    ("aml", "state"),
    [
        ("NotStarted", "queued"),
        ("Queued", "queued"),
        ("Preparing", "queued"),
        ("Provisioning", "queued"),
        ("Starting", "queued"),
        ("Paused", "queued"),
        ("Running", "running"),
        ("Finalizing", "running"),
        ("CancelRequested", "running"),
        ("NotResponding", "running"),
        ("Unknown", "running"),
        ("Completed", "completed"),
        ("Failed", "failed"),
        ("Canceled", "canceled"),
        ("SomeFutureState", "running"),
    ],
)
def test_every_aml_job_state_maps_to_a_port_state(aml, state):
    assert map_state(aml) == state


def test_the_status_table_covers_every_state_the_sdk_knows():
    from azure.ai.ml._restclient.arm_ml_service.models import JobStatus as RestJobStatus

    assert {s.value for s in RestJobStatus} <= set(AML_STATES)


def test_download_output_fetches_the_named_output_of_a_completed_job(tmp_path):
    ml = FakeMLClient()
    jobs = AzureMLTrainingJobs(ml)
    _submit(jobs)
    ml.jobs.store["churn-run-7-train"]._status = "Completed"
    path = jobs.download_output("churn-run-7-train", "metrics", tmp_path / "out")
    assert path == tmp_path / "out" / "named-outputs" / "metrics"
    assert json.loads((path / "metrics.json").read_text()) == {"auc": 0.9}
    assert ("jobs.download", "churn-run-7-train", str(tmp_path / "out"), "metrics") in ml.calls.log


# ------------------------------------------------------------------------------ model registry

SRC = "azureml://jobs/churn-run-7-train/outputs/model"


def test_unknown_versions_raise_key_errors_and_download_finds_the_mlflow_directory(tmp_path):
    reg = AzureMLModelRegistry(FakeMLClient())
    with pytest.raises(KeyError):
        reg.get("churn", "9")
    with pytest.raises(KeyError):
        reg.set_champion("churn", "9")
    reg.register("churn", SRC, {"lifecycle_id": "a"})
    assert (reg.download("churn", "1", tmp_path) / "MLmodel").exists()


# ------------------------------------------------------------------------------ endpoints

MODEL = ModelVersion(name="churn", version="3", source_uri="azureml:churn:3", tags={"lifecycle_id": "run-7"})


def _endpoints(scoring_uri: str = "https://churn-endpoint.westeurope.inference.ml.azure.com/score"):
    ml = FakeMLClient()
    ml.online_endpoints.add("churn-endpoint", scoring_uri)
    return ml, AzureMLEndpoints(ml)


def _blue_green(ml, eps):
    eps.begin_deploy("churn-endpoint", "blue", ModelVersion("churn", "2", "azureml:churn:2"))
    eps.begin_deploy("churn-endpoint", "green", MODEL)
    ml.online_deployments.finish("churn-endpoint", "blue")
    ml.online_deployments.finish("churn-endpoint", "green")


def test_deployment_state_follows_provisioning_and_a_replayed_deploy_does_not_redeploy():
    ml, eps = _endpoints()
    eps.begin_deploy("churn-endpoint", "green", MODEL)
    assert eps.deployment("churn-endpoint", "green").state == "creating"
    ml.online_deployments.finish("churn-endpoint", "green")
    assert eps.deployment("churn-endpoint", "green").state == "succeeded"
    eps.begin_deploy("churn-endpoint", "green", MODEL)
    assert ml.calls.names().count("online_deployments.begin_create_or_update") == 1
    ml.online_deployments.finish("churn-endpoint", "green", "Failed")
    assert eps.deployment("churn-endpoint", "green").state == "failed"
    assert eps.deployment("churn-endpoint", "nope").state == "missing"


def test_live_traffic_only_goes_to_a_succeeded_deployment():
    _ml, eps = _endpoints()
    eps.begin_deploy("churn-endpoint", "green", MODEL)
    with pytest.raises(TrafficRuleError, match="only a succeeded deployment"):
        eps.set_traffic("churn-endpoint", {"green": 100})


def test_a_deployment_with_live_or_mirror_traffic_cannot_be_deleted():
    ml, eps = _endpoints()
    _blue_green(ml, eps)
    eps.set_traffic("churn-endpoint", {"blue": 100}, {"green": 10})
    with pytest.raises(TrafficRuleError, match="live traffic"):
        eps.delete_deployment("churn-endpoint", "blue")
    with pytest.raises(TrafficRuleError, match="mirror"):
        eps.delete_deployment("churn-endpoint", "green")
    eps.set_traffic("churn-endpoint", {"blue": 100})
    eps.delete_deployment("churn-endpoint", "green")
    eps.delete_deployment("churn-endpoint", "green")  # already gone: fine
    assert ("churn-endpoint", "green") not in ml.online_deployments.store
