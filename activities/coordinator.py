"""Activities of the per-model coordinator: claim pending requests for a run (core.run.runs), record
how it ended. Built with their ports; the registered functions only parse and serialise."""

from __future__ import annotations

import wiring
from activities.blueprint import bp
from core.intake.payloads import ClaimInput, ClaimResult, RecordDryRunInput, RunFinishedInput
from core.kernel.ports import RunRecord
from core.run.runs import claim_for_run
from wiring import Ports


class CoordinatorActivities:
    def __init__(self, ports: Ports) -> None:
        self.ports = ports

    def claim(self, req: ClaimInput) -> ClaimResult:
        p = self.ports
        return claim_for_run(
            p.ledger,
            p.policies.get(req.model),
            req,
            dry_run=p.settings.lifecycle_dry_run,
            dry_run_seconds=p.settings.lifecycle_dry_run_seconds,
        )

    def run_finished(self, req: RunFinishedInput) -> RunFinishedInput:
        """Record under the coordinator how each run it started ended (a failed run's error too)."""
        self.ports.ledger.append(req.coordinator, "decision", req.dump())
        return req

    def record_dry_run(self, req: RecordDryRunInput) -> dict:
        record = RunRecord(
            run_id=req.run_id,
            model=req.trigger.model,
            status="kept",
            stage="done",
            trigger=req.trigger.dump(),
            decision={"dry_run": True, "reasons": ["LIFECYCLE_DRY_RUN is set: nothing was trained"]},
        )
        return {"run_id": self.ports.ledger.put_run(record).run_id}


def _acts() -> CoordinatorActivities:
    return CoordinatorActivities(wiring.ports())


@bp.activity_trigger(input_name="payload")
def coordinator_claim(payload: dict) -> dict:
    return _acts().claim(ClaimInput.model_validate(payload)).dump()


@bp.activity_trigger(input_name="payload")
def coordinator_run_finished(payload: dict) -> dict:
    return _acts().run_finished(RunFinishedInput.model_validate(payload)).dump()


@bp.activity_trigger(input_name="payload")
def coordinator_record_dry_run(payload: dict) -> dict:
    return _acts().record_dry_run(RecordDryRunInput.model_validate(payload))
