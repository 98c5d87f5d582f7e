"""Batch scoring orchestrations.

`batch_deploy` (a sub-orchestration of the lifecycle, started once its rollout ended): put the
new champion on the model's batch endpoint -> score the policy's smoke rows with it -> make it
the default only if that passed (core.batch.rules.choose_default) -> prune old deployments. After an
online rollback it runs in `restore` mode: the default goes back to the champion's deployment if
it moved. Its failures are recorded and published, never raised: the online outcome stands.

`batch_score` (one per input delivery, the instance id comes from the dedupe key): validate the
input against the contract (features only) -> run the batch job(s) on the default deployment,
or on two deployments for an A/B -> wait with durable timers -> write predictions with the model
version and run id -> record it (under the run and the model's batch index) and publish it.

Every judgement is in core.batch.rules, every I/O an activity; `BatchRun` keeps status, facts and
events out of the flow, as RunContext does for the lifecycle.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from core.batch.facts import (
    BatchArm,
    BatchDefaultDecided,
    BatchDeployFailed,
    BatchDeploymentReady,
    BatchScored,
    BatchScoringStarted,
    BatchSmokeTested,
)
from core.batch.payloads import (
    BATCH_BEGIN_DEPLOY,
    BATCH_COLLECT,
    BATCH_DEPLOYMENT_STATE,
    BATCH_ENSURE_ENDPOINT,
    BATCH_JOB_STATUS,
    BATCH_JUDGE_SMOKE,
    BATCH_OUTPUT,
    BATCH_PREPARE,
    BATCH_PRUNE,
    BATCH_SCORE_START,
    BATCH_SET_DEFAULT,
    BATCH_STAGE_SMOKE,
    BATCH_SUBMIT,
    BatchBeginDeployInput,
    BatchCollectInput,
    BatchCollectResult,
    BatchDeployInput,
    BatchDeploymentInput,
    BatchEndpointInput,
    BatchEndpointResult,
    BatchJobInput,
    BatchJobResult,
    BatchJudgeSmokeInput,
    BatchOutputInput,
    BatchPrepareInput,
    BatchPrepareResult,
    BatchPruneInput,
    BatchScoreInput,
    BatchScoreStartResult,
    BatchSetDefaultInput,
    BatchSmokeInput,
    BatchSubmitInput,
    batch_index_id,
)
from core.batch.rules import SmokeVerdict, batch_deployment_name, choose_default, restore_default
from core.kernel.policy import BatchPolicy
from core.kernel.ports import BatchDeploymentInfo, BatchEndpointInfo
from core.run.facts import AnyFact
from core.run.payloads import RECORD, RecordInput, RecordResult
from core.run.status import BatchProgress
from orchestrators.blueprint import bp
from orchestrators.run import OrchestrationRun, Step

DEPLOY_POLL_SECONDS = 5


@bp.orchestration_trigger(context_name="context")
def batch_deploy(context: df.DurableOrchestrationContext):
    d = BatchDeploy(context, BatchDeployInput.model_validate(context.get_input()))
    try:
        yield from d.read_endpoint()
        if d.req.mode == "restore":
            return (yield from d.restore())
        yield from d.deploy()
        smoke = yield from d.smoke()
        yield from d.choose(smoke)
        return (yield from d.prune())
    except Exception as exc:  # recorded and published; the lifecycle's outcome is not changed
        return (yield from d.failed(exc))


@bp.orchestration_trigger(context_name="context")
def batch_score(context: df.DurableOrchestrationContext):
    s = BatchScore(context, BatchScoreInput.model_validate(context.get_input()))
    try:
        yield from s.start()
        yield from s.prepare()
        yield from s.score()
        yield from s.collect()
        return (yield from s.end("scored"))
    except Stop as stop:
        return (yield from s.end(stop.status, stop.reasons))
    except Exception as exc:
        return (yield from s.end("failed", [f"{type(exc).__name__}: {str(exc)[:1000]}"]))


class Stop(Exception):
    """A scoring run ends early: its input was rejected, or it could not score."""

    def __init__(self, status: str, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.status = status
        self.reasons = reasons


class BatchRun(OrchestrationRun):
    """One batch orchestration's custom status, ledger facts and events (deterministic)."""

    event_error_key = "error"

    def __init__(
        self, context: df.DurableOrchestrationContext, run_id: str, model: str, batch: BatchPolicy | None
    ):
        status = BatchProgress(run_id=run_id, model=model, endpoint=batch.endpoint if batch else None)
        super().__init__(context, run_id, model, status)
        self.batch = batch
        self.show()

    def record(self, fact: AnyFact, run_id: str | None = None) -> Step[RecordResult]:
        return self.call(RECORD, RecordInput(run_id=run_id or self.run_id, fact=fact))

    def wait_job(self, submit: BatchSubmitInput) -> Step[BatchJobResult]:
        """Submit a batch job, then poll it on durable timers until it ends or the deadline passes."""
        assert self.batch is not None
        job = yield from self.call(BATCH_SUBMIT, submit)

        def check() -> Step[BatchJobResult]:
            latest = yield from self.call(BATCH_JOB_STATUS, BatchJobInput(job_name=job.name))
            self.show(jobs={**(self.status.jobs or {}), latest.name: latest.state})
            return latest

        polled = yield from self.poll(
            check,
            lambda j: j.done,
            every=self.batch.poll_seconds,
            within=self.batch.deadline_seconds,
            first=job,
        )
        if polled.outcome == "deadline":
            return polled.last.model_copy(update={"state": "failed", "message": "deadline_seconds reached"})
        return polled.last

    def output(self, arm: str) -> Step[str]:  # -> the output folder's uri
        ask = BatchOutputInput(run_id=self.run_id, arm=arm)
        return (yield from self.call(BATCH_OUTPUT, ask)).output_uri


def _info(view: BatchEndpointResult) -> BatchEndpointInfo:
    deployments = {
        n: BatchDeploymentInfo(d.name, d.model_name, d.model_version, d.state, d.message)
        for n, d in view.deployments.items()
    }
    return BatchEndpointInfo(view.name, "", view.default, deployments)


class BatchDeploy(BatchRun):
    """The champion onto the batch endpoint, default only after a passed smoke."""

    endpoint: BatchEndpointResult

    def __init__(self, context: df.DurableOrchestrationContext, req: BatchDeployInput) -> None:
        super().__init__(context, req.run_id, req.model, req.batch)
        self.req = req
        self.name = req.batch.endpoint
        self.deployment = batch_deployment_name(req.model, req.version)
        self.show(deployment=self.deployment, phase="restore" if req.mode == "restore" else "endpoint")

    def read_endpoint(self):
        ask = BatchEndpointInput(endpoint=self.name)
        self.endpoint = yield from self.call(BATCH_ENSURE_ENDPOINT, ask)
        self.show(default=self.endpoint.default)

    def deploy(self):
        """Create the deployment of the champion's version and poll until it is ready."""
        b, req = self.req.batch, self.req
        self.show(phase="deploy")
        ask = BatchBeginDeployInput(
            endpoint=self.name,
            deployment=self.deployment,
            model=req.model,
            version=req.version,
            compute=b.compute,
            instance_count=b.instance_count,
            mini_batch_size=b.mini_batch_size,
        )
        begun = yield from self.call(BATCH_BEGIN_DEPLOY, ask)
        ref = BatchDeploymentInput(endpoint=self.name, deployment=self.deployment)
        polled = yield from self.poll(
            lambda: self.call(BATCH_DEPLOYMENT_STATE, ref),
            lambda s: s.state in ("succeeded", "failed", "missing"),
            every=DEPLOY_POLL_SECONDS,
            within=b.deadline_seconds,
            first=begun,
        )
        state = polled.last
        fact = BatchDeploymentReady(
            endpoint=self.name,
            deployment=self.deployment,
            version=req.version,
            state=state.state,
            message=state.message[-500:],
        )
        yield from self.record(fact)
        if state.state != "succeeded":
            raise RuntimeError(
                f"batch deployment {self.deployment} is {state.state}: {state.message or 'deadline reached'}"
            )

    def smoke(self) -> Step[SmokeVerdict]:
        """Score the smoke rows with the new deployment alone (named, not the default)."""
        b = self.req.batch
        self.show(phase="smoke")
        ask = BatchSmokeInput(
            run_id=self.run_id,
            model=self.model,
            rows=b.smoke_rows,
            eval_ref=self.req.eval_ref,
            transform=b.transform,
        )
        staged = yield from self.call(BATCH_STAGE_SMOKE, ask)
        job_name = f"{self.run_id}-batch-smoke-v{self.req.version}"
        submit = BatchSubmitInput(
            endpoint=self.name,
            job_name=job_name,
            input_uri=staged.input_uri,
            output_uri=(yield from self.output("smoke")),
            deployment=self.deployment,
            tags={"run_id": self.run_id, "purpose": "smoke"},
        )
        job = yield from self.wait_job(submit)
        judge = BatchJudgeSmokeInput(
            job_name=job.name, expected_rows=staged.rows, job_state=job.state, message=job.message
        )
        verdict = yield from self.call(BATCH_JUDGE_SMOKE, judge)
        fact = BatchSmokeTested(deployment=self.deployment, job=job.name, **verdict.model_dump())
        yield from self.record(fact)
        return SmokeVerdict(verdict.passed, verdict.expected_rows, verdict.scored_rows, verdict.reasons)

    def choose(self, smoke: SmokeVerdict):
        decision = choose_default(self.endpoint.default, self.deployment, smoke)
        self.show(phase="default")
        if decision.verdict == "switch":
            ask = BatchSetDefaultInput(run_id=self.run_id, endpoint=self.name, deployment=self.deployment)
            self.endpoint = yield from self.call(BATCH_SET_DEFAULT, ask)
        self.decision = decision
        self.show(
            default=decision.default,
            previous_default=decision.previous_default,
            status="deployed"
            if decision.verdict == "switch"
            else ("kept" if not smoke.passed else "unchanged"),
            reasons=decision.reasons,
        )

    def prune(self) -> Step[dict[str, Any]]:
        d, b = self.decision, self.req.batch
        self.show(phase="prune")
        ask = BatchPruneInput(
            endpoint=self.name, default=d.default, previous_default=d.previous_default, keep_last=b.keep_last
        )
        pruned = (yield from self.call(BATCH_PRUNE, ask)).deleted
        fact = BatchDefaultDecided(
            verdict=d.verdict,
            endpoint=self.name,
            candidate=d.candidate,
            default=d.default,
            previous_default=d.previous_default,
            reasons=d.reasons,
            pruned=pruned,
        )
        yield from self.record(fact)
        kind = "batch_deployed" if d.verdict == "switch" else "batch_default_kept"
        yield from self.publish(kind, {**fact.dump(), "version": self.req.version})
        return self.finish()

    def restore(self) -> Step[dict[str, Any]]:
        """The online rollout rolled back: the champion stays, so its deployment should be the
        batch default; put it back if the default moved (core.batch.rules.restore_default)."""
        back = restore_default(_info(self.endpoint), self.deployment)
        current = self.endpoint.default
        serving = self.endpoint.deployments.get(current or "")
        moved = serving is not None and serving.model_version != self.req.version
        if back is None or not moved:
            self.show(
                phase="done", status="unchanged", reasons=[f"batch default {current} serves the champion"]
            )
            return self.finish()
        ask = BatchSetDefaultInput(run_id=self.run_id, endpoint=self.name, deployment=back)
        self.endpoint = yield from self.call(BATCH_SET_DEFAULT, ask)
        why = f"online rollout rolled back: batch default {current} -> {back} (champion v{self.req.version})"
        fact = BatchDefaultDecided(
            verdict="restore",
            endpoint=self.name,
            candidate=back,
            default=back,
            previous_default=current,
            reasons=[why],
        )
        yield from self.record(fact)
        yield from self.publish("batch_default_restored", fact.dump())
        self.show(default=back, previous_default=current, status="restored", reasons=[why])
        return self.finish()

    def failed(self, exc: Exception) -> Step[dict[str, Any]]:
        error = f"{type(exc).__name__}: {str(exc)[:1000]}"
        self.show(status="failed", error=error)
        try:
            yield from self.record(BatchDeployFailed(error=error))
        except Exception as again:  # the ledger may be what failed: the status still says why
            self.show(error=f"{error}; recording it failed too: {str(again)[:200]}")
        yield from self.publish("batch_deploy_failed", {"error": error, "version": self.req.version})
        return self.finish()

    def finish(self) -> dict[str, Any]:
        self.show(phase="done")
        return self.status.dump()


class BatchScore(BatchRun):
    """One scoring run of one input."""

    start_info: BatchScoreStartResult
    prepared: BatchPrepareResult

    def __init__(self, context: df.DurableOrchestrationContext, req: BatchScoreInput) -> None:
        super().__init__(context, req.run_id, req.model, None)
        self.req = req
        self.started_at = context.current_utc_datetime
        self.jobs: list[tuple[str, str, BatchJobResult]] = []  # (arm, deployment, job)
        self.collected: list[BatchCollectResult] = []

    def start(self):
        self.start_info = info = yield from self.call(BATCH_SCORE_START, self.req)
        self.batch = info.batch
        self.show(endpoint=info.batch.endpoint, default=info.default, phase="prepare")
        ab = [info.default, info.ab_b] if info.default and info.ab_b else []
        fact = BatchScoringStarted(
            run_id=self.run_id,
            model=self.model,
            source=self.req.source,
            request_id=self.req.request_id,
            blobs=[f"{b.container}/{b.path}" for b in self.req.blobs],
            endpoint=info.batch.endpoint,
            default=info.default,
            ab=[a for a in ab if a],
        )
        yield from self.record(fact)
        yield from self.record(fact, batch_index_id(self.model))
        if info.default is None:
            raise Stop(
                "failed",
                [
                    f"batch endpoint {info.batch.endpoint} has no default deployment yet (no champion deployed)"
                ],
            )

    def prepare(self):
        ask = BatchPrepareInput(
            run_id=self.run_id, model=self.model, blobs=self.req.blobs, ab=self.start_info.ab_b is not None
        )
        self.prepared = p = yield from self.call(BATCH_PREPARE, ask)
        self.show(rows=p.rows_in)
        if p.status == "rejected":
            self.show(report=p.report_uri)
            raise Stop("rejected", p.failures[:50])

    def score(self):
        """One job per arm (A: the default; B: the challenger arm), all polled together."""
        self.show(phase="score")
        info = self.start_info
        arms = {"a": info.default, "b": info.ab_b}
        submits = []
        for staged in self.prepared.inputs:
            deployment = arms[staged.arm]
            assert deployment is not None
            submits.append(
                (
                    staged.arm,
                    deployment,
                    BatchSubmitInput(
                        endpoint=info.batch.endpoint,
                        job_name=f"{self.run_id}-{staged.arm}",
                        input_uri=staged.input_uri,
                        output_uri=(yield from self.output(staged.arm)),
                        deployment=deployment,
                        tags={"run_id": self.run_id, "arm": staged.arm, "model": self.model},
                    ),
                )
            )
        for arm, deployment, submit in submits:
            self.jobs.append((arm, deployment, (yield from self.wait_job(submit))))
        bad = [j for _, _, j in self.jobs if j.state != "completed"]
        if bad:
            raise Stop("failed", [f"batch job {j.name} ended {j.state}: {j.message[-500:]}" for j in bad])

    def collect(self):
        self.show(phase="collect")
        for arm, _, job in self.jobs:
            ask = BatchCollectInput(run_id=self.run_id, model=self.model, arm=arm, job_name=job.name)
            self.collected.append((yield from self.call(BATCH_COLLECT, ask)))

    def end(self, status: str, reasons: list[str] | None = None) -> Step[dict[str, Any]]:
        collected = {c.arm: c for c in self.collected}
        arms = [
            BatchArm(
                arm=arm,
                deployment=deployment,
                model_version=(collected[arm].model_version if arm in collected else job.model_version),
                job=job.name,
                state=job.state,
                rows=collected[arm].rows if arm in collected else 0,
                uri=collected[arm].uri if arm in collected else None,
                message=job.message[-300:],
            )
            for arm, deployment, job in self.jobs
        ]
        folder = self.collected[0].uri.rsplit("/", 1)[0] + "/" if self.collected else None
        prepared = getattr(self, "prepared", None)
        fact = BatchScored(
            run_id=self.run_id,
            model=self.model,
            status=status,  # type: ignore[arg-type]
            rows_in=prepared.rows_in if prepared else 0,
            rows_scored=sum(c.rows for c in self.collected),
            arms=arms,
            predictions=folder,
            report=prepared.report_uri if prepared else None,
            reasons=reasons
            or [f"{c.rows} rows scored by {c.deployment} (v{c.model_version})" for c in self.collected],
            started_at=self.started_at,
            ended_at=self.context.current_utc_datetime,
        )
        self.show(phase="done", status=status, predictions=folder, reasons=fact.reasons[:10])
        try:
            yield from self.record(fact)
            yield from self.record(fact, batch_index_id(self.model))
        except Exception as exc:
            self.show(error=f"recording the outcome failed: {str(exc)[:300]}")
            raise
        yield from self.publish(f"batch_{status}", fact.dump())
        return self.status.dump()
