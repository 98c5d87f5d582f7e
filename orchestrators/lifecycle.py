"""The `lifecycle` orchestration: ingest -> train -> evaluate against the champion -> register.

It only coordinates (durable timers, activities with retry, the `abort` external event); every
I/O happens in activities and every judgement in a pure function. The instance id is the run id.
Custom status always shows the stage and, once known, the decision with its numbers; the run
ledger gets the same facts at each stage.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from core.jobs import job_name
from core.payloads.lifecycle import (
    ChampionInfo,
    ChampionQuery,
    EvaluationInput,
    EvaluationResult,
    EventSpec,
    IngestInput,
    IngestResult,
    JobRef,
    JobStatusOut,
    LifecycleInput,
    LifecycleOutcome,
    PublishInput,
    RecordRun,
    RegisteredModel,
    RegisterInput,
    RunPlan,
    StartRun,
    SubmitJob,
)
from core.policy import Policy
from orchestrators import bp

ABORT_EVENT = "abort"

# azure-functions-durable 1.x retries at a fixed interval (no backoff option).
# Transient failures (storage throttling, an AML API hiccup, a locked SQLite file) are retried;
# permanent ones (a bad policy, a missing blob) fail after the last attempt with their message.
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2_000, max_number_of_attempts=4)
# Submitting a job and training-scale work: fewer, slower attempts.
SUBMIT_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=10_000, max_number_of_attempts=3)
# Events are notifications: never worth holding a run for.
EVENT_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=1_000, max_number_of_attempts=2)


def _tag(value: Any, limit: int = 256) -> str:
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    return text[:limit]


class _Run:
    """Per-episode helpers bound to one orchestration context (rebuilt on every replay)."""

    def __init__(self, context: df.DurableOrchestrationContext, trigger: LifecycleInput) -> None:
        self.context = context
        self.trigger = trigger
        self.run_id = context.instance_id
        self.status: dict[str, Any] = {
            "run_id": self.run_id,
            "model": trigger.model,
            "stage": "start",
            "status": "running",
        }

    def show(self, **changes: Any) -> None:
        self.status.update(changes)
        self.context.set_custom_status(dict(self.status))

    def record(self, **fields: Any):  # -> Task
        return self.context.call_activity_with_retry(
            "lifecycle_record", RETRY, RecordRun(run_id=self.run_id, **fields).dump()
        )

    def publish(self, kind: str, data: dict[str, Any]):  # generator
        event = EventSpec(
            id=str(self.context.new_uuid()),
            kind=kind,
            model=self.trigger.model,
            run_id=self.run_id,
            time=self.context.current_utc_datetime,
            data=data,
        )
        try:
            yield self.context.call_activity_with_retry(
                "lifecycle_publish", EVENT_RETRY, PublishInput(events=[event]).dump()
            )
        except Exception as exc:
            self.show(last_event_error=f"{kind}: {str(exc)[:300]}")

    def outcome(self, status: str, stage: str, **more: Any) -> dict:
        return LifecycleOutcome(
            run_id=self.run_id, model=self.trigger.model, status=status, stage=stage, **more
        ).dump()  # type: ignore[arg-type]


def _wait_for_job(run: _Run, name: str, abort: Any, deadline_seconds: int, poll_seconds: int):
    """Monitor pattern: poll the job, sleep on a durable timer, wake early on `abort`.

    Returns ("done" | "deadline" | "aborted", last status)."""
    context = run.context
    deadline = context.current_utc_datetime + timedelta(seconds=deadline_seconds)
    while True:
        raw = yield context.call_activity_with_retry(
            "lifecycle_job_status", RETRY, JobRef(job_name=name).dump()
        )
        status = JobStatusOut.model_validate(raw)
        run.show(job_state=status.state)
        if status.done:
            return "done", status
        if abort.is_completed:
            return "aborted", status
        now = context.current_utc_datetime
        if now >= deadline:
            return "deadline", status
        timer = context.create_timer(min(now + timedelta(seconds=poll_seconds), deadline))
        winner = yield context.task_any([timer, abort])
        if winner is abort:
            if not timer.is_completed:
                timer.cancel()
            return "aborted", status


def _stop_job(
    run: _Run, name: str, why: str, status_label: str, stage: str, reason: str, abort_detail: Any = None
):
    """Cancel a running job, record why, and build the outcome (aborted or failed)."""
    yield run.context.call_activity_with_retry("lifecycle_cancel_job", RETRY, JobRef(job_name=name).dump())
    entry = {"stage": stage, "job": name, "reason": reason}
    if abort_detail is not None:
        entry["abort"] = abort_detail
    yield run.record(
        status=status_label,
        stage="done",
        entry_kind="decision" if status_label == "aborted" else "error",
        entry=entry,
    )
    yield from run.publish(status_label, entry)
    run.show(stage="done", status=status_label, reason=reason)
    return run.outcome(status_label, stage, reasons=[reason, why])


@bp.orchestration_trigger(context_name="context")
def lifecycle(context: df.DurableOrchestrationContext):
    trigger = LifecycleInput.model_validate(context.get_input())
    run = _Run(context, trigger)
    abort = context.wait_for_external_event(ABORT_EVENT)
    run.show()

    try:
        # ---------------------------------------------------------------- start: policy snapshot + ledger
        started = StartRun(run_id=run.run_id, trigger=trigger, started_at=context.current_utc_datetime)
        plan = RunPlan.model_validate(
            (yield context.call_activity_with_retry("lifecycle_start", RETRY, started.dump()))
        )
        policy = Policy.model_validate(plan.policy)
        run.show(policy_hash=plan.policy_hash)
        yield from run.publish("started", {"trigger": trigger.dump(), "policy_hash": plan.policy_hash})

        # ---------------------------------------------------------------- ingest
        run.show(stage="ingest")
        yield run.record(
            stage="ingest", entry_kind="step", entry={"stage": "ingest", "blobs": len(trigger.blobs)}
        )
        raw = yield context.call_activity_with_retry(
            "lifecycle_ingest",
            RETRY,
            IngestInput(run_id=run.run_id, model=trigger.model, blobs=trigger.blobs).dump(),
        )
        data = IngestResult.model_validate(raw)
        rows = {
            "rows_in": data.rows_in,
            "rows_out": data.rows_out,
            "train_rows": data.train_rows,
            "eval_rows": data.eval_rows,
        }
        if data.status == "rejected":
            detail = {
                "verdict": "rejected",
                "report": data.report_uri,
                "failures": data.failures[:50],
                **rows,
            }
            yield run.record(
                status="rejected", stage="done", metrics=rows, entry_kind="decision", entry=detail
            )
            yield from run.publish("rejected", detail)
            run.show(stage="done", status="rejected", report=data.report_uri, failures=data.failures[:10])
            return run.outcome("rejected", "ingest", reasons=data.failures[:50])
        assert data.data_version and data.train_ref and data.eval_ref
        run.show(data_version=data.data_version, rows=rows)

        if abort.is_completed:
            return (yield from _stop_before_training(run, abort))

        # ---------------------------------------------------------------- train (monitor with durable timers)
        train_job = job_name(trigger.model, "train", run.run_id, data.data_version)
        lineage_tags = {
            "lifecycle_id": run.run_id,
            "model": trigger.model,
            "data_version": data.data_version,
            "policy_hash": plan.policy_hash,
            "code_version": plan.code_version,
        }
        run.show(stage="train", job=train_job)
        yield run.record(
            stage="train",
            data_version=data.data_version,
            job_name=train_job,
            metrics=rows,
            entry_kind="step",
            entry={"stage": "train", "job": train_job, "data_version": data.data_version, **rows},
        )
        submit = SubmitJob(
            run_id=run.run_id,
            model=trigger.model,
            kind="train",
            job_name=train_job,
            data_inputs={"train_data": data.train_ref, "eval_data": data.eval_ref},
            tags={**lineage_tags, "stage": "train"},
        )
        yield context.call_activity_with_retry("lifecycle_submit_job", SUBMIT_RETRY, submit.dump())
        outcome, trained = yield from _wait_for_job(
            run, train_job, abort, policy.training.deadline_seconds, policy.training.poll_seconds
        )
        if outcome == "aborted":
            return (
                yield from _stop_job(
                    run,
                    train_job,
                    "an operator raised `abort`",
                    "aborted",
                    "train",
                    "aborted by operator",
                    abort.result,
                )
            )
        if outcome == "deadline":
            reason = f"training did not finish within deadline_seconds={policy.training.deadline_seconds}"
            return (yield from _stop_job(run, train_job, "the job was canceled", "failed", "train", reason))
        if trained.state != "completed":
            reason = f"training job {train_job} ended {trained.state}: {trained.message[-500:]}"
            yield run.record(
                status="failed", stage="done", entry_kind="error", entry={"stage": "train", "reason": reason}
            )
            yield from run.publish("failed", {"stage": "train", "reason": reason})
            run.show(stage="done", status="failed", reason=reason)
            return run.outcome(
                "failed", "train", data_version=data.data_version, job_name=train_job, reasons=[reason]
            )
        model_uri = trained.outputs.get("model")
        if not model_uri:
            raise RuntimeError(
                f"training job {train_job} completed without a 'model' output; check the job YAML"
            )

        # ---------------------------------------------------------------- evaluate: challenger vs champion, same split
        champion = ChampionInfo.model_validate(
            (
                yield context.call_activity_with_retry(
                    "lifecycle_get_champion", RETRY, ChampionQuery(model=trigger.model).dump()
                )
            )
        )
        eval_job = job_name(trigger.model, "eval", run.run_id, data.data_version)
        run.show(stage="evaluate", evaluation_job=eval_job, champion_version=champion.version)
        yield run.record(
            stage="evaluate",
            champion_version=champion.version,
            metrics={"train": trained.metrics},
            entry_kind="step",
            entry={"stage": "evaluate", "job": eval_job, "champion_version": champion.version},
        )
        inputs = {"challenger": model_uri}
        if champion.source_uri:
            inputs["champion"] = champion.source_uri
        evaluation = SubmitJob(
            run_id=run.run_id,
            model=trigger.model,
            kind="evaluate",
            job_name=eval_job,
            inputs=inputs,
            data_inputs={"eval_data": data.eval_ref},
            tags={**lineage_tags, "stage": "evaluate", "champion_version": champion.version or ""},
        )
        yield context.call_activity_with_retry("lifecycle_submit_job", SUBMIT_RETRY, evaluation.dump())
        outcome, evaluated = yield from _wait_for_job(
            run, eval_job, abort, policy.training.deadline_seconds, policy.training.poll_seconds
        )
        if outcome == "aborted":
            return (
                yield from _stop_job(
                    run,
                    eval_job,
                    "an operator raised `abort`",
                    "aborted",
                    "evaluate",
                    "aborted by operator",
                    abort.result,
                )
            )
        if outcome == "deadline":
            reason = f"evaluation did not finish within deadline_seconds={policy.training.deadline_seconds}"
            return (yield from _stop_job(run, eval_job, "the job was canceled", "failed", "evaluate", reason))
        if evaluated.state != "completed":
            reason = f"evaluation job {eval_job} ended {evaluated.state}: {evaluated.message[-500:]}"
            yield run.record(
                status="failed",
                stage="done",
                entry_kind="error",
                entry={"stage": "evaluate", "reason": reason},
            )
            yield from run.publish("failed", {"stage": "evaluate", "reason": reason})
            run.show(stage="done", status="failed", reason=reason)
            return run.outcome(
                "failed", "evaluate", data_version=data.data_version, job_name=train_job, reasons=[reason]
            )

        result = EvaluationResult.model_validate(
            (
                yield context.call_activity_with_retry(
                    "lifecycle_evaluation_result",
                    RETRY,
                    EvaluationInput(
                        run_id=run.run_id,
                        model=trigger.model,
                        job_name=eval_job,
                        champion_version=champion.version,
                    ).dump(),
                )
            )
        )
        decision = result.decision
        numbers = decision.model_dump(mode="json")
        run.show(decision=numbers)
        yield run.record(
            decision=numbers,
            metrics={
                "challenger": result.challenger_metrics,
                "champion": result.champion_metrics,
                "eval_rows": result.rows,
            },
            entry_kind="decision",
            entry={"stage": "evaluate", **numbers},
        )

        if decision.verdict == "keep":
            yield run.record(
                status="kept", stage="done", entry_kind="step", entry={"stage": "done", "status": "kept"}
            )
            yield from run.publish("kept", numbers)
            run.show(stage="done", status="kept")
            return run.outcome(
                "kept",
                "evaluate",
                data_version=data.data_version,
                job_name=train_job,
                decision=decision,
                reasons=decision.reasons,
            )

        # ---------------------------------------------------------------- register the challenger with its lineage
        run.show(stage="register")
        tags = {
            **lineage_tags,
            "train_job": train_job,
            "evaluation_job": eval_job,
            "trigger_source": trigger.source,
            "trigger_request_ids": _tag(",".join(trigger.request_ids)),
            "trigger_event_ids": _tag(",".join(trigger.event_ids)),
            "evaluation_metric": decision.metric,
            "evaluation_challenger": _tag(decision.challenger),
            "evaluation_champion": _tag(decision.champion),
            "evaluation_champion_version": champion.version or "",
            "evaluation_abs_gain": _tag(decision.abs_gain),
            "evaluation_rel_gain": _tag(decision.rel_gain),
            "evaluation_verdict": decision.verdict,
        }
        registered = RegisteredModel.model_validate(
            (
                yield context.call_activity_with_retry(
                    "lifecycle_register",
                    RETRY,
                    RegisterInput(
                        run_id=run.run_id, model=trigger.model, source_uri=model_uri, tags=tags
                    ).dump(),
                )
            )
        )
        yield run.record(
            status="registered",
            stage="register",
            challenger_version=registered.version,
            lineage={"model_uri": model_uri, "tags": tags},
            entry_kind="step",
            entry={"stage": "register", "version": registered.version},
        )
        yield from run.publish("registered", {"version": registered.version, **numbers})
        run.show(challenger_version=registered.version)

        # ---------------------------------------------------------------- seam: deployment (rollout issue)
        # When the policy enables rollout, the registered challenger is handed to the `rollout`
        # sub-orchestration, which owns deploy/smoke/ramp/promote and moves the champion. Until
        # then the lifecycle ends here and the champion stays where it is.
        if policy.rollout.enabled:
            run.show(stage="deploy")
            rollout_input = {
                "run_id": run.run_id,
                "model": trigger.model,
                "challenger_version": registered.version,
                "champion_version": champion.version,
                "policy": plan.policy,
                "policy_hash": plan.policy_hash,
                "eval_ref": data.eval_ref.dump() if data.eval_ref else None,  # smoke-test rows
            }
            rolled = yield context.call_sub_orchestrator("rollout", rollout_input, f"{run.run_id}-rollout")
            run.show(stage="done", rollout=rolled)
            return rolled

        yield run.record(stage="done", entry_kind="step", entry={"stage": "done", "status": "registered"})
        run.show(stage="done", status="registered")
        return run.outcome(
            "registered",
            "register",
            data_version=data.data_version,
            job_name=train_job,
            decision=decision,
            challenger_version=registered.version,
            reasons=decision.reasons,
        )
    except Exception as exc:
        reason = f"{type(exc).__name__}: {str(exc)[:1000]}"
        run.show(status="failed", error=reason)
        # the ledger itself may be what failed; the instance still fails with the original error
        with contextlib.suppress(Exception):
            yield run.record(
                status="failed", entry_kind="error", entry={"stage": run.status.get("stage"), "error": reason}
            )
        yield from run.publish("failed", {"stage": run.status.get("stage"), "error": reason})
        raise


def _stop_before_training(run: _Run, abort: Any):
    detail = {"stage": "ingest", "reason": "aborted by operator", "abort": abort.result}
    yield run.record(status="aborted", stage="done", entry_kind="decision", entry=detail)
    yield from run.publish("aborted", detail)
    run.show(stage="done", status="aborted")
    return run.outcome("aborted", "ingest", reasons=["aborted by operator before training"])
