"""Activities of the data platform: ingestion by a Data Factory pipeline (start a run, read its status,
cancel it, check what it wrote against the data contract; waiting happens in the orchestrator, on durable
timers) and materialization of a data version into the online feature store. `serve` registers each
method under the activity reference it implements (activities/blueprint.py)."""

from __future__ import annotations

from activities.blueprint import implements, serve
from core.kernel.datafiles import IngestResult
from core.run.runs import run_rules
from core.training.online_features import materialize
from core.training.payloads import IngestInput
from core.training.pipeline_ingest import check_pipeline_output, plan_pipeline_run
from core.training.pipeline_payloads import (
    MATERIALIZE,
    PIPELINE_CANCEL,
    PIPELINE_OUTPUT,
    PIPELINE_START,
    PIPELINE_STATUS,
    FeatureSetResult,
    MaterializeInput,
    PipelineOutputInput,
    PipelineRunInput,
    PipelineRunResult,
    PipelineStartResult,
)
from wiring import Ports


class PipelineIngestActivities:
    def __init__(self, ports: Ports) -> None:
        self.ports = ports

    @implements(PIPELINE_START)
    def start(self, req: IngestInput) -> PipelineStartResult:
        """Plan the run from the run's policy snapshot and start it (idempotent on the run id)."""
        p = self.ports
        rules = run_rules(p.ledger, req.run_id)
        plan = plan_pipeline_run(
            p.data_lake, rules.policy, rules.contract, req.run_id, req.blobs, p.containers
        )
        if isinstance(plan, IngestResult):
            return PipelineStartResult(status="rejected", rejected=plan)
        run = p.data_pipelines.start(plan.pipeline, plan.parameters, reference=req.run_id)
        return PipelineStartResult(
            status="started",
            run=PipelineRunResult.of(run),
            data_version=plan.data_version,
            sources=plan.sources,
        )

    @implements(PIPELINE_STATUS)
    def status(self, req: PipelineRunInput) -> PipelineRunResult:
        return PipelineRunResult.of(self.ports.data_pipelines.status(req.pipeline_run_id))

    @implements(PIPELINE_CANCEL)
    def cancel(self, req: PipelineRunInput) -> PipelineRunResult:
        return PipelineRunResult.of(self.ports.data_pipelines.cancel(req.pipeline_run_id))

    @implements(PIPELINE_OUTPUT)
    def check_output(self, req: PipelineOutputInput) -> IngestResult:
        p = self.ports
        rules = run_rules(p.ledger, req.run_id)
        run = req.run.port_value()
        return check_pipeline_output(
            p.data_lake,
            rules.policy,
            rules.contract,
            req.run_id,
            run,
            req.data_version,
            req.sources,
            p.containers,
        )


class OnlineFeatureActivities:
    def __init__(self, ports: Ports) -> None:
        self.ports = ports

    @implements(MATERIALIZE)
    def materialize(self, req: MaterializeInput) -> FeatureSetResult:
        """The latest vector per entity of the run's data version into the online store (upserts)."""
        p = self.ports
        rules = run_rules(p.ledger, req.run_id)
        version = materialize(p.data_lake, p.online_features, rules.policy, rules.contract, req.data, req.at)
        return FeatureSetResult(
            feature_set=version.feature_set,
            version=version.version,
            entity_column=version.entity_column,
            entities=version.entities,
            materialized_at=version.materialized_at,
        )


FUNCTIONS = {**serve(PipelineIngestActivities), **serve(OnlineFeatureActivities)}
