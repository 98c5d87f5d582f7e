"""The `lifecycle` orchestration: ingest -> train -> evaluate against the champion -> register
-> rollout (a sub-orchestration) or end.

`lifecycle()` is the process; each step is a method of `Lifecycle`, which keeps the run's state
(policy snapshot, data, jobs, decision) and, through `RunContext`, its custom status, ledger
facts and events. A step that ends the run early raises `End`, caught once. Every I/O happens
in activities and every judgement in a pure function. The instance id is the run id.
"""

from __future__ import annotations

import contextlib
from typing import Any, Literal, TypedDict

import azure.durable_functions as df

from core.batch.payloads import BATCH_DEPLOY_SUFFIX, BatchDeployInput
from core.intake.payloads import LifecycleInput
from core.kernel.policy import Policy
from core.rollout.payloads import RolloutInput
from core.run.facts import RunAborted, RunFailed, StepEntered
from core.run.payloads import START, LifecycleResult, StartInput, StartResult
from core.training.facts import DataRejected, EvaluationDecided
from core.training.jobs import job_name
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
    SubmitJobInput,
)
from core.training.pipeline_payloads import MATERIALIZE, FeatureSetResult, MaterializeInput
from core.training.verdict import ChallengerVerdict
from orchestrators.blueprint import bp
from orchestrators.ingest_pipeline import ingest_with_pipeline
from orchestrators.run import End, Polled, RunContext, Step

ABORT_EVENT = "abort"
# Submitting a job and training-scale work: fewer, slower attempts.
SUBMIT_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=10_000, max_number_of_attempts=3)
JobStage = Literal["train", "evaluate"]
JOB_LABEL: dict[JobStage, str] = {"train": "training", "evaluate": "evaluation"}


class Rows(TypedDict):
    """The ingested data's row counts, as the facts and the run record carry them."""

    rows_in: int
    rows_out: int
    train_rows: int
    eval_rows: int


@bp.orchestration_trigger(context_name="context")
def lifecycle(context: df.DurableOrchestrationContext):
    run = Lifecycle(context, LifecycleInput.model_validate(context.get_input()))
    try:
        yield from run.start()
        yield from run.ingest()
        yield from run.materialize_features()
        yield from run.train()
        yield from run.evaluate()
        if run.decision.verdict == "keep":
            raise run.kept()
        yield from run.register()
        if not run.policy.rollout.enabled:
            raise run.registered()
        return (yield from run.rollout())
    except End as end:  # end() fails the run itself if its bookkeeping fails
        return (yield from run.end(end))
    except Exception as exc:
        yield from run.fail(exc)
        raise


def _tag(value: Any, limit: int = 256) -> str:
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    return text[:limit]


class Lifecycle(RunContext):
    """One lifecycle run: its steps, and the state they hand each other."""

    policy: Policy
    plan: StartResult
    data: IngestResult
    trained: JobResult
    champion: ChampionResult
    evaluation: EvaluationResult
    decision: ChallengerVerdict

    def __init__(self, context: df.DurableOrchestrationContext, trigger: LifecycleInput) -> None:
        super().__init__(context, context.instance_id, trigger.model, status="running")
        self.trigger = trigger
        self.abort = context.wait_for_external_event(ABORT_EVENT)
        self.train_job: str | None = None
        self.model_uri = ""
        self.challenger_version: str | None = None
        self.features: FeatureSetResult | None = None
        self.show()

    # ------------------------------------------------------------------ steps

    def start(self):
        """Snapshot the policy for this run and open its ledger record."""
        started = StartInput(
            run_id=self.run_id, trigger=self.trigger, started_at=self.context.current_utc_datetime
        )
        self.plan = yield from self.call(START, started)
        self.policy = self.plan.policy
        self.show(policy_hash=self.plan.policy_hash)
        yield from self.publish(
            "started", {"trigger": self.trigger.dump(), "policy_hash": self.plan.policy_hash}
        )

    def ingest(self):
        """Validate the landed data against the contract; bad data ends the run, quarantined."""
        yield from self.step(StepEntered(stage="ingest", blobs=len(self.trigger.blobs)))
        ingest = IngestInput(run_id=self.run_id, model=self.model, blobs=self.trigger.blobs)
        if (adf := self.policy.data.data_factory) is not None:  # a Data Factory pipeline prepares the data
            self.data = data = yield from ingest_with_pipeline(self, ingest, adf, self.abort)
        else:
            self.data = data = yield from self.call(INGEST, ingest)
        rows = self.rows
        if data.status == "rejected":
            raise End(
                "rejected",
                "ingest",
                data.failures[:50],
                DataRejected(report=data.report_uri, failures=data.failures[:50], **rows),
                show={"report": data.report_uri, "failures": data.failures[:10]},
                record={"metrics": rows},
            )
        assert data.data_version and data.train_ref and data.eval_ref
        self.show(data_version=data.data_version, rows=rows)
        if self.abort.is_completed:
            why = "aborted by operator"
            raise End(
                "aborted",
                "ingest",
                [f"{why} before training"],
                RunAborted(stage="ingest", reason=why, abort=self.abort.result),
            )

    def materialize_features(self) -> Step[None]:
        """With `online_features` in the policy: the data version becomes the feature set's version in
        the online store, so the model trained on it can be served by entity id."""
        if self.policy.online_features is None:
            return
        ask = MaterializeInput(
            run_id=self.run_id, model=self.model, data=self.data, at=self.context.current_utc_datetime
        )
        self.features = yield from self.call(MATERIALIZE, ask)
        self.show(feature_set=self.features.feature_set, feature_set_version=self.features.version)

    def train(self):
        assert self.data.data_version and self.data.train_ref and self.data.eval_ref
        name = self.train_job = self.job_name("train")
        rows = self.rows
        fact = StepEntered(stage="train", job=name, data_version=self.data.data_version, **rows)
        yield from self.step(
            fact, {"job": name}, data_version=self.data.data_version, job_name=name, metrics=rows
        )
        inputs = {"train_data": self.data.train_ref, "eval_data": self.data.eval_ref}
        self.trained = yield from self.job("train", name, data_inputs=inputs)
        self.model_uri = self.trained.outputs.get("model", "")
        if not self.model_uri:
            raise RuntimeError(f"training job {name} completed without a 'model' output; check the job YAML")

    def evaluate(self):
        """Challenger vs champion on the same evaluation split, judged by the promotion rule."""
        assert self.data.eval_ref
        query = ChampionInput(model=self.model)
        self.champion = champion = yield from self.call(GET_CHAMPION, query)
        name = self.job_name("eval")
        fact = StepEntered(stage="evaluate", job=name, champion_version=champion.version)
        show = {"evaluation_job": name, "champion_version": champion.version}
        yield from self.step(
            fact, show, champion_version=champion.version, metrics={"train": self.trained.metrics}
        )
        inputs = {"challenger": self.model_uri}
        if champion.source_uri:
            inputs["champion"] = champion.source_uri
        tags = {"champion_version": champion.version or ""}
        yield from self.job(
            "evaluate", name, inputs=inputs, data_inputs={"eval_data": self.data.eval_ref}, tags=tags
        )
        ask = EvaluationInput(
            run_id=self.run_id, model=self.model, job_name=name, champion_version=champion.version
        )
        self.evaluation = result = yield from self.call(EVALUATION_RESULT, ask)
        self.decision = result.decision
        self.show(decision=result.decision)
        metrics = {
            "challenger": result.challenger_metrics,
            "champion": result.champion_metrics,
            "eval_rows": result.rows,
        }
        yield from self.record(
            EvaluationDecided.of(result.decision),
            decision=result.decision.model_dump(mode="json"),
            metrics=metrics,
        )

    def register(self):
        """Register the challenger with its lineage (idempotent on the run id)."""
        self.show(stage="register")
        tags = self.lineage_tags()
        ask = RegisterInput(run_id=self.run_id, model=self.model, source_uri=self.model_uri, tags=tags)
        registered = yield from self.call(REGISTER, ask)
        self.challenger_version = registered.version
        yield from self.record(
            StepEntered(stage="register", version=registered.version),
            status="registered",
            stage="register",
            challenger_version=registered.version,
            lineage={"model_uri": self.model_uri, "tags": tags},
        )
        yield from self.publish(
            "registered", {"version": registered.version, **self.decision.model_dump(mode="json")}
        )
        self.show(challenger_version=registered.version)

    def rollout(self):
        """Hand the registered challenger to the `rollout` sub-orchestration; it moves the champion."""
        assert self.challenger_version
        self.show(stage="deploy")
        handover = RolloutInput(
            run_id=self.run_id,
            model=self.model,
            challenger_version=self.challenger_version,
            champion_version=self.champion.version,
            policy=self.policy,
            policy_hash=self.plan.policy_hash,
            eval_ref=self.data.eval_ref,  # smoke-test rows
        )
        rolled = yield self.context.call_sub_orchestrator(
            "rollout", handover.dump(), f"{self.run_id}-rollout"
        )
        self.show(stage="done", rollout=rolled)
        if self.policy.batch is not None:
            yield from self.batch_deploy(rolled)
        return rolled

    def batch_deploy(self, rolled: dict[str, Any]) -> Step[None]:
        """After the online outcome is recorded and published: a new champion goes to the batch
        endpoint (default only after its smoke), a rollback restores the batch default if it
        moved. `batch_deploy` records its own failures; a crash of it is shown, never raised."""
        assert self.policy.batch is not None and self.challenger_version
        promoted = rolled.get("status") == "promoted"
        handover = BatchDeployInput(
            run_id=self.run_id,
            model=self.model,
            version=self.challenger_version if promoted else (self.champion.version or ""),
            batch=self.policy.batch,
            eval_ref=self.data.eval_ref,
            mode="deploy" if promoted else "restore",
        )
        if not handover.version:
            return  # rolled back with no champion: nothing on the batch endpoint to restore
        try:
            batch = yield self.context.call_sub_orchestrator(
                "batch_deploy", handover.dump(), f"{self.run_id}{BATCH_DEPLOY_SUFFIX}"
            )
        except Exception as exc:
            batch = {"status": "failed", "error": f"{type(exc).__name__}: {str(exc)[:500]}"}
        self.show(batch=batch)

    # ------------------------------------------------------------------ one job: submit, monitor, stop

    def job(self, stage: JobStage, name: str, **submit: Any) -> Step[JobResult]:
        """Submit a job, then poll it on durable timers until it is done; the deadline or an
        `abort` cancels it, and a job that did not complete ends the run."""
        what = JOB_LABEL[stage]
        tags = {**self.base_tags(), "stage": stage, **submit.pop("tags", {})}
        job = SubmitJobInput(
            run_id=self.run_id, model=self.model, kind=stage, job_name=name, tags=tags, **submit
        )
        yield from self.call(SUBMIT_JOB, job, SUBMIT_RETRY)
        polled = yield from self.monitor(name)
        status = polled.last
        if polled.outcome == "woken":
            yield from self.call(CANCEL_JOB, JobInput(job_name=name))
            why = "aborted by operator"
            fact = RunAborted(stage=stage, job=name, reason=why, abort=self.abort.result)
            raise End("aborted", stage, [why, "an operator raised `abort`"], fact, show={"reason": why})
        if polled.outcome == "deadline":
            yield from self.call(CANCEL_JOB, JobInput(job_name=name))
            why = f"{what} did not finish within deadline_seconds={self.policy.training.deadline_seconds}"
            failed = RunFailed(stage=stage, job=name, reason=why)
            raise End("failed", stage, [why, "the job was canceled"], failed, show={"reason": why})
        if status.state != "completed":
            why = f"{what} job {name} ended {status.state}: {status.message[-500:]}"
            raise End("failed", stage, [why], RunFailed(stage=stage, reason=why), show={"reason": why})
        return status

    def monitor(self, name: str) -> Step[Polled[JobResult]]:
        """Poll the job on durable timers until it is done, the training deadline passes, or an
        `abort` wakes it (`woken`)."""
        training = self.policy.training

        def check() -> Step[JobResult]:
            status = yield from self.call(JOB_STATUS, JobInput(job_name=name))
            self.show(job_state=status.state)
            return status

        return (
            yield from self.poll(
                check,
                lambda status: status.done,
                every=training.poll_seconds,
                within=training.deadline_seconds,
                wake=[self.abort],
            )
        )

    # ------------------------------------------------------------------ ends

    def kept(self) -> End:
        numbers = self.decision.model_dump(mode="json")
        fact = StepEntered(stage="done", status="kept")
        return End("kept", "evaluate", self.decision.reasons, fact, event=numbers)

    def registered(self) -> End:
        """No rollout in the policy: the run ends with the challenger registered, champion unmoved."""
        fact = StepEntered(stage="done", status="registered")
        return End("registered", "register", self.decision.reasons, fact, publish=False)

    def end(self, end: End) -> Step[dict[str, Any]]:
        try:
            return (yield from super().end(end))
        except Exception as exc:
            yield from self.fail(exc)
            raise

    def fail(self, exc: Exception) -> Step[None]:
        """An unexpected error: show and record it, publish `failed`; the caller re-raises."""
        reason = f"{type(exc).__name__}: {str(exc)[:1000]}"
        self.show(status="failed", error=reason)
        stage = self.status.stage
        # the ledger itself may be what failed; the instance still fails with the original error
        with contextlib.suppress(Exception):
            yield from self.record(RunFailed(stage=stage, error=reason), status="failed")
        yield from self.publish("failed", {"stage": stage, "error": reason})

    def outcome(self, end: End) -> dict[str, Any]:
        return LifecycleResult(
            run_id=self.run_id,
            model=self.model,
            status=end.status,
            stage=end.stage,
            data_version=self.data.data_version if hasattr(self, "data") else None,
            job_name=self.train_job,
            decision=getattr(self, "decision", None),
            challenger_version=self.challenger_version,
            reasons=end.reasons,
        ).dump()

    # ------------------------------------------------------------------ names and tags

    @property
    def rows(self) -> Rows:
        d = self.data
        return {
            "rows_in": d.rows_in,
            "rows_out": d.rows_out,
            "train_rows": d.train_rows,
            "eval_rows": d.eval_rows,
        }

    def job_name(self, kind: str) -> str:
        assert self.data.data_version
        return job_name(self.model, kind, self.run_id, self.data.data_version)

    def base_tags(self) -> dict[str, str]:
        return {
            "lifecycle_id": self.run_id,
            "model": self.model,
            "data_version": self.data.data_version or "",
            "policy_hash": self.plan.policy_hash,
            "code_version": self.plan.code_version,
        }

    def lineage_tags(self) -> dict[str, str]:
        d, trigger = self.decision, self.trigger
        return {
            **self.base_tags(),
            "train_job": self.train_job or "",
            "evaluation_job": self.evaluation.job_name,
            "trigger_source": trigger.source,
            "trigger_request_ids": _tag(",".join(trigger.request_ids)),
            "trigger_event_ids": _tag(",".join(trigger.event_ids)),
            "evaluation_metric": d.metric,
            "evaluation_challenger": _tag(d.challenger),
            "evaluation_champion": _tag(d.champion),
            "evaluation_champion_version": self.champion.version or "",
            "evaluation_abs_gain": _tag(d.abs_gain),
            "evaluation_rel_gain": _tag(d.rel_gain),
            "evaluation_verdict": d.verdict,
            **self.feature_tags(),
        }

    def feature_tags(self) -> dict[str, str]:
        """Lineage of the online features the model must be served with (the version it was trained on)."""
        if self.features is None:
            return {}
        f = self.features
        return {
            "feature_set": f.feature_set,
            "feature_set_version": f.version,
            "feature_entity_column": f.entity_column,
        }
