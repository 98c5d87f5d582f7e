"""Payloads of the data platform steps: ingestion by a Data Factory pipeline (core/training/pipeline_ingest.py)
and materialization into the online feature store (core/training/online_features.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from core.kernel.activity import Activity
from core.kernel.datafiles import IngestResult
from core.kernel.payload import BlobRef, Payload
from core.kernel.ports import PipelineRun
from core.training.payloads import IngestInput


class PipelineRunResult(Payload):
    run_id: str
    pipeline: str
    state: Literal["queued", "running", "succeeded", "failed", "canceled"]
    done: bool
    message: str = ""

    @classmethod
    def of(cls, run: PipelineRun) -> PipelineRunResult:
        return cls(
            run_id=run.run_id,
            pipeline=run.pipeline,
            state=run.state,
            done=run.done,
            message=run.message[-4000:],
        )

    def port_value(self) -> PipelineRun:
        return PipelineRun(run_id=self.run_id, pipeline=self.pipeline, state=self.state, message=self.message)


class PipelineStartResult(Payload):
    """A started (or already running) pipeline run, or the ingest rejected before any run started."""

    status: Literal["started", "rejected"]
    run: PipelineRunResult | None = None
    data_version: str | None = None
    sources: list[BlobRef] = Field(default_factory=list)
    rejected: IngestResult | None = None


class PipelineRunInput(Payload):
    run_id: str  # the lifecycle run
    pipeline_run_id: str


class PipelineOutputInput(Payload):
    run_id: str
    model: str
    run: PipelineRunResult
    data_version: str
    sources: list[BlobRef] = Field(default_factory=list)


# --------------------------------------------------------------------------- online features


class MaterializeInput(Payload):
    run_id: str
    model: str
    data: IngestResult
    at: datetime  # the orchestration's clock: when the version became servable


class FeatureSetResult(Payload):
    feature_set: str
    version: str
    entity_column: str
    entities: int
    materialized_at: datetime


# --------------------------------------------------------------------------- activities

PIPELINE_START = Activity("ingest_pipeline_start", IngestInput, PipelineStartResult)
PIPELINE_STATUS = Activity("ingest_pipeline_status", PipelineRunInput, PipelineRunResult)
PIPELINE_CANCEL = Activity("ingest_pipeline_cancel", PipelineRunInput, PipelineRunResult)
PIPELINE_OUTPUT = Activity("ingest_pipeline_output", PipelineOutputInput, IngestResult)
MATERIALIZE = Activity("features_materialize", MaterializeInput, FeatureSetResult)
