"""Activities of the per-model coordinator: claim pending requests for a run (core.run.runs), record
how it ended. Built with their ports; `serve` registers each
method under the reference it implements."""

from __future__ import annotations

from activities.blueprint import implements, serve
from core.intake.payloads import (
    CLAIM,
    RECORD_DRY_RUN,
    RUN_FINISHED,
    ClaimInput,
    ClaimResult,
    RecordDryRunInput,
    RecordDryRunResult,
    RunFinishedInput,
)
from core.kernel.ports import RunRecord
from core.run.runs import claim_for_run
from wiring import Ports


class CoordinatorActivities:
    def __init__(self, ports: Ports) -> None:
        self.ports = ports

    @implements(CLAIM)
    def claim(self, req: ClaimInput) -> ClaimResult:
        p = self.ports
        return claim_for_run(
            p.ledger,
            p.policies.get(req.model),
            req,
            dry_run=p.settings.lifecycle_dry_run,
            dry_run_seconds=p.settings.lifecycle_dry_run_seconds,
        )

    @implements(RUN_FINISHED)
    def run_finished(self, req: RunFinishedInput) -> RunFinishedInput:
        """Record under the coordinator how each run it started ended (a failed run's error too)."""
        self.ports.ledger.append(req.coordinator, "decision", req.dump())
        return req

    @implements(RECORD_DRY_RUN)
    def record_dry_run(self, req: RecordDryRunInput) -> RecordDryRunResult:
        record = RunRecord(
            run_id=req.run_id,
            model=req.trigger.model,
            status="kept",
            stage="done",
            trigger=req.trigger.dump(),
            decision={"dry_run": True, "reasons": ["LIFECYCLE_DRY_RUN is set: nothing was trained"]},
        )
        return RecordDryRunResult(run_id=self.ports.ledger.put_run(record).run_id)


FUNCTIONS = serve(CoordinatorActivities)
