"""Activities of the lifecycle orchestration: each validates its payload, makes one call on a
port (built by wiring) and returns a payload. Retries come from the orchestrator's
RetryOptions, never from loops here."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import wiring as bootstrap
from activities import bp
from core.ingest import Containers, run_ingest
from core.payloads.lifecycle import (
    ChampionInput,
    ChampionResult,
    EvaluationInput,
    EvaluationResult,
    IngestInput,
    JobInput,
    JobResult,
    PublishInput,
    RecordInput,
    RegisterInput,
    RegisterResult,
    StartInput,
    StartResult,
    SubmitJobInput,
)
from core.ports import JobStatus, LifecycleEvent, RunRecord
from core.promotion import decide_promotion, parse_evaluation_metrics


def _job_out(status: JobStatus) -> dict:
    return JobResult(
        name=status.name,
        state=status.state,
        done=status.done,
        message=status.message[-2000:],
        studio_url=status.studio_url,
        outputs=dict(status.outputs),
        metrics=dict(status.metrics),
    ).dump()


@bp.activity_trigger(input_name="payload")
def lifecycle_start(payload: dict) -> dict:
    """Snapshot the policy for this run and open its ledger record (a replay keeps the first)."""
    req = StartInput.model_validate(payload)
    policy = bootstrap.policy(req.trigger.model)
    plan = StartResult(
        run_id=req.run_id,
        model=policy.model,
        policy=policy.model_dump(mode="json"),
        policy_hash=policy.hash,
        code_version=bootstrap.code_version(),
    )
    ledger = bootstrap.ledger()
    if ledger.get_run(req.run_id) is None:
        ledger.put_run(
            RunRecord(
                run_id=req.run_id,
                model=policy.model,
                status="running",
                stage="start",
                trigger=req.trigger.dump(),
                lineage={"policy_hash": plan.policy_hash, "code_version": plan.code_version},
                created_at=req.started_at,
            )
        )
    return plan.dump()


@bp.activity_trigger(input_name="payload")
def lifecycle_ingest(payload: dict) -> dict:
    req = IngestInput.model_validate(payload)
    containers = Containers(**bootstrap.settings().containers)
    result = run_ingest(
        bootstrap.data_lake(),
        bootstrap.policy(req.model),
        bootstrap.contract(req.model),
        req.run_id,
        req.blobs,
        containers,
    )
    return result.dump()


@bp.activity_trigger(input_name="payload")
def lifecycle_submit_job(payload: dict) -> dict:
    """Submit the training or evaluation job; idempotent on the job name."""
    req = SubmitJobInput.model_validate(payload)
    policy = bootstrap.policy(req.model)
    job_yaml = policy.path(policy.training.job if req.kind == "train" else policy.training.evaluation_job)
    inputs = {
        **req.inputs,
        **{k: bootstrap.job_data_input(r.container, r.path) for k, r in req.data_inputs.items()},
    }
    status = bootstrap.training_jobs().submit(
        job_yaml,
        name=req.job_name,
        inputs=inputs,
        experiment=policy.training.experiment,
        tags=req.tags,
        compute=policy.training.compute,
    )
    return _job_out(status)


@bp.activity_trigger(input_name="payload")
def lifecycle_job_status(payload: dict) -> dict:
    return _job_out(bootstrap.training_jobs().status(JobInput.model_validate(payload).job_name))


@bp.activity_trigger(input_name="payload")
def lifecycle_cancel_job(payload: dict) -> dict:
    return _job_out(bootstrap.training_jobs().cancel(JobInput.model_validate(payload).job_name))


@bp.activity_trigger(input_name="payload")
def lifecycle_get_champion(payload: dict) -> dict:
    req = ChampionInput.model_validate(payload)
    champion = bootstrap.registry().champion(req.model)
    if champion is None:
        return ChampionResult(model=req.model).dump()
    return ChampionResult(model=req.model, version=champion.version, source_uri=champion.source_uri).dump()


@bp.activity_trigger(input_name="payload")
def lifecycle_evaluation_result(payload: dict) -> dict:
    """Read the finished evaluation job's metrics and decide with the pure promotion rule."""
    req = EvaluationInput.model_validate(payload)
    rule = bootstrap.policy(req.model).evaluation
    with tempfile.TemporaryDirectory(prefix="evaluation-") as tmp:
        folder = bootstrap.training_jobs().download_output(req.job_name, "metrics", Path(tmp) / "metrics")
        found = [folder] if folder.is_file() else sorted(folder.rglob("metrics.json"))
        if not found:
            raise FileNotFoundError(
                f"evaluation job {req.job_name} wrote no metrics.json to its 'metrics' output"
            )
        doc = json.loads(found[0].read_text(encoding="utf-8"))
    challenger, champion, rows = parse_evaluation_metrics(
        doc, rule.metric, expect_champion=req.champion_version is not None
    )
    decision = decide_promotion(
        metric=rule.metric,
        direction=rule.direction,
        challenger=challenger[rule.metric],
        champion=None if champion is None else champion[rule.metric],
        min_abs_gain=rule.min_abs_gain,
        min_rel_gain=rule.min_rel_gain,
    )
    return EvaluationResult(
        job_name=req.job_name,
        challenger_metrics=challenger,
        champion_metrics=champion,
        rows=rows,
        decision=decision,
    ).dump()


@bp.activity_trigger(input_name="payload")
def lifecycle_register(payload: dict) -> dict:
    """Register the challenger with its lineage; idempotent on tags['lifecycle_id']."""
    req = RegisterInput.model_validate(payload)
    mv = bootstrap.registry().register(req.model, req.source_uri, req.tags)
    return RegisterResult(name=mv.name, version=mv.version, source_uri=mv.source_uri, tags=mv.tags).dump()


@bp.activity_trigger(input_name="payload")
def lifecycle_record(payload: dict) -> dict:
    """Update the run's ledger record and append the step's fact (what changed and why)."""
    req = RecordInput.model_validate(payload)
    ledger = bootstrap.ledger()
    record = ledger.update_run(req.run_id, **req.changes()) if req.changes() else ledger.get_run(req.run_id)
    if req.fact is not None:
        ledger.append(req.run_id, req.fact.ledger_kind, req.fact.dump())
    return {
        "run_id": req.run_id,
        "status": record.status if record else None,
        "stage": record.stage if record else None,
    }


@bp.activity_trigger(input_name="payload")
def lifecycle_publish(payload: dict) -> dict:
    req = PublishInput.model_validate(payload)
    events = [
        LifecycleEvent(
            id=e.id, type=f"mllifecycle.{e.kind}", model=e.model, run_id=e.run_id, time=e.time, data=e.data
        )
        for e in req.events
    ]
    bootstrap.events().publish(events)
    return {"published": len(events)}
