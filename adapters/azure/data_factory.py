"""DataPipelines on Azure Data Factory, through the management SDK (azure-mgmt-datafactory, api 2018-06-01).

Three REST calls, each checked against the published spec in tests/wire/test_data_factory_wire.py:
`POST .../pipelines/{pipeline}/createRun` (body: the parameters), `GET .../pipelineruns/{runId}` and
`POST .../pipelineruns/{runId}/cancel?isRecursive=true`; plus `POST .../queryPipelineRuns` so that
starting is idempotent. createRun itself is not: a retried activity would start a second run. So
`start` first asks for this pipeline's runs of the last `lookback` and returns the one whose
`runId` parameter is our reference.

Pipeline run statuses are Queued, InProgress, Succeeded, Failed, Canceling, Cancelled (PipelineRun.status,
https://learn.microsoft.com/dotnet/api/microsoft.azure.management.datafactory.models.pipelinerun.status);
`message` carries Data Factory's own error text of a failed run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.credentials import TokenCredential
from azure.mgmt.datafactory import DataFactoryManagementClient
from azure.mgmt.datafactory.models import RunFilterParameters, RunQueryFilter, RunQueryOrderBy

from core.kernel.ports import PipelineRun, PipelineRunState

STATES: dict[str, PipelineRunState] = {
    "queued": "queued",
    "inprogress": "running",
    "canceling": "running",  # still running until Data Factory says Cancelled
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "canceled",
    "canceled": "canceled",
}
REFERENCE_PARAMETER = "runId"  # core.training.pipeline_ingest.pipeline_parameters sends it


def _state(status: str | None) -> PipelineRunState:
    if not status:
        return "queued"
    try:
        return STATES[status.lower()]
    except KeyError:
        raise ValueError(f"Data Factory reported an unknown pipeline run status {status!r}") from None


def _run(raw: Any, pipeline: str | None = None) -> PipelineRun:
    params = {str(k): str(v) for k, v in (getattr(raw, "parameters", None) or {}).items()}
    return PipelineRun(
        run_id=raw.run_id,
        pipeline=raw.pipeline_name or pipeline or "",
        state=_state(raw.status),
        message=raw.message or "",
        parameters=params,
    )


class DataFactoryPipelines:
    def __init__(
        self,
        client: DataFactoryManagementClient,
        resource_group: str,
        factory: str,
        *,
        lookback: timedelta = timedelta(days=2),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.resource_group = resource_group
        self.factory = factory
        self.lookback = lookback
        self.clock = clock

    @classmethod
    def connect(
        cls,
        credential: TokenCredential,
        subscription_id: str,
        resource_group: str,
        factory: str,
        **kwargs: Any,
    ) -> DataFactoryPipelines:
        return cls(
            DataFactoryManagementClient(credential, subscription_id, **kwargs), resource_group, factory
        )

    def _existing(self, pipeline: str, reference: str) -> PipelineRun | None:
        now = self.clock()
        query = RunFilterParameters(
            last_updated_after=now - self.lookback,
            last_updated_before=now + timedelta(hours=1),
            # the SDK names the REST field `values` values_property (a mapping `values=` would not reach Azure)
            filters=[RunQueryFilter(operand="PipelineName", operator="Equals", values_property=[pipeline])],
            order_by=[RunQueryOrderBy(order_by="RunStart", order="DESC")],
        )
        while True:
            page = self.client.pipeline_runs.query_by_factory(self.resource_group, self.factory, query)
            for raw in page.value or []:
                if (raw.parameters or {}).get(REFERENCE_PARAMETER) == reference:
                    return _run(raw, pipeline)
            if not page.continuation_token:
                return None
            query.continuation_token = page.continuation_token

    def start(self, pipeline: str, parameters: dict[str, Any], *, reference: str) -> PipelineRun:
        if parameters.get(REFERENCE_PARAMETER) != reference:
            raise ValueError(
                f"the pipeline parameter {REFERENCE_PARAMETER!r} must be the reference {reference!r}"
            )
        if (found := self._existing(pipeline, reference)) is not None:
            return found
        created = self.client.pipelines.create_run(self.resource_group, self.factory, pipeline, parameters)
        return PipelineRun(run_id=created.run_id, pipeline=pipeline, state="queued")

    def status(self, run_id: str) -> PipelineRun:
        return _run(self.client.pipeline_runs.get(self.resource_group, self.factory, run_id))

    def cancel(self, run_id: str) -> PipelineRun:
        self.client.pipeline_runs.cancel(self.resource_group, self.factory, run_id, is_recursive=True)
        return self.status(run_id)
