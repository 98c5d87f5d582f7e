"""The azure-ai-ml adapters: entities built offline and checked field by field, operations against
a recording fake of MLClient's operation groups (a third-party boundary with no local stand-in)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from azure.ai.ml.constants import AssetTypes

from adapters.azure.endpoints import AzureMLEndpoints
from adapters.azure.registry import AzureMLModelRegistry
from adapters.azure.training_jobs import AML_STATES, AzureMLTrainingJobs, map_state
from core.ports import ModelVersion, TrafficRuleError

from .fake_mlclient import FakeMLClient
from .stub_http import serve

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


def test_register_creates_an_mlflow_model_with_lineage_tags_and_is_idempotent_per_lifecycle():
    ml = FakeMLClient()
    reg = AzureMLModelRegistry(ml)
    v1 = reg.register("churn", SRC, {"lifecycle_id": "run-7", "data_version": "dv-42"})
    again = reg.register("churn", SRC, {"lifecycle_id": "run-7", "data_version": "dv-42"})
    v2 = reg.register("churn", SRC, {"lifecycle_id": "run-8"})
    assert (v1.version, again.version, v2.version) == ("1", "1", "2")
    stored = ml.models.store[("churn", "1")]
    assert stored.type == AssetTypes.MLFLOW_MODEL
    assert stored.path == SRC
    assert stored.tags == {"lifecycle_id": "run-7", "data_version": "dv-42"}
    assert v1.source_uri == "azureml:churn:1"
    assert [v.version for v in reg.versions("churn")] == ["1", "2"]


def test_the_champion_tag_moves_from_the_old_version_to_the_new_one():
    ml = FakeMLClient()
    times = iter([datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 2, tzinfo=UTC)])
    reg = AzureMLModelRegistry(ml, clock=lambda: next(times))
    assert reg.champion("churn") is None
    reg.register("churn", SRC, {"lifecycle_id": "a"})
    reg.register("churn", SRC, {"lifecycle_id": "b"})
    reg.set_champion("churn", "1")
    assert reg.champion("churn").version == "1"
    reg.set_champion("churn", "2")
    assert reg.champion("churn").version == "2"
    assert ml.models.store[("churn", "1")].tags == {"lifecycle_id": "a"}
    assert ml.models.store[("churn", "2")].tags["champion"] == "true"


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


def test_begin_deploy_builds_a_no_code_mlflow_deployment_and_does_not_wait():
    ml, eps = _endpoints()
    info = eps.begin_deploy(
        "churn-endpoint",
        "green",
        MODEL,
        instance_type="Standard_DS3_v2",
        instance_count=2,
        environment_variables={"LOG_LEVEL": "info"},
    )
    dep = ml.online_deployments.store[("churn-endpoint", "green")]
    assert (dep.name, dep.endpoint_name, dep.model) == ("green", "churn-endpoint", "azureml:churn:3")
    assert (dep.instance_type, dep.instance_count) == ("Standard_DS3_v2", 2)
    assert dep.environment_variables == {"LOG_LEVEL": "info"}
    assert dep.environment is None and dep.code_configuration is None
    assert dep.tags == {"model": "churn", "model_version": "3", "lifecycle_id": "run-7"}
    assert info.state == "creating"
    assert not any(p.waited for p in ml.online_deployments.pollers)
    assert ml.online_endpoints.store["churn-endpoint"].traffic == {}  # green starts at 0%


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


def test_set_traffic_writes_traffic_and_mirror_on_the_endpoint_without_waiting():
    ml, eps = _endpoints()
    _blue_green(ml, eps)
    info = eps.set_traffic("churn-endpoint", {"blue": 100}, {"green": 20})
    ep = ml.online_endpoints.store["churn-endpoint"]
    assert ep.traffic == {"blue": 100, "green": 0}
    assert ep.mirror_traffic == {"green": 20}
    assert (info.traffic, info.mirror_traffic) == ({"blue": 100, "green": 0}, {"green": 20})
    eps.set_traffic("churn-endpoint", {"blue": 90, "green": 10})
    assert ml.online_endpoints.store["churn-endpoint"].mirror_traffic == {}
    assert eps.get("churn-endpoint").deployments["green"].model_version == "3"
    assert not any(p.waited for p in ml.online_endpoints.pollers)


@pytest.mark.parametrize(
    ("traffic", "mirror", "message"),
    [
        ({"blue": 60, "green": 30}, None, "sum to 90"),
        ({"blue": 100, "red": 0}, None, "does not exist"),
        ({"blue": 100}, {"green": 60}, "at most 50%"),
        ({"blue": 90, "green": 10}, {"green": 10}, "cannot also receive mirror"),
        ({"blue": 100}, {"green": 10, "blue": 5}, "one deployment only"),
        ({"blue": 99.5, "green": 0.5}, None, "integer"),
    ],
)
def test_splits_azure_ml_would_refuse_raise_traffic_rule_errors(traffic, mirror, message):
    ml, eps = _endpoints()
    _blue_green(ml, eps)
    before = len(ml.online_endpoints.pollers)
    with pytest.raises(TrafficRuleError, match=message):
        eps.set_traffic("churn-endpoint", traffic, mirror)
    assert len(ml.online_endpoints.pollers) == before


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


def test_ensure_endpoint_creates_a_missing_endpoint_without_waiting():
    ml = FakeMLClient()
    info = AzureMLEndpoints(ml).ensure_endpoint("new-endpoint")
    assert info.name == "new-endpoint"
    assert ml.online_endpoints.store["new-endpoint"].auth_mode == "key"
    assert not ml.online_endpoints.pollers[0].waited


def test_invoke_posts_the_payload_with_the_endpoint_key_and_the_deployment_header():
    def respond(req):
        return 200, {"Content-Type": "application/json"}, b"[0.12, 0.87]"

    with serve(respond) as stub:
        _ml, eps = _endpoints(f"{stub.url}/score")
        payload = {"input_data": {"columns": ["a"], "index": [0], "data": [[1]]}}
        assert eps.invoke("churn-endpoint", payload, deployment="green") == [0.12, 0.87]
    [req] = stub.requests
    assert (req.method, req.path) == ("POST", "/score")
    assert req.headers["authorization"] == "Bearer primary-key"
    assert req.headers["azureml-model-deployment"] == "green"
    assert req.json() == payload
