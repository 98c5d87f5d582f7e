"""Activities of the per-model coordinator: claim pending requests for a run, record how it ended.

The claim is safe to run twice (Durable delivers activities at least once): requests already
consumed by this run id are returned as they are instead of claiming again.
"""

from __future__ import annotations

import wiring as bootstrap
from activities import bp
from core import coalesce
from core.payloads.triggers import (
    DRY_RUN_ORCHESTRATOR,
    ClaimInput,
    ClaimResult,
    RecordDryRunInput,
    RunFinishedInput,
)
from core.ports import RunRecord


def _run_claim(inp: ClaimInput, orchestrator: str, requests: list, reasons: list[str]) -> dict:
    return ClaimResult(
        dry_run_seconds=bootstrap.settings().lifecycle_dry_run_seconds,
        model=inp.model,
        run_id=inp.run_id,
        lifecycle=coalesce.run_input(inp.model, requests),
        consumed=[r.request_id for r in requests],
        reasons=reasons,
        orchestrator=orchestrator,
    ).dump()


@bp.activity_trigger(input_name="payload")
def coordinator_claim(payload: dict) -> dict:
    inp = ClaimInput.model_validate(payload)
    ledger, policy = bootstrap.ledger(), bootstrap.policy(inp.model)
    settings = bootstrap.settings()
    orchestrator = DRY_RUN_ORCHESTRATOR if settings.lifecycle_dry_run else "lifecycle"
    already = ledger.requests_for_run(inp.run_id)
    if already:  # this activity ran before and its result was lost: same answer again
        return _run_claim(inp, orchestrator, already, ["claimed before (activity retried)"])
    decision = coalesce.claim(
        ledger.pending_requests(inp.model),
        trainings_today=coalesce.trainings_today(ledger.list_runs(model=inp.model, limit=500), inp.now),
        max_trainings_per_day=policy.budget.max_trainings_per_day,
        now=inp.now,
        debounce_seconds=policy.triggers.debounce_seconds,
    )
    if decision.start_run:
        ledger.consume_requests(inp.model, list(decision.consume), inp.run_id)
        return _run_claim(inp, orchestrator, ledger.requests_for_run(inp.run_id), list(decision.reasons))
    if decision.held:
        ledger.append(
            inp.coordinator,
            "request",
            {"held": list(decision.held), "held_reason": decision.held_reason, "numbers": decision.numbers},
        )
    return ClaimResult(
        model=inp.model,
        held=list(decision.held),
        held_reason=decision.held_reason,
        retry_at=decision.retry_at,
        wait_until=decision.wait_until,
        reasons=list(decision.reasons),
        numbers=decision.numbers,
        orchestrator=orchestrator,
    ).dump()


@bp.activity_trigger(input_name="payload")
def coordinator_run_finished(payload: dict) -> dict:
    """Record under the coordinator how each run it started ended (a failed run's error too)."""
    inp = RunFinishedInput.model_validate(payload)
    bootstrap.ledger().append(inp.coordinator, "decision", inp.dump())
    return inp.dump()


@bp.activity_trigger(input_name="payload")
def coordinator_record_dry_run(payload: dict) -> dict:
    inp = RecordDryRunInput.model_validate(payload)
    record = RunRecord(
        run_id=inp.run_id,
        model=inp.trigger.model,
        status="kept",
        stage="done",
        trigger=inp.trigger.dump(),
        decision={"dry_run": True, "reasons": ["LIFECYCLE_DRY_RUN is set: nothing was trained"]},
    )
    return {"run_id": bootstrap.ledger().put_run(record).run_id}
