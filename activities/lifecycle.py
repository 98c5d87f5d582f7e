"""Activities of the lifecycle orchestration. `LifecycleActivities` is built with its ports
(wiring.ports(); tests pass fakes) and each method is one step: typed payload in, a core function
or one port call, typed payload out. `serve` registers each
method under the activity reference it implements (activities/blueprint.py).
Every step after `start` follows the run's policy snapshot (core.run.runs), not the live files.
Retries come from the orchestrator's RetryOptions, never from loops here."""

from __future__ import annotations

from activities.blueprint import implements, serve
from core.kernel.ports import JobStatus, LifecycleEvent
from core.run.payloads import (
    PUBLISH,
    RECORD,
    START,
    PublishInput,
    PublishResult,
    RecordInput,
    RecordResult,
    StartInput,
    StartResult,
)
from core.run.runs import run_rules, start_run
from core.training.ingest import run_ingest
from core.training.jobs import read_evaluation, submit_job
from core.training.payloads import (
    CANCEL_JOB,
    EVALUATION_RESULT,
    GET_CHAMPION,
    INGEST,
    JOB_STATUS,
    REGISTER,
    SUBMIT_JOB,
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

    @implements(START)
    def start(self, req: StartInput) -> StartResult:
        """Snapshot the policy for this run and open its ledger record (a retry keeps the first)."""
        p = self.ports
        return start_run(p.ledger, p.policies, req, p.code_version)

    @implements(INGEST)
    def ingest(self, req: IngestInput) -> IngestResult:
        p = self.ports
        rules = run_rules(p.ledger, req.run_id)
        return run_ingest(p.data_lake, rules.policy, rules.contract, req.run_id, req.blobs, p.containers)

    @implements(SUBMIT_JOB)
    def submit_job(self, req: SubmitJobInput) -> JobResult:
        """Submit the training or evaluation job; idempotent on the job name."""
        p = self.ports
        policy = run_rules(p.ledger, req.run_id).policy
        return _job_out(submit_job(p.training_jobs, p.data_lake, policy, req, p.job_input_root))

    @implements(JOB_STATUS)
    def job_status(self, req: JobInput) -> JobResult:
        return _job_out(self.ports.training_jobs.status(req.job_name))

    @implements(CANCEL_JOB)
    def cancel_job(self, req: JobInput) -> JobResult:
        return _job_out(self.ports.training_jobs.cancel(req.job_name))

    @implements(GET_CHAMPION)
    def get_champion(self, req: ChampionInput) -> ChampionResult:
        champion = self.ports.registry.champion(req.model)
        if champion is None:
            return ChampionResult(model=req.model)
        return ChampionResult(model=req.model, version=champion.version, source_uri=champion.source_uri)

    @implements(EVALUATION_RESULT)
    def evaluation_result(self, req: EvaluationInput) -> EvaluationResult:
        """Read the finished evaluation job's metrics and decide with the run's promotion rule."""
        p = self.ports
        return read_evaluation(p.training_jobs, run_rules(p.ledger, req.run_id).policy, req)

    @implements(REGISTER)
    def register(self, req: RegisterInput) -> RegisterResult:
        """Register the challenger with its lineage; idempotent on tags['lifecycle_id']."""
        mv = self.ports.registry.register(req.model, req.source_uri, req.tags)
        return RegisterResult(name=mv.name, version=mv.version, source_uri=mv.source_uri, tags=mv.tags)

    @implements(RECORD)
    def record(self, req: RecordInput) -> RecordResult:
        """Update the run's ledger record and append the step's fact (what changed and why)."""
        ledger = self.ports.ledger
        changes = req.changes()
        record = ledger.update_run(req.run_id, **changes) if changes else ledger.get_run(req.run_id)
        if req.fact is not None:
            ledger.append(req.run_id, req.fact.ledger_kind, req.fact.dump())
        return RecordResult(
            run_id=req.run_id,
            status=record.status if record else None,
            stage=record.stage if record else None,
        )

    @implements(PUBLISH)
    def publish(self, req: PublishInput) -> PublishResult:
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
        return PublishResult(published=len(events))


FUNCTIONS = serve(LifecycleActivities)
