"""The operator API's batch views: a model's batch endpoint (default, deployments, recent runs),
the scoring runs, and one scoring run with its facts and orchestration status. Reads only; the
same function-key auth and roles as triggers/operator_api.py."""

from __future__ import annotations

import logging
from typing import Any

import azure.functions as func

import wiring
from core.batch.facts import BatchScored, BatchScoringStarted
from core.batch.payloads import BATCH_RUN_RE, batch_index_id
from core.run.facts import read_fact
from core.run.status import BatchProgress
from triggers.api_models import (
    BatchDeployment,
    BatchEndpoint,
    BatchOrchestration,
    BatchRunDetail,
    BatchRunList,
    BatchRunSummary,
    Entry,
    Unavailable,
)
from triggers.blueprint import bp
from triggers.intake import error, json_response
from triggers.operator_api import KEYED, _caller, _guarded, _known_model, _status_failed, _unknown_model

log = logging.getLogger("triggers.batch_api")


def runs_of(model: str) -> list[BatchRunSummary]:
    """A model's scoring runs from its ledger index, newest first: the start fact opens a run,
    the end fact completes it (a run with only a start is still running, or crashed)."""
    runs: dict[str, BatchRunSummary] = {}
    for entry in wiring.ledger().entries(batch_index_id(model)):
        fact = read_fact(entry.data)
        if isinstance(fact, BatchScoringStarted):
            runs[fact.run_id] = BatchRunSummary(
                id=fact.run_id,
                model=model,
                status="running",
                source=fact.source,
                started_at=entry.at,
                blobs=fact.blobs,
                default=fact.default,
            )
        elif isinstance(fact, BatchScored) and fact.run_id in runs:
            runs[fact.run_id] = runs[fact.run_id].model_copy(
                update={
                    "status": fact.status,
                    "ended_at": entry.at,
                    "rows_in": fact.rows_in,
                    "rows_scored": fact.rows_scored,
                    "model_versions": sorted({a.model_version for a in fact.arms if a.model_version}),
                    "predictions": fact.predictions,
                    "report": fact.report,
                }
            )
    return sorted(runs.values(), key=lambda r: (r.started_at, r.id), reverse=True)


@bp.route(route="models/{model}/batch", methods=["GET"])
def operator_model_batch(req: func.HttpRequest) -> func.HttpResponse:
    model = req.route_params.get("model", "")
    if isinstance(who := _caller(req, "read", KEYED), func.HttpResponse):
        return who
    if not _known_model(model):
        return _unknown_model(model)
    policy = wiring.deploy_only().get(model) or wiring.policy(model)
    batch = policy.batch
    if batch is None:
        return error(404, f"the policy of {model} has no batch section: it has no batch endpoint")

    def endpoint() -> Any:
        try:
            return wiring.batch_endpoints().get(batch.endpoint)
        except KeyError:
            return None  # not created yet: the first champion creates it

    info = _guarded("batch endpoint", endpoint)
    if isinstance(info, Unavailable):
        deployments: dict[str, BatchDeployment] | Unavailable = info
    else:
        deployments = {
            d.name: BatchDeployment(
                model=d.model_name, version=d.model_version, state=d.state, created_at=d.created_at
            )
            for d in (info.deployments.values() if info else [])
        }
    body = BatchEndpoint(
        model=model,
        endpoint=batch.endpoint,
        scoring_prefix=batch.scoring_prefix,
        schedule=batch.schedule,
        output_prefix=batch.output_prefix.format(model=model),
        ab=batch.ab.model_dump() if batch.ab else None,
        default=None if info is None or isinstance(info, Unavailable) else info.default_deployment,
        deployments=deployments,
        recent_runs=runs_of(model)[:10],
    )
    return json_response(body.dump())


@bp.route(route="batch-runs", methods=["GET"])
def operator_batch_runs(req: func.HttpRequest) -> func.HttpResponse:
    if isinstance(who := _caller(req, "read", KEYED), func.HttpResponse):
        return who
    model = req.params.get("model")
    raw_limit = req.params.get("limit", "50")
    if model is not None and not _known_model(model):
        return _unknown_model(model)
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 500:
        return error(400, f"limit={raw_limit[:20]!r} must be a whole number from 1 to 500")
    policies = wiring.policies()
    models = [model] if model else sorted(m for m, p in policies.items() if p.batch is not None)
    runs = sorted((r for m in models for r in runs_of(m)), key=lambda r: (r.started_at, r.id), reverse=True)
    return json_response(BatchRunList(runs=runs[: int(raw_limit)]).dump())


@bp.route(route="batch-runs/{id}", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def operator_batch_run(req: func.HttpRequest, client) -> func.HttpResponse:
    run_id = req.route_params.get("id", "")
    found = BATCH_RUN_RE.fullmatch(run_id)
    if found is None or not _known_model(found["model"]):
        return error(
            404,
            f"{run_id[:100]!r} is not a scoring run id: they are batch-{{model}}-{{16 hex}} for a known "
            "model; list them with GET /api/batch-runs",
        )
    if isinstance(who := _caller(req, "read", KEYED), func.HttpResponse):
        return who
    entries = wiring.ledger().entries(run_id)
    durable = await _batch_durable(client, run_id)
    if not entries and isinstance(durable, Unavailable):
        return _status_failed(run_id, durable)
    if not entries and durable is None:
        return error(404, f"unknown scoring run {run_id!r}; list them with GET /api/batch-runs")
    summary = next((r for r in runs_of(found["model"]) if r.id == run_id), None)
    facts = [Entry.of(e, read_fact(e.data)) for e in entries]
    return json_response(
        BatchRunDetail(id=run_id, summary=summary, facts=facts, orchestration=durable).dump()
    )


async def _batch_durable(client: Any, instance_id: str) -> BatchOrchestration | Unavailable | None:
    try:
        status = await client.get_status(instance_id)
    except Exception as exc:
        log.warning("durable status of %s unavailable: %s", instance_id, exc)
        return Unavailable(unavailable=str(exc)[:300])
    if not status:
        return None
    custom = status.custom_status
    try:
        progress = (
            BatchProgress.model_validate_json(custom)
            if isinstance(custom, str | bytes)
            else BatchProgress.model_validate(custom)
        )
    except Exception:
        progress = None
    runtime = status.runtime_status
    return BatchOrchestration(
        runtime_status=getattr(runtime, "value", runtime),
        custom_status=progress,
        created_time=status.created_time,
        last_updated_time=status.last_updated_time,
    )
