"""Activities of the lifecycle orchestration. `LifecycleActivities` is built with its ports
(wiring.ports(); tests pass fakes) and each method is one step: typed payload in, a core function
or one port call, typed payload out. The registered functions below only parse and serialise.
Every step after `start` follows the run's policy snapshot (core.run.runs), not the live files.
Retries come from the orchestrator's RetryOptions, never from loops here."""

from __future__ import annotations

import wiring
from activities.blueprint import bp
from core.kernel.ports import JobStatus, LifecycleEvent
from core.run.payloads import PublishInput, RecordInput, StartInput, StartResult
from core.run.runs import append_fact_once, run_rules, start_run
from core.training.ingest import run_ingest
from core.training.jobs import read_evaluation, submit_job
from core.training.payloads import (
    ChampionInput,
    ChampionResult,
    EvaluationInput,
    EvaluationResult,
    IngestInput,
    IngestResult,
    JobInput,
    JobResult,
    RegisterInput,
    RegisterResult,
    SubmitJobInput,
)
from wiring import Ports


def _job_out(status: JobStatus) -> JobResult:
    return JobResult(
        name=status.name,
        state=status.state,
        done=status.done,
        message=status.message[-2000:],
        studio_url=status.studio_url,
        outputs=dict(status.outputs),
        metrics=dict(status.metrics),
    )


class LifecycleActivities:
    def __init__(self, ports: Ports) -> None:
        self.ports = ports

    def start(self, req: StartInput) -> StartResult:
        """Snapshot the policy for this run and open its ledger record (a retry keeps the first)."""
        p = self.ports
        return start_run(p.ledger, p.policies, req, p.code_version)

    def ingest(self, req: IngestInput) -> IngestResult:
        p = self.ports
        rules = run_rules(p.ledger, req.run_id)
        return run_ingest(p.data_lake, rules.policy, rules.contract, req.run_id, req.blobs, p.containers)

    def submit_job(self, req: SubmitJobInput) -> JobResult:
        """Submit the training or evaluation job; idempotent on the job name."""
        p = self.ports
        policy = run_rules(p.ledger, req.run_id).policy
        return _job_out(submit_job(p.training_jobs, p.data_lake, policy, req, p.job_input_root))

    def job_status(self, req: JobInput) -> JobResult:
        return _job_out(self.ports.training_jobs.status(req.job_name))

    def cancel_job(self, req: JobInput) -> JobResult:
        return _job_out(self.ports.training_jobs.cancel(req.job_name))

    def get_champion(self, req: ChampionInput) -> ChampionResult:
        champion = self.ports.registry.champion(req.model)
        if champion is None:
            return ChampionResult(model=req.model)
        return ChampionResult(model=req.model, version=champion.version, source_uri=champion.source_uri)

    def evaluation_result(self, req: EvaluationInput) -> EvaluationResult:
        """Read the finished evaluation job's metrics and decide with the run's promotion rule."""
        p = self.ports
        return read_evaluation(p.training_jobs, run_rules(p.ledger, req.run_id).policy, req)

    def register(self, req: RegisterInput) -> RegisterResult:
        """Register the challenger with its lineage; idempotent on tags['lifecycle_id']."""
        mv = self.ports.registry.register(req.model, req.source_uri, req.tags)
        return RegisterResult(name=mv.name, version=mv.version, source_uri=mv.source_uri, tags=mv.tags)

    def record(self, req: RecordInput) -> dict:
        """Update the run's ledger record and append the step's fact (what changed and why)."""
        ledger = self.ports.ledger
        changes = req.changes()
        record = ledger.update_run(req.run_id, **changes) if changes else ledger.get_run(req.run_id)
        if req.fact is not None:
            append_fact_once(ledger, req.run_id, req.fact)
        return {
            "run_id": req.run_id,
            "status": record.status if record else None,
            "stage": record.stage if record else None,
        }

    def publish(self, req: PublishInput) -> dict:
        events = [
            LifecycleEvent(
                id=e.id,
                type=f"mllifecycle.{e.kind}",
                model=e.model,
                run_id=e.run_id,
                time=e.time,
                data=e.data,
            )
            for e in req.events
        ]
        self.ports.events.publish(events)
        return {"published": len(events)}


def _acts() -> LifecycleActivities:
    return LifecycleActivities(wiring.ports())


@bp.activity_trigger(input_name="payload")
def lifecycle_start(payload: dict) -> dict:
    return _acts().start(StartInput.model_validate(payload)).dump()


@bp.activity_trigger(input_name="payload")
def lifecycle_ingest(payload: dict) -> dict:
    return _acts().ingest(IngestInput.model_validate(payload)).dump()


@bp.activity_trigger(input_name="payload")
def lifecycle_submit_job(payload: dict) -> dict:
    return _acts().submit_job(SubmitJobInput.model_validate(payload)).dump()


@bp.activity_trigger(input_name="payload")
def lifecycle_job_status(payload: dict) -> dict:
    return _acts().job_status(JobInput.model_validate(payload)).dump()


@bp.activity_trigger(input_name="payload")
def lifecycle_cancel_job(payload: dict) -> dict:
    return _acts().cancel_job(JobInput.model_validate(payload)).dump()


@bp.activity_trigger(input_name="payload")
def lifecycle_get_champion(payload: dict) -> dict:
    return _acts().get_champion(ChampionInput.model_validate(payload)).dump()


@bp.activity_trigger(input_name="payload")
def lifecycle_evaluation_result(payload: dict) -> dict:
    return _acts().evaluation_result(EvaluationInput.model_validate(payload)).dump()


@bp.activity_trigger(input_name="payload")
def lifecycle_register(payload: dict) -> dict:
    return _acts().register(RegisterInput.model_validate(payload)).dump()


@bp.activity_trigger(input_name="payload")
def lifecycle_record(payload: dict) -> dict:
    return _acts().record(RecordInput.model_validate(payload))


@bp.activity_trigger(input_name="payload")
def lifecycle_publish(payload: dict) -> dict:
    return _acts().publish(PublishInput.model_validate(payload))
