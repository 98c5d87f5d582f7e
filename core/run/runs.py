"""A run's rules and its ledger record: the policy snapshot taken when a run starts, and the
coordinator's claim of pending requests for a run.

A run follows the policy (and data contract) as they were when it started, not the files as they
are now: the snapshot is stored with the run's ledger record (lineage["rules"]), so every step,
on whichever worker and after whichever redeploy, judges with the rules the lineage records.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.intake import coalesce
from core.intake.payloads import DRY_RUN_ORCHESTRATOR, ClaimInput, ClaimResult
from core.kernel.contract import DataContract, load_contract
from core.kernel.fact import Fact
from core.kernel.policy import Policies, Policy
from core.kernel.ports import RetrainRequest, RunLedger, RunRecord
from core.run.payloads import StartInput, StartResult


@dataclass(frozen=True)
class RunRules:
    """The rules one run follows."""

    policy: Policy
    contract: DataContract

    @classmethod
    def live(cls, policy: Policy) -> RunRules:
        return cls(policy, load_contract(policy.path(policy.data.contract)))

    def snapshot(self) -> dict[str, Any]:
        return {
            "policy": self.policy.model_dump(mode="json"),
            # relative paths (job YAML) resolve against it; None only for policies built in code
            "policy_dir": None if self.policy.base_dir is None else str(self.policy.base_dir),
            "contract": self.contract.model_dump(mode="json"),
        }

    @classmethod
    def from_snapshot(cls, doc: dict[str, Any]) -> RunRules:
        base_dir = doc.get("policy_dir")
        policy = Policy.model_validate(doc["policy"]).model_copy(
            update={"base_dir": Path(base_dir) if base_dir else None}
        )
        return cls(policy, DataContract.model_validate(doc["contract"]))


def start_run(ledger: RunLedger, policies: Policies, req: StartInput, code_version: str) -> StartResult:
    """Snapshot the policy for this run and open its ledger record; a retried start keeps the
    record (and so the snapshot) it opened first."""
    existing = ledger.get_run(req.run_id)
    if existing is not None and "rules" in existing.lineage:
        rules = RunRules.from_snapshot(existing.lineage["rules"])
        code_version = str(existing.lineage.get("code_version", code_version))
    else:
        rules = RunRules.live(policies.get(req.trigger.model))
    policy = rules.policy
    if existing is None:
        ledger.put_run(
            RunRecord(
                run_id=req.run_id,
                model=policy.model,
                status="running",
                stage="start",
                trigger=req.trigger.dump(),
                lineage={"policy_hash": policy.hash, "code_version": code_version, "rules": rules.snapshot()},
                created_at=req.started_at,
            )
        )
    return StartResult(
        run_id=req.run_id,
        model=policy.model,
        policy=policy,
        policy_hash=policy.hash,
        code_version=code_version,
    )


def append_fact_once(ledger: RunLedger, run_id: str, fact: Fact) -> bool:
    """Append `fact` to the run's ledger unless this recording of it (its `fact_id`) is there
    already: activities run at least once, and one re-run after a crash must not say it twice.
    -> whether it was appended."""
    if fact.fact_id is not None and any(
        e.data.get("fact_id") == fact.fact_id for e in ledger.entries(run_id, fact.ledger_kind)
    ):
        return False
    ledger.append(run_id, fact.ledger_kind, fact.dump())
    return True


def run_rules(ledger: RunLedger, run_id: str) -> RunRules:
    """The rules run `run_id` started with."""
    record = ledger.get_run(run_id)
    if record is None:
        raise LookupError(f"run {run_id!r} has no ledger record: lifecycle_start opens it before any step")
    rules = record.lineage.get("rules")
    if not isinstance(rules, dict):
        raise LookupError(
            f"run {run_id!r} has no policy snapshot in its lineage (started before snapshots were "
            "recorded?): restart the run so it follows recorded rules"
        )
    return RunRules.from_snapshot(rules)


# --------------------------------------------------------------------------- coordinator


def _run_claim(
    inp: ClaimInput,
    orchestrator: str,
    dry_run_seconds: int,
    requests: list[RetrainRequest],
    reasons: list[str],
) -> ClaimResult:
    return ClaimResult(
        dry_run_seconds=dry_run_seconds,
        model=inp.model,
        run_id=inp.run_id,
        lifecycle=coalesce.run_input(inp.model, requests),
        consumed=[r.request_id for r in requests],
        reasons=reasons,
        orchestrator=orchestrator,
    )


def claim_for_run(
    ledger: RunLedger, policy: Policy, inp: ClaimInput, *, dry_run: bool, dry_run_seconds: int
) -> ClaimResult:
    """Claim the model's pending requests for the next run, or say why they wait (budget,
    debounce). Safe to run twice: requests already consumed by this run id are returned as they
    are (Durable delivers activities at least once). The claim uses the live policy: no run has
    started yet."""
    orchestrator = DRY_RUN_ORCHESTRATOR if dry_run else "lifecycle"
    already = ledger.requests_for_run(inp.run_id)
    if already:  # this claim ran before and its result was lost: same answer again
        return _run_claim(inp, orchestrator, dry_run_seconds, already, ["claimed before (activity retried)"])
    decision = coalesce.claim(
        ledger.pending_requests(inp.model),
        trainings_today=coalesce.trainings_today(ledger.list_runs(model=inp.model, limit=500), inp.now),
        max_trainings_per_day=policy.budget.max_trainings_per_day,
        now=inp.now,
        debounce_seconds=policy.triggers.debounce_seconds,
    )
    if decision.start_run:
        ledger.consume_requests(inp.model, list(decision.consume), inp.run_id)
        return _run_claim(
            inp, orchestrator, dry_run_seconds, ledger.requests_for_run(inp.run_id), list(decision.reasons)
        )
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
    )
