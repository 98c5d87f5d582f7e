"""Ingestion by a Data Factory pipeline, inside the lifecycle: start the run, wait for it on durable
timers (never a sleeping activity), then check its output against the data contract.

A failed or cancelled run, one past the policy's deadline, or output that breaks the contract all end
as a rejected ingest whose reasons carry Data Factory's own text; an operator's `abort` cancels the run.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from core.kernel.datafiles import IngestResult
from core.run.facts import RunAborted
from core.training.payloads import IngestInput
from core.training.pipeline_ingest import run_outcome
from core.training.pipeline_payloads import (
    PipelineOutputInput,
    PipelineRunInput,
    PipelineRunResult,
    PipelineStartResult,
)
from orchestrators.run import End

if TYPE_CHECKING:
    from orchestrators.lifecycle import Lifecycle


def ingest_with_pipeline(run: Lifecycle, ingest: IngestInput):  # generator -> IngestResult
    adf = run.policy.data.data_factory
    assert adf is not None
    started = PipelineStartResult.model_validate((yield run.call("ingest_pipeline_start", ingest)))
    if started.status == "rejected":
        assert started.rejected is not None
        return started.rejected
    assert started.run is not None and started.data_version is not None
    pipeline_run = started.run
    run.show(pipeline_run=pipeline_run.run_id, data_version=started.data_version)
    context = run.context
    deadline = context.current_utc_datetime + timedelta(seconds=adf.deadline_seconds)
    ask = PipelineRunInput(run_id=run.run_id, pipeline_run_id=pipeline_run.run_id)
    while not pipeline_run.done:
        now = context.current_utc_datetime
        if run.abort.is_completed or now >= deadline:
            yield run.call("ingest_pipeline_cancel", ask)
            if run.abort.is_completed:
                why = "aborted by operator"
                fact = RunAborted(stage="ingest", reason=why, abort=run.abort.result)
                raise End(
                    "aborted", "ingest", [why, f"Data Factory run {pipeline_run.run_id} was cancelled"], fact
                )
            reasons = [
                f"Data Factory pipeline {pipeline_run.pipeline} run {pipeline_run.run_id} did not finish within "
                f"data.data_factory.deadline_seconds={adf.deadline_seconds}; it was cancelled"
            ]
            return IngestResult(status="rejected", model=run.model, rows_in=0, failures=reasons)
        timer = context.create_timer(min(now + timedelta(seconds=adf.poll_seconds), deadline))
        winner = yield context.task_any([timer, run.abort])
        if winner is run.abort and not timer.is_completed:
            timer.cancel()
            continue
        pipeline_run = PipelineRunResult.model_validate((yield run.call("ingest_pipeline_status", ask)))
        run.show(pipeline_state=pipeline_run.state)
    if failures := run_outcome(pipeline_run.port_value()):
        return IngestResult(
            status="rejected", model=run.model, rows_in=0, sources=started.sources, failures=failures
        )
    check = PipelineOutputInput(
        run_id=run.run_id,
        model=run.model,
        run=pipeline_run,
        data_version=started.data_version,
        sources=started.sources,
    )
    return IngestResult.model_validate((yield run.call("ingest_pipeline_output", check)))
