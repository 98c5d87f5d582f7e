"""Serving by entity id on Azure, at the wire: a model trained on an online feature set is deployed with
our scoring script, its environment and the store's location, and what azure-ai-ml sends for it (the
code upload, the code and environment versions, the deployment) is what Azure ML needs and matches the
published REST specification of the api-version sent. A model without feature lineage stays a no-code
MLflow deployment."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from adapters.azure.endpoints import SCORING_CORE, SCORING_DIR, AzureMLEndpoints, FeatureStoreLocation
from core.kernel.ports import ModelVersion
from core.rollout.online_features import feature_environment
from tests.wire.armstandin import WS_PATH, AzureStandIn
from tests.wire.restspec import problems

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::FutureWarning")]

EP = "churn-endpoint"
REPO = Path(__file__).resolve().parents[2]
LINEAGE = {"feature_set": "churn", "feature_set_version": "dv-42", "feature_entity_column": "customer_id"}
GREEN = ModelVersion("churn", "3", "azureml:churn:3", {"lifecycle_id": "run-7", **LINEAGE})
PLAIN = ModelVersion("churn", "2", "azureml:churn:2", {})
STORE = FeatureStoreLocation("https://cosmos-abc.documents.azure.com:443/", "mllifecycle", "features")
DEPLOYMENT = ("OnlineDeploymentTrackedResource", "mfe-2023-04-01-preview.json")
CODE_VERSION = ("CodeVersionResource", "mfe-2023-04-01.json")


def _deploy(standin: AzureStandIn, ml_client, model: ModelVersion, **kwargs) -> dict:
    standin.add_endpoint(EP)
    AzureMLEndpoints(ml_client, feature_store=STORE, **kwargs).begin_deploy(
        EP, "green", model, environment_variables=feature_environment(model.tags)
    )
    [put] = standin.sent("PUT", rf"/onlineEndpoints/{EP}/deployments/green$")
    return put.json()


def test_a_model_trained_on_online_features_is_deployed_with_the_scoring_script_and_the_stores_location(
    standin, ml_client
):
    body = _deploy(standin, ml_client, GREEN)
    props = body["properties"]
    assert props["model"] == f"{WS_PATH}/models/churn/versions/3"
    assert props["codeConfiguration"]["scoringScript"] == "score.py"
    assert props["codeConfiguration"]["codeId"].startswith(f"{WS_PATH}/codes/")
    assert props["environmentId"].startswith(f"{WS_PATH}/environments/")
    assert props["environmentVariables"] == {
        "FEATURE_SET": "churn",
        "FEATURE_SET_VERSION": "dv-42",
        "FEATURE_ENTITY_COLUMN": "customer_id",
        "FEATURE_STORE_ENDPOINT": STORE.endpoint,
        "FEATURE_STORE_DATABASE": "mllifecycle",
        "FEATURE_STORE_CONTAINER": "features",
    }
    assert problems(body, *DEPLOYMENT) == []


def test_the_uploaded_code_is_the_script_with_the_core_filling_rule_beside_it(standin, ml_client):
    body = _deploy(standin, ml_client, GREEN)
    [code] = standin.sent("PUT", r"/codes/[^/]+/versions/1$")
    assert body["properties"]["codeConfiguration"]["codeId"] == code.path  # the code version it created
    # the SDK's one known deviation from the spec (tests/wire/test_rest_specs_wire.py), and no other
    assert problems(code.json(), *CODE_VERSION) == [
        "properties/properties/hash_version: 202208 is not of type 'string'"
    ]
    folder = code.json()["properties"]["codeUri"].rsplit("/", 1)[1]  # the staged folder, uploaded as it is
    uploaded = {
        key.split(f"/{folder}/", 1)[1]: data for key, data in standin.blobs.items() if f"/{folder}/" in key
    }
    assert uploaded["score.py"] == (SCORING_DIR / "score.py").read_bytes()
    for relative in SCORING_CORE:  # the same filling rule as the local stand-in, not a copy of it
        assert uploaded[relative] == (REPO / relative).read_bytes()
    assert set(uploaded) == {"score.py", *SCORING_CORE}  # nothing else of the app travels


def test_the_code_is_uploaded_once_and_reused_by_the_next_deployment(standin, ml_client):
    """Each deployment stages the folder afresh; azure-ai-ml finds the same content by its hash."""
    _deploy(standin, ml_client, GREEN)
    AzureMLEndpoints(ml_client, feature_store=STORE).begin_deploy(
        EP, "blue", GREEN, environment_variables=feature_environment(GREEN.tags)
    )
    codes = {d["properties"]["codeConfiguration"]["codeId"] for d in standin.deployments.values()}
    assert len(codes) == 1 and len(standin.sent("PUT", r"/codes/[^/]+/versions/1$")) == 1


def test_the_serving_environment_is_the_conda_file_on_the_inference_image(standin, ml_client):
    body = _deploy(standin, ml_client, GREEN)
    [put] = standin.sent("PUT", r"/environments/[^/]+/versions/[^/]+$")
    assert body["properties"]["environmentId"] == put.path
    props = put.json()["properties"]
    assert props["image"].startswith("mcr.microsoft.com/azureml/")
    conda = yaml.safe_load(props["condaFile"])
    pins = conda["dependencies"][-1]["pip"]
    for package in ("azureml-inference-server-http", "azure-identity", "azure-cosmos", "mlflow"):
        assert any(p.startswith(f"{package}==") for p in pins), package


def test_a_model_without_feature_lineage_stays_a_no_code_mlflow_deployment(standin, ml_client):
    props = _deploy(standin, ml_client, PLAIN)["properties"]
    assert "codeConfiguration" not in props and "environmentId" not in props
    assert not standin.sent("PUT", r"/codes/") and not standin.sent("PUT", r"/environments/")


def test_serving_by_entity_id_without_a_configured_store_is_refused_before_azure_sees_it(standin, ml_client):
    standin.add_endpoint(EP)
    with pytest.raises(RuntimeError, match="no online feature store is configured"):
        AzureMLEndpoints(ml_client).begin_deploy(
            EP, "green", GREEN, environment_variables=feature_environment(GREEN.tags)
        )
    assert not standin.sent("PUT", r"/deployments/green$")
