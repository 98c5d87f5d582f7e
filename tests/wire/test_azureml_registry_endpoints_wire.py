"""AzureMLModelRegistry and AzureMLEndpoints, at the wire: the model versions, deployments and traffic
maps Azure ML receives from the real azure-ai-ml client."""

from __future__ import annotations

import pytest
import requests

from adapters.azure.endpoints import AzureMLEndpoints
from adapters.azure.registry import AzureMLModelRegistry
from core.kernel.ports import ModelVersion, TrafficRuleError
from tests.wire.armstandin import WS_PATH, AzureStandIn

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::FutureWarning")]

SRC = "azureml://jobs/churn-run-7-train/outputs/model"
EP = "churn-endpoint"


def _bodies(standin: AzureStandIn, method: str, pattern: str) -> list[dict]:
    return [c.json() for c in standin.sent(method, pattern)]


# ------------------------------------------------------------------------------ model registry


def test_register_sends_an_mlflow_model_version_with_the_job_output_and_lineage_tags(standin, ml_client):
    reg = AzureMLModelRegistry(ml_client)
    v1 = reg.register("churn", SRC, {"lifecycle_id": "run-7", "data_version": "dv-42", "champion": "true"})
    again = reg.register("churn", SRC, {"lifecycle_id": "run-7", "data_version": "dv-42"})
    v2 = reg.register("churn", SRC, {"lifecycle_id": "run-8"})

    assert (v1.version, again.version, v2.version) == ("1", "1", "2")
    puts = standin.sent("PUT", r"/models/churn/versions/\d+$")
    assert [c.path.rsplit("/", 1)[1] for c in puts] == ["1", "2"]  # the replayed registration sent nothing
    first = puts[0].json()["properties"]
    assert (first["modelType"], first["modelUri"]) == ("mlflow_model", SRC)
    assert first["tags"] == {"lifecycle_id": "run-7", "data_version": "dv-42"}  # never a champion tag
    assert v1.source_uri == "azureml:churn:1"


def test_moving_the_champion_tags_the_new_version_before_untagging_the_old(standin, ml_client):
    reg = AzureMLModelRegistry(ml_client)
    reg.register("churn", SRC, {"lifecycle_id": "a"})
    reg.register("churn", SRC, {"lifecycle_id": "b"})
    reg.set_champion("churn", "1")
    standin.calls.clear()
    reg.set_champion("churn", "2")

    puts = [
        (c.path.rsplit("/", 1)[1], c.json()["properties"]["tags"]) for c in standin.sent("PUT", r"/models/")
    ]
    assert [v for v, _ in puts] == ["2", "1"]
    assert puts[0][1]["champion"] == "true" and "champion_since" in puts[0][1]
    assert puts[1][1] == {"lifecycle_id": "a"}
    assert reg.champion("churn").version == "2"


# ------------------------------------------------------------------------------ endpoints

GREEN = ModelVersion("churn", "3", "azureml:churn:3", {"lifecycle_id": "run-7"})
BLUE = ModelVersion("churn", "2", "azureml:churn:2", {})


def _blue_green(standin: AzureStandIn, eps: AzureMLEndpoints) -> None:
    standin.add_endpoint(EP)
    eps.begin_deploy(EP, "blue", BLUE)
    standin.finish_deployment(EP, "blue")
    eps.set_traffic(EP, {"blue": 100})
    eps.begin_deploy(EP, "green", GREEN, instance_type="Standard_DS3_v2", instance_count=2)
    standin.finish_deployment(EP, "green")


def test_green_is_a_no_code_mlflow_deployment_of_the_registered_model_created_at_zero_traffic(
    standin, ml_client
):
    eps = AzureMLEndpoints(ml_client)
    _blue_green(standin, eps)

    (green,) = _bodies(standin, "PUT", rf"/onlineEndpoints/{EP}/deployments/green$")
    assert green["sku"] == {"name": "Default", "capacity": 2}
    props = green["properties"]
    assert props["endpointComputeType"] == "Managed"
    assert props["instanceType"] == "Standard_DS3_v2"
    assert props["model"] == f"{WS_PATH}/models/churn/versions/3"
    assert "environmentId" not in props and "codeConfiguration" not in props  # AML's no-code MLflow serving
    assert green["tags"] == {"model": "churn", "model_version": "3", "lifecycle_id": "run-7"}
    assert standin.endpoints[EP]["properties"]["traffic"] == {"blue": 100}  # green starts at 0%
    assert eps.deployment(EP, "green").state == "succeeded"


def test_each_ramp_step_sends_the_whole_traffic_map_and_the_mirror_map(standin, ml_client):
    eps = AzureMLEndpoints(ml_client)
    _blue_green(standin, eps)
    standin.calls.clear()
    eps.set_traffic(EP, {"blue": 100}, {"green": 20})
    for green in (10, 50, 100):
        eps.set_traffic(EP, {"blue": 100 - green, "green": green})

    sent = [b["properties"] for b in _bodies(standin, "PUT", rf"/onlineEndpoints/{EP}$")]
    # a PUT replaces the map; a deployment left out of it gets 0% (azure-ai-ml leaves zeros out)
    assert [(p["traffic"], p.get("mirrorTraffic")) for p in sent] == [
        ({"blue": 100}, {"green": 20}),
        ({"blue": 90, "green": 10}, {}),
        ({"blue": 50, "green": 50}, {}),
        ({"green": 100}, {}),
    ]
    assert {k: v for k, v in eps.get(EP).traffic.items() if v} == {"green": 100}


def test_blue_is_deleted_only_once_it_has_no_traffic(standin, ml_client):
    eps = AzureMLEndpoints(ml_client)
    _blue_green(standin, eps)
    with pytest.raises(TrafficRuleError):
        eps.delete_deployment(EP, "blue")
    assert standin.sent("DELETE") == []
    eps.set_traffic(EP, {"green": 100})
    eps.delete_deployment(EP, "blue")
    (delete,) = standin.sent("DELETE")
    assert delete.path == f"{WS_PATH}/onlineEndpoints/{EP}/deployments/blue"
    assert set(eps.get(EP).deployments) == {"green"}


def test_invoke_scores_with_the_endpoint_key_and_names_the_deployment(standin, ml_client):
    session = requests.Session()
    adapter = standin.transport().session.get_adapter("https://")
    session.mount("https://", adapter)
    standin.score = lambda call: (200, {}, [0.1, 0.9])
    eps = AzureMLEndpoints(ml_client, http=session)
    _blue_green(standin, eps)
    assert eps.invoke(EP, {"input_data": {"columns": ["a"], "data": [[1]]}}, deployment="green") == [0.1, 0.9]

    (score,) = standin.sent("POST", r"\.inference\.ml\.azure\.com/score$")
    assert score.headers["authorization"] == f"Bearer pk-{EP}"
    assert score.headers["azureml-model-deployment"] == "green"
    assert score.json() == {"input_data": {"columns": ["a"], "data": [[1]]}}
    assert standin.sent("POST", rf"/onlineEndpoints/{EP}/listKeys$")


def test_a_missing_endpoint_is_created_with_key_auth_without_waiting(standin, ml_client):
    eps = AzureMLEndpoints(ml_client)
    info = eps.ensure_endpoint(EP)
    (put,) = _bodies(standin, "PUT", rf"/onlineEndpoints/{EP}$")
    assert put["properties"]["authMode"] == "Key"
    assert info.name == EP and standin.unknown == []


def test_a_registry_version_is_deployed_by_its_registry_uri_in_a_deploy_only_environment(standin, ml_client):
    """Prod deploys the shared registry's exact asset, not a workspace model of the same name."""
    eps = AzureMLEndpoints(ml_client)
    standin.add_endpoint(EP)
    shared = ModelVersion("churn", "7", "azureml://registries/mllifecycle-shared/models/churn/versions/7")
    eps.begin_deploy(EP, "blue", shared)
    (blue,) = _bodies(standin, "PUT", rf"/onlineEndpoints/{EP}/deployments/blue$")
    assert blue["properties"]["model"] == "azureml://registries/mllifecycle-shared/models/churn/versions/7"
    standin.finish_deployment(EP, "blue")
    info = eps.deployment(EP, "blue")
    assert (info.model_name, info.model_version, info.state) == ("churn", "7", "succeeded")
