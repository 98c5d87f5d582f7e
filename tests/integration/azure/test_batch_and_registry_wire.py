"""The Azure batch-endpoint and shared-registry adapters at the wire: the real azure-ai-ml SDK
sends its requests through a recording transport to a stateful stand-in (aml_transport.py);
the tests assert what Azure would receive, checked against the REST spec of the api-version sent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.ai.ml import MLClient
from azure.core.credentials import AccessToken, AccessTokenInfo

from adapters.azure.batch_endpoints import AzureMLBatchEndpoints
from adapters.azure.shared_registry import AzureMLSharedRegistry
from core.kernel.ports import BatchDefaultError, BatchEndpoints, ModelRegistryShare, ModelVersion
from tests.wire.restspec import problems

from .aml_transport import RG, SUB, WS, AmlStandIn

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::FutureWarning")]

SPEC = "aml-2023-10-01-batch.json"
DEV_V2 = ModelVersion("churn", "2", "azureml:churn:2", {"lifecycle_id": "lc-2", "champion": "true"})
REG_V2 = ModelVersion("churn", "2", "azureml://registries/shared-ml/models/churn/versions/2", {})
INPUT = "azureml://datastores/lake/paths/raw/churn-scoring/2026-01-01/"
OUTPUT = "azureml://datastores/lake/paths/predictions/churn/score-1/"


class _Credential:
    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken("token", 9_999_999_999)

    def get_token_info(self, *scopes: str, options: object = None) -> AccessTokenInfo:
        return AccessTokenInfo("token", 9_999_999_999)


@pytest.fixture
def aml() -> Iterator[AmlStandIn]:
    standin = AmlStandIn()
    standin.add_model("churn", "2", dict(DEV_V2.tags))
    yield standin


@pytest.fixture
def batch(aml: AmlStandIn) -> AzureMLBatchEndpoints:
    return AzureMLBatchEndpoints(MLClient(_Credential(), SUB, RG, WS, transport=aml))


def _ready(batch: AzureMLBatchEndpoints, aml: AmlStandIn, *deployments: str) -> None:
    batch.ensure_endpoint("churn-batch")
    aml.finish("endpoint", "churn-batch")
    for name in deployments:
        batch.begin_deploy("churn-batch", name, DEV_V2, compute="cpu-cluster")
        aml.finish("deployment", f"churn-batch/{name}")


# ------------------------------------------------------------------------------ batch endpoints


def test_the_adapters_implement_their_ports(batch: AzureMLBatchEndpoints, aml: AmlStandIn) -> None:
    assert isinstance(batch, BatchEndpoints)
    ml = MLClient(_Credential(), SUB, RG, WS, transport=aml)
    assert isinstance(AzureMLSharedRegistry(ml, ml, "shared-ml"), ModelRegistryShare)


def test_a_missing_endpoint_is_created_without_waiting_and_the_body_matches_the_spec(
    batch: AzureMLBatchEndpoints, aml: AmlStandIn
) -> None:
    info = batch.ensure_endpoint("churn-batch")
    assert (info.name, info.default_deployment, info.deployments) == ("churn-batch", None, {})
    (put,) = aml.of("PUT", r"/batchEndpoints/churn-batch$")
    assert put.api_version == "2023-10-01"
    assert problems(put.json(), "BatchEndpointTrackedResource", SPEC) == []
    assert put.json()["properties"]["authMode"].lower() == "aadtoken"  # the SDK sends 'aadToken'
    assert put.json()["location"] == "westeurope"  # the workspace's
    assert aml.batch_endpoints["churn-batch"]["properties"]["provisioningState"] == "Creating"

    aml.finish("endpoint", "churn-batch")
    again = batch.ensure_endpoint("churn-batch")
    assert again.scoring_uri.startswith("https://churn-batch.")
    assert len(aml.of("PUT", r"/batchEndpoints/churn-batch$")) == 1


def test_a_deployment_is_a_model_batch_deployment_of_the_exact_version_not_yet_default(
    batch: AzureMLBatchEndpoints, aml: AmlStandIn
) -> None:
    _ready(batch, aml)
    info = batch.begin_deploy("churn-batch", "churn-v2", DEV_V2, compute="cpu-cluster", mini_batch_size=5)
    assert (info.state, info.model_version) == ("creating", "2")
    (put,) = aml.of("PUT", r"/batchEndpoints/churn-batch/deployments/churn-v2$")
    body = put.json()
    # sent with 2024-01-01-preview; checked against the 2023-10-01 stable definitions (same properties)
    assert put.api_version == "2024-01-01-preview"
    assert problems(body, "BatchDeploymentTrackedResource", SPEC) == []
    props = body["properties"]
    assert props["model"] == {
        "referenceType": "Id",
        "assetId": f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.MachineLearningServices"
        f"/workspaces/{WS}/models/churn/versions/2",
    }
    assert props["compute"].endswith("/computes/cpu-cluster")
    assert (props["outputAction"], props["outputFileName"], props["miniBatchSize"]) == (
        "AppendRow",
        "predictions.csv",
        5,
    )
    assert props["resources"]["instanceCount"] == 1
    assert "codeConfiguration" not in props and "environmentId" not in props  # MLflow: no-code deployment
    assert body["tags"] == {"model": "churn", "model_version": "2", "lifecycle_id": "lc-2"}
    assert batch.get("churn-batch").default_deployment is None


def test_a_replayed_deploy_sends_nothing_new_and_a_missing_compute_is_refused(
    batch: AzureMLBatchEndpoints, aml: AmlStandIn
) -> None:
    _ready(batch, aml, "churn-v2")
    again = batch.begin_deploy("churn-batch", "churn-v2", DEV_V2, compute="cpu-cluster")
    assert again.state == "succeeded"
    assert len(aml.of("PUT", r"/deployments/churn-v2$")) == 1
    with pytest.raises(ValueError, match=r"set batch\.compute in the policy"):
        batch.begin_deploy("churn-batch", "churn-v3", DEV_V2)


def test_a_registry_version_deploys_by_its_registry_uri(
    batch: AzureMLBatchEndpoints, aml: AmlStandIn
) -> None:
    _ready(batch, aml)
    batch.begin_deploy("churn-batch", "churn-r2", REG_V2, compute="cpu-cluster")
    (put,) = aml.of("PUT", r"/deployments/churn-r2$")
    assert put.json()["properties"]["model"]["assetId"] == REG_V2.source_uri


def test_only_a_succeeded_deployment_becomes_default_and_the_default_cannot_be_deleted(
    batch: AzureMLBatchEndpoints, aml: AmlStandIn
) -> None:
    _ready(batch, aml)
    batch.begin_deploy("churn-batch", "churn-v2", DEV_V2, compute="cpu-cluster")
    with pytest.raises(ValueError, match="only a succeeded one can be default"):
        batch.set_default("churn-batch", "churn-v2")
    aml.finish("deployment", "churn-batch/churn-v2")

    info = batch.set_default("churn-batch", "churn-v2")
    assert info.default_deployment == "churn-v2"
    put = aml.of("PUT", r"/batchEndpoints/churn-batch$")[-1]
    assert put.json()["properties"]["defaults"] == {"deploymentName": "churn-v2"}
    assert problems(put.json(), "BatchEndpointTrackedResource", SPEC) == []
    assert batch.get("churn-batch").default_deployment == "churn-v2"

    with pytest.raises(BatchDefaultError):
        batch.delete_deployment("churn-batch", "churn-v2")
    assert aml.of("DELETE", r"/deployments/") == []


def test_deleting_a_deployment_is_begun_and_idempotent(batch: AzureMLBatchEndpoints, aml: AmlStandIn) -> None:
    _ready(batch, aml, "churn-v1", "churn-v2")
    batch.set_default("churn-batch", "churn-v2")
    batch.delete_deployment("churn-batch", "churn-v1")
    batch.delete_deployment("churn-batch", "churn-v1")
    assert len(aml.of("DELETE", r"/deployments/churn-v1$")) == 2
    assert batch.deployment("churn-batch", "churn-v1").state == "missing"
    assert sorted(batch.get("churn-batch").deployments) == ["churn-v2"]


def test_scoring_invokes_the_endpoint_with_the_input_output_and_job_name_once(
    batch: AzureMLBatchEndpoints, aml: AmlStandIn
) -> None:
    _ready(batch, aml, "churn-v2")
    batch.set_default("churn-batch", "churn-v2")
    status = batch.submit(
        "churn-batch", job_name="score-1", input_uri=INPUT, output_uri=OUTPUT, deployment="churn-v2"
    )
    assert (status.name, status.state, status.deployment) == ("score-1", "queued", "churn-v2")

    (post,) = aml.of("POST", r"^/jobs$")
    assert post.url.startswith("https://churn-batch.westeurope.inference.ml.azure.com/jobs")
    assert post.headers["azureml-model-deployment"] == "churn-v2"
    assert post.headers["authorization"] == "Bearer token"
    assert post.json() == {
        "properties": {
            "name": "score-1",
            "inputData": {"UriFolder": {"jobInputType": "UriFolder", "uri": INPUT}},
            "outputData": {"score": {"jobOutputType": "UriFolder", "uri": OUTPUT}},
        }
    }

    replay = batch.submit("churn-batch", job_name="score-1", input_uri=INPUT, output_uri=OUTPUT)
    assert replay.name == "score-1"
    assert len(aml.of("POST", r"^/jobs$")) == 1  # a replayed activity does not score twice

    aml.finish("job", "score-1", "Completed")
    assert batch.status("score-1").state == "completed"
    aml.finish("job", "score-1", "Failed")
    assert batch.status("score-1").state == "failed"
    with pytest.raises(KeyError):
        batch.status("score-404")


def test_a_single_input_file_is_sent_as_a_uri_file(batch: AzureMLBatchEndpoints, aml: AmlStandIn) -> None:
    _ready(batch, aml, "churn-v2")
    batch.set_default("churn-batch", "churn-v2")
    batch.submit("churn-batch", job_name="score-f", input_uri=INPUT + "part-1.csv", output_uri=OUTPUT)
    (post,) = aml.of("POST", r"^/jobs$")
    assert post.json()["properties"]["inputData"] == {
        "UriFile": {"jobInputType": "UriFile", "uri": INPUT + "part-1.csv"}
    }
    # the endpoint's default, named explicitly: the SDK would otherwise reuse a header pinned earlier
    assert post.headers["azureml-model-deployment"] == "churn-v2"


def test_a_deployment_pinned_once_does_not_stick_to_later_default_invocations(
    batch: AzureMLBatchEndpoints, aml: AmlStandIn
) -> None:
    _ready(batch, aml, "churn-v1", "churn-v2")
    batch.set_default("churn-batch", "churn-v2")
    batch.submit("churn-batch", job_name="ab-b", input_uri=INPUT, output_uri=OUTPUT, deployment="churn-v1")
    status = batch.submit("churn-batch", job_name="ab-a", input_uri=INPUT, output_uri=OUTPUT)
    pinned, default = aml.of("POST", r"^/jobs$")
    assert pinned.headers["azureml-model-deployment"] == "churn-v1"
    assert default.headers["azureml-model-deployment"] == "churn-v2"
    assert status.deployment == "churn-v2"


# ------------------------------------------------------------------------------ shared registry


@pytest.fixture
def shared(aml: AmlStandIn) -> AzureMLSharedRegistry:
    workspace = MLClient(_Credential(), SUB, RG, WS, transport=aml)
    registry = MLClient(_Credential(), registry_name="shared-ml", transport=aml)
    return AzureMLSharedRegistry(workspace, registry, "shared-ml")


def test_sharing_begins_a_registry_import_of_the_workspace_version_without_waiting(
    shared: AzureMLSharedRegistry, aml: AmlStandIn
) -> None:
    copy = shared.share(DEV_V2)
    assert (copy.name, copy.version, copy.source_uri) == ("churn", "2", REG_V2.source_uri)
    assert copy.tags == {"lifecycle_id": "lc-2"}  # the champion mark stays in dev

    assert len(aml.of("GET", r"/registries/shared-ml/discovery$")) == 1
    (imp,) = aml.of("POST", r"/registries/shared-ml/import$")
    assert imp.url.startswith("https://westeurope.api.azureml.ms/mferp/managementfrontend/subscriptions/")
    assert "/resourceGroups/rg-shared/" in imp.path  # the registry's resource group, from discovery
    assert imp.api_version == "2021-10-01-dataplanepreview"
    assert imp.json() == {
        "properties": {
            "referenceType": "Id",
            "destinationName": "churn",
            "destinationVersion": "2",
            "sourceAssetId": "azureml://locations/westeurope/workspaces/11111111-2222-3333-4444-555555555555"
            "/models/churn/versions/2",
        }
    }
    with pytest.raises(KeyError, match="has no churn:2"):
        shared.get("churn", "2")  # still importing

    aml.finish("registry_import", "churn:2")
    assert shared.get("churn", "2").tags == {"lifecycle_id": "lc-2"}
    assert [v.version for v in shared.versions("churn")] == ["2"]


def test_sharing_a_version_already_in_the_registry_imports_nothing(
    shared: AzureMLSharedRegistry, aml: AmlStandIn
) -> None:
    shared.share(DEV_V2)
    aml.finish("registry_import", "churn:2")
    again = shared.share(DEV_V2)
    assert again.source_uri == REG_V2.source_uri
    assert len(aml.of("POST", r"/import$")) == 1
