"""The per-model coordinator: the singleton that turns retrain requests into lifecycle runs.

One eternal instance per model (`coordinator-{model}`). Triggers record a request in the ledger
and then raise `retrain_requested` on it (starting it if needed); the ledger, not the event, is
the truth, so an event lost or merged costs nothing: every generation starts by claiming from
the ledger. A generation is one of:

  claim -> debounce window still open -> timer until it closes -> continue_as_new
  claim -> run: the lifecycle as a sub-orchestration (one at a time) -> continue_as_new
          (requests that arrived meanwhile are pending: the next claim consumes all of them)
  claim -> nothing (or budget spent) -> wait for `retrain_requested` or a timer -> continue_as_new

continue_as_new keeps the history short however long the coordinator lives.
"""

from __future__ import annotations

from datetime import timedelta

import azure.durable_functions as df

from core.intake.payloads import (
    CLAIM,
    DRY_RUN_ORCHESTRATOR,
    RECORD_DRY_RUN,
    RETRAIN_REQUESTED,
    RUN_FINISHED,
    ClaimInput,
    ClaimResult,
    CoordinatorInput,
    DryRunInput,
    RecordDryRunInput,
    RunFinishedInput,
    lifecycle_id,
)
from core.run.status import CoordinatorStatus
from orchestrators.blueprint import bp
from orchestrators.run import call

# An idle coordinator wakes up this often anyway and re-reads the ledger: a safety net for
# a wake-up event that never arrived (the request itself is in the ledger).
IDLE_RECHECK = timedelta(minutes=15)


@bp.orchestration_trigger(context_name="context")
def coordinator(context: df.DurableOrchestrationContext):
    state = CoordinatorInput.model_validate(context.get_input())
    now = context.current_utc_datetime
    run_id = lifecycle_id(state.model, now, context.new_uuid())
    # Triggers read the phase to decide whether a wake-up is needed; it must say "claiming" in
    # the same episode that schedules the claim (see triggers/intake.py).
    show(context, CoordinatorStatus(model=state.model, generation=state.generation, phase="claiming"))
    ask = ClaimInput(model=state.model, run_id=run_id, now=now, coordinator=context.instance_id)
    claim = yield from call(context, CLAIM, ask, retry=None)
    status = CoordinatorStatus(
        model=state.model,
        generation=state.generation,
        phase="claiming",
        runs=state.runs,
        reasons=claim.reasons,
    )

    if claim.wait_until is not None:  # debounce window still open
        show(context, status.evolve(phase="debouncing", until=claim.wait_until.isoformat()))
        yield context.create_timer(claim.wait_until)
    elif claim.run_id and claim.lifecycle is not None:
        show(context, status.evolve(phase="running", run_id=claim.run_id, consumed=claim.consumed))
        yield from run_lifecycle(context, state, claim)
        state = state.model_copy(update={"runs": state.runs + 1})
    else:  # nothing to run (or budget spent): wait for a request or the next re-check
        wake_at = claim.retry_at or (now + IDLE_RECHECK)
        phase = "held" if claim.held else "idle"
        show(context, status.evolve(phase=phase, held=claim.held, until=wake_at.isoformat()))
        requested = context.wait_for_external_event(RETRAIN_REQUESTED)
        timer = context.create_timer(wake_at)
        if (yield context.task_any([requested, timer])) is requested:
            timer.cancel()
    context.continue_as_new(state.model_copy(update={"generation": state.generation + 1}).dump())
    return None


def show(context: df.DurableOrchestrationContext, status: CoordinatorStatus) -> None:
    context.set_custom_status(status.dump())


def run_lifecycle(context: df.DurableOrchestrationContext, state: CoordinatorInput, claim: ClaimResult):
    """The claimed run as a sub-orchestration (one at a time); how it ended is recorded either way."""
    assert claim.run_id and claim.lifecycle is not None
    finished = RunFinishedInput(
        model=state.model, run_id=claim.run_id, coordinator=context.instance_id, ok=True
    )
    try:
        run_input = claim.lifecycle.dump()
        if claim.orchestrator == DRY_RUN_ORCHESTRATOR:
            run_input = DryRunInput(trigger=claim.lifecycle, seconds=claim.dry_run_seconds).dump()
        yield context.call_sub_orchestrator(claim.orchestrator, run_input, claim.run_id)
    except Exception as exc:  # the run failed; record it and keep coordinating
        finished = finished.model_copy(update={"ok": False, "error": str(exc)[:2000]})
    yield from call(context, RUN_FINISHED, finished, retry=None)


@bp.orchestration_trigger(context_name="context")
def lifecycle_dry_run(context: df.DurableOrchestrationContext):
    """Stands in for `lifecycle` when LIFECYCLE_DRY_RUN is set: records the run and the
    requests it consumed, trains nothing (so storms measure the event edge, not training)."""
    dry = DryRunInput.model_validate(context.get_input())
    trigger = dry.trigger
    if dry.seconds:
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=dry.seconds))
    yield from call(
        context, RECORD_DRY_RUN, RecordDryRunInput(run_id=context.instance_id, trigger=trigger), retry=None
    )
    return {"run_id": context.instance_id, "model": trigger.model, "status": "kept", "dry_run": True}
