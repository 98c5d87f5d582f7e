"""DataFactoryPipelines as it runs on Azure, at the wire: the real azure-mgmt-datafactory client over
the recording stand-in, each request checked against Data Factory's published REST spec (the vendored
extract tests/wire/specs/datafactory-2018-06-01.json: method, path, query and body)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.datafactory import DataFactoryManagementClient

from adapters.azure.data_factory import DataFactoryPipelines
from core.kernel.datafiles import Containers
from core.kernel.payload import BlobRef
from core.kernel.policy import DataFactoryIngestion, load_policy
from core.training.pipeline_ingest import pipeline_parameters
from tests.wire.armstandin import RESOURCE_GROUP, SUBSCRIPTION, Answer, AzureStandIn, Call, FakeCredential
from tests.wire.restspec import operation_problems, problems

pytestmark = pytest.mark.integration

SPEC = "datafactory-2018-06-01.json"
FACTORY = "adf-lifecycle"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FACTORY_PATH = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.DataFactory/factories/{FACTORY}"


class DataFactoryStandIn(AzureStandIn):
    """Pipeline runs of one factory, kept as Data Factory keeps them (PipelineRun, 2018-06-01)."""

    def __init__(self) -> None:
        super().__init__()
        self.runs: dict[str, dict[str, Any]] = {}

    def _route(self, c: Call) -> Answer | None:
        if c.host != "management.azure.com" or not c.path.startswith(FACTORY_PATH):
            return super()._route(c)
        rest = c.path[len(FACTORY_PATH) :]
        if c.method == "POST" and (m := re.fullmatch(r"/pipelines/([^/]+)/createRun", rest)):
            run_id = f"0000-run-{len(self.runs) + 1}"
            params = {k: v if isinstance(v, str) else str(v) for k, v in (c.json() or {}).items()}
            self.runs[run_id] = {
                "runId": run_id,
                "pipelineName": m.group(1),
                "parameters": params,
                "status": "Queued",
                "message": "",
                "runStart": NOW.isoformat(),
                "lastUpdated": NOW.isoformat(),
            }
            return 200, {}, {"runId": run_id}
        if c.method == "POST" and rest == "/queryPipelineRuns":
            wanted = {f["values"][0] for f in c.json().get("filters", []) if f["operand"] == "PipelineName"}
            return 200, {}, {"value": [r for r in self.runs.values() if r["pipelineName"] in wanted]}
        if c.method == "GET" and (m := re.fullmatch(r"/pipelineruns/([^/]+)", rest)):
            return 200, {}, self.runs[m.group(1)]
        if c.method == "POST" and (m := re.fullmatch(r"/pipelineruns/([^/]+)/cancel", rest)):
            self.runs[m.group(1)]["status"] = "Cancelled"
            return 200, {}, b""
        return None

    def finish(self, run_id: str, status: str, message: str = "") -> None:
        self.runs[run_id].update(status=status, message=message)


@pytest.fixture
def standin() -> DataFactoryStandIn:
    return DataFactoryStandIn()


@pytest.fixture
def pipelines(standin: DataFactoryStandIn) -> DataFactoryPipelines:
    client = DataFactoryManagementClient(FakeCredential(), SUBSCRIPTION, transport=standin.transport())
    return DataFactoryPipelines(client, RESOURCE_GROUP, FACTORY, clock=lambda: NOW)


def _parameters(run_id: str = "churn-20260301120000-abc123") -> dict[str, Any]:
    policy = load_policy(__import__("pathlib").Path("samples/churn/policy.yaml"))
    adf = DataFactoryIngestion(pipeline="raw-to-features", parameters={"env": "dev"})
    policy = policy.model_copy(update={"data": policy.data.model_copy(update={"data_factory": adf})})
    sources = [BlobRef(container="raw", path="churn/2026/a.csv", etag='"0x1"')]
    return pipeline_parameters(policy, run_id, "dv-0123456789abcdef01234567", sources, Containers())


def _assert_follows_the_spec(call: Call) -> str:
    operation, found = operation_problems(call.method, call.path, call.query, SPEC)
    assert found == [], found
    assert call.api_version == "2018-06-01"
    assert call.headers["authorization"] == "Bearer standin-token"
    return operation


def test_starting_a_pipeline_asks_for_an_earlier_run_of_the_lifecycle_then_creates_one_with_its_parameters(
    standin, pipelines
):
    params = _parameters()
    run = pipelines.start("raw-to-features", params, reference=params["runId"])
    assert (run.run_id, run.state) == ("0000-run-1", "queued")

    query, create = standin.writes()
    assert _assert_follows_the_spec(query) == "PipelineRuns_QueryByFactory"
    assert problems(query.json(), "RunFilterParameters", SPEC) == []
    assert query.json()["filters"] == [
        {"operand": "PipelineName", "operator": "Equals", "values": ["raw-to-features"]}
    ]
    assert query.json()["lastUpdatedAfter"].startswith("2026-02-27T12:00:00")

    assert _assert_follows_the_spec(create) == "Pipelines_CreateRun"
    assert create.path.endswith("/pipelines/raw-to-features/createRun")
    body = create.json()
    assert problems(body, "ParameterValueSpecification", SPEC) == []
    assert body["sourcePaths"] == ["churn/2026/a.csv"]  # an Array parameter stays an array
    assert body["featuresFolder"] == "churn/dv-0123456789abcdef01234567"
    assert (body["runId"], body["env"]) == (params["runId"], "dev")


def test_a_replayed_start_finds_the_run_it_started_and_creates_no_second_one(standin, pipelines):
    params = _parameters()
    first = pipelines.start("raw-to-features", params, reference=params["runId"])
    again = pipelines.start("raw-to-features", params, reference=params["runId"])
    assert again.run_id == first.run_id
    assert len(standin.sent("POST", r"/createRun$")) == 1


def test_a_failed_run_reads_back_with_data_factorys_own_error_text(standin, pipelines):
    params = _parameters()
    run = pipelines.start("raw-to-features", params, reference=params["runId"])
    text = "Operation on target CopyRawToFeatures failed: ErrorCode=UserErrorSourceBlobNotExists"
    standin.finish(run.run_id, "Failed", text)
    status = pipelines.status(run.run_id)
    assert (status.state, status.message, status.pipeline) == ("failed", text, "raw-to-features")
    get = standin.sent("GET", r"/pipelineruns/")[-1]
    assert _assert_follows_the_spec(get) == "PipelineRuns_Get"


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("Queued", "queued"),
        ("InProgress", "running"),
        ("Canceling", "running"),
        ("Succeeded", "succeeded"),
        ("Cancelled", "canceled"),
    ],
)
def test_each_pipeline_run_status_maps_to_one_state(standin, pipelines, status, state):
    params = _parameters()
    run = pipelines.start("raw-to-features", params, reference=params["runId"])
    standin.finish(run.run_id, status)
    assert pipelines.status(run.run_id).state == state


def test_cancelling_cancels_the_run_and_its_child_pipelines(standin, pipelines):
    params = _parameters()
    run = pipelines.start("raw-to-features", params, reference=params["runId"])
    assert pipelines.cancel(run.run_id).state == "canceled"
    cancel = standin.sent("POST", r"/cancel$")[0]
    assert _assert_follows_the_spec(cancel) == "PipelineRuns_Cancel"
    assert cancel.query["isRecursive"] == "true"


def test_the_spec_check_catches_a_bad_pipeline_name_and_an_unknown_query_parameter():
    path = f"{FACTORY_PATH}/pipelines/raw.to.training/createRun"
    _, found = operation_problems("POST", path, {"api-version": "2018-06-01", "force": "1"}, SPEC)
    assert any("pipelineName" in p for p in found) and any("'force'" in p for p in found)
    assert problems({"lastUpdatedAfter": "2026-03-01T00:00:00Z"}, "RunFilterParameters", SPEC) != []


def test_a_start_whose_parameters_do_not_carry_the_reference_is_refused(pipelines):
    with pytest.raises(ValueError, match="runId"):
        pipelines.start("raw-to-features", {"runId": "other"}, reference="mine")


def test_an_http_error_from_data_factory_surfaces_with_its_message(standin, pipelines):
    with pytest.raises(HttpResponseError):
        pipelines.status("no-such-run")
