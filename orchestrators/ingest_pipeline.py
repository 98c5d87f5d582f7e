"""Ingestion by a Data Factory pipeline, inside the lifecycle: start the run, wait for it on durable
timers (never a sleeping activity), then check its output against the data contract.

A failed or cancelled run, one past the policy's deadline, or output that breaks the contract all end
as a rejected ingest whose reasons carry Data Factory's own text; an operator's `abort` cancels the run.
"""

from __future__ import annotations

from typing import Any

from core.kernel.datafiles import IngestResult
from core.kernel.policy import DataFactoryIngestion
from core.run.facts import RunAborted
from core.training.payloads import IngestInput
from core.training.pipeline_ingest import run_outcome
from core.training.pipeline_payloads import (
    PIPELINE_CANCEL,
    PIPELINE_OUTPUT,
    PIPELINE_START,
    PIPELINE_STATUS,
    PipelineOutputInput,
    PipelineRunInput,
    PipelineRunResult,
)
from orchestrators.run import End, RunContext, Step


def ingest_with_pipeline(
    run: RunContext, ingest: IngestInput, adf: DataFactoryIngestion, abort: Any
) -> Step[IngestResult]:
    """`abort` is the run's durable task for the operator's abort event: it wakes the wait and cancels
    the pipeline run."""
    started = yield from run.call(PIPELINE_START, ingest)
    if started.status == "rejected":
        assert started.rejected is not None
        return started.rejected
    assert started.run is not None and started.data_version is not None
    run.show(pipeline_run=started.run.run_id, data_version=started.data_version)
    ask = PipelineRunInput(run_id=run.run_id, pipeline_run_id=started.run.run_id)

    def check() -> Step[PipelineRunResult]:
        state = yield from run.call(PIPELINE_STATUS, ask)
        run.show(pipeline_state=state.state)
        return state

    polled = yield from run.poll(
        check,
        lambda r: r.done,
        every=adf.poll_seconds,
        within=adf.deadline_seconds,
        first=started.run,
        wake=[abort],
    )
    pipeline_run = polled.last
    if polled.outcome != "done":
        yield from run.call(PIPELINE_CANCEL, ask)
        if polled.outcome == "woken":
            why = "aborted by operator"
            fact = RunAborted(stage="ingest", reason=why, abort=abort.result)
            raise End(
                "aborted", "ingest", [why, f"Data Factory run {pipeline_run.run_id} was cancelled"], fact
            )
        reasons = [
            f"Data Factory pipeline {pipeline_run.pipeline} run {pipeline_run.run_id} did not finish within "
            f"data.data_factory.deadline_seconds={adf.deadline_seconds}; it was cancelled"
        ]
        return IngestResult(status="rejected", model=run.model, rows_in=0, failures=reasons)
    if failures := run_outcome(pipeline_run.port_value()):
        return IngestResult(
            status="rejected", model=run.model, rows_in=0, sources=started.sources, failures=failures
        )
    check_output = PipelineOutputInput(
        run_id=run.run_id,
        model=run.model,
        run=pipeline_run,
        data_version=started.data_version,
        sources=started.sources,
    )
    return (yield from run.call(PIPELINE_OUTPUT, check_output))
