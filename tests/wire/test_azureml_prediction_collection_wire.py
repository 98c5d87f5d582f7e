"""AzureMLEndpoints with model data collection, at the wire: the deployment body Azure ML receives
carries `dataCollector` as the published REST specification defines it (the stable 2025-12-01
definitions; the SDK sends 2023-04-01-preview, the version that introduced them)."""

from __future__ import annotations

import pytest
import requests

from adapters.azure.endpoints import AzureMLEndpoints
from core.kernel.ports import ModelVersion
from tests.wire.armstandin import WS_PATH, AzureStandIn
from tests.wire.restspec import problems

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::FutureWarning")]

EP = "churn-endpoint"
SPEC = "aml-2025-12-01-datacollector.json"
GREEN = ModelVersion("churn", "3", "azureml:churn:3", {"lifecycle_id": "run-7"})
BLUE = ModelVersion("churn", "2", "azureml:churn:2", {})


def _deployment_put(standin: AzureStandIn, name: str) -> dict:
    (put,) = standin.sent("PUT", rf"/onlineEndpoints/{EP}/deployments/{name}$")
    # azure-ai-ml 1.35.2 sends online deployments at 2023-04-01-preview (where dataCollector first
    # appeared); SPEC is the 2025-12-01 stable definition, which a body must also satisfy to keep working
    assert put.api_version == "2023-04-01-preview"
    return put.json()


def test_a_deployment_for_ml_gates_is_created_with_payload_and_custom_logging_and_the_client_id_header(
    standin, ml_client
):
    standin.add_endpoint(EP)
    AzureMLEndpoints(ml_client, collect_predictions=True).begin_deploy(EP, "green", GREEN)

    collector = _deployment_put(standin, "green")["properties"]["dataCollector"]
    assert problems(collector, "DataCollector", SPEC) == []
    assert collector["rollingRate"] == "Hour"  # the yyyy/MM/dd/HH folders the reader lists
    assert collector["requestLogging"] == {"captureHeaders": ["x-ms-client-request-id"]}
    collections = collector["collections"]
    assert set(collections) == {"request", "response", "model_inputs", "model_outputs"}
    for name, collection in collections.items():
        assert collection["dataCollectionMode"].lower() == "enabled", name
        assert collection["samplingRate"] == 1.0, name  # pairs thin out quadratically when sampled
        # azure-ai-ml registers one data asset per collection at the default datastore path
        assert collection["dataId"] == f"{WS_PATH}/data/{EP}-green-{name}/versions/1"
    (asset,) = [
        c.json()
        for c in standin.sent("PUT", r"/data/[^/]+/versions/1$")
        if c.path.endswith(f"/data/{EP}-green-request/versions/1")
    ]
    assert asset["properties"]["dataUri"].endswith(f"/modelDataCollector/{EP}/green/request")
    assert standin.unknown == []


def test_the_policy_turns_collection_on_per_deployment_and_a_plain_deployment_sends_none(standin, ml_client):
    standin.add_endpoint(EP)
    eps = AzureMLEndpoints(ml_client)
    eps.begin_deploy(EP, "blue", BLUE)
    eps.begin_deploy(EP, "green", GREEN, collect_predictions=True)

    assert "dataCollector" not in _deployment_put(standin, "blue")["properties"]
    assert "dataCollector" in _deployment_put(standin, "green")["properties"]


def test_every_scoring_request_carries_a_fresh_client_request_id_for_pairing(standin, ml_client):
    session = requests.Session()
    session.mount("https://", standin.transport().session.get_adapter("https://"))
    standin.score = lambda call: (200, {}, [0.7])
    eps = AzureMLEndpoints(ml_client, http=session)
    standin.add_endpoint(EP)
    eps.invoke(EP, {"input_data": {"columns": ["customer_id"], "data": [["C1"]]}})
    eps.invoke(EP, {"input_data": {"columns": ["customer_id"], "data": [["C2"]]}})

    ids = [c.headers["x-ms-client-request-id"] for c in standin.sent("POST", r"/score$")]
    assert len(ids) == 2 and len(set(ids)) == 2 and all(len(i) == 36 for i in ids)
