"""Activities of the rollout sub-orchestration: payload in, one port call (two where a step needs
to read and record, or look up and act), payload out. Ports come from wiring."""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd

import wiring as bootstrap
from activities import bp
from core.facts import GateEvaluated
from core.gates import evaluate_gate
from core.payloads.rollout import (
    DeployInput,
    DeploymentInput,
    DeploymentResult,
    EndpointInput,
    EndpointResult,
    GateInput,
    GateResult,
    SetChampionInput,
    SmokeInput,
    SmokeResult,
    TrafficInput,
)


@bp.activity_trigger(input_name="payload")
def rollout_ensure_endpoint(payload: dict) -> dict:
    req = EndpointInput.model_validate(payload)
    return EndpointResult.of(bootstrap.endpoints().ensure_endpoint(req.endpoint)).dump()


@bp.activity_trigger(input_name="payload")
def rollout_begin_deploy(payload: dict) -> dict:
    """Create the challenger's deployment at 0% (returns at once; the orchestrator polls)."""
    req = DeployInput.model_validate(payload)
    model = bootstrap.registry().get(req.model, req.version)
    info = bootstrap.endpoints().begin_deploy(
        req.endpoint,
        req.deployment,
        model,
        instance_type=req.instance_type,
        instance_count=req.instance_count,
    )
    return DeploymentResult.of(info).dump()


@bp.activity_trigger(input_name="payload")
def rollout_deployment_state(payload: dict) -> dict:
    req = DeploymentInput.model_validate(payload)
    return DeploymentResult.of(bootstrap.endpoints().deployment(req.endpoint, req.deployment)).dump()


def smoke_payload(frame: pd.DataFrame, drop: list[str], rows: int) -> dict[str, Any]:
    """AML's MLflow scoring payload from evaluation rows, without the label (and id)."""
    sample = frame.drop(columns=[c for c in drop if c in frame.columns]).head(rows)
    return {"input_data": json.loads(sample.to_json(orient="split", index=True))}


def _as_model_input(req: SmokeInput, body: dict[str, Any]) -> dict[str, Any]:
    """The evaluation split holds contract (raw) rows; a model whose signature names other columns
    (the churn model takes its encoded features) would refuse them with a 400 that says nothing
    about the challenger. Such a model is smoke-tested with its own logged input example instead."""
    import tempfile
    from pathlib import Path

    from mlflow.models import Model

    columns = set(body["input_data"]["columns"])
    version = bootstrap.endpoints().deployment(req.endpoint, req.deployment).model_version
    with tempfile.TemporaryDirectory() as tmp:
        folder = bootstrap.registry().download(req.model, version, Path(tmp))
        meta = Model.load(str(folder))
        names = meta.signature.inputs.input_names() if meta.signature is not None else None
        if not names or set(map(str, names)) <= columns:
            return body
        example = meta.load_input_example(str(folder))
    if not isinstance(example, pd.DataFrame) or example.empty:
        raise ValueError(
            f"the model takes columns {names}, not the data's {sorted(columns)}, and logged no input "
            "example to smoke-test it with: log one (input_example=...) when saving the model"
        )
    return smoke_payload(example, [], req.rows)


@bp.activity_trigger(input_name="payload")
def rollout_smoke(payload: dict) -> dict:
    """Score sample rows of the evaluation split on the challenger alone; any error fails it
    before it sees a single live request."""
    req = SmokeInput.model_validate(payload)
    try:
        if req.eval_ref is None:
            raise ValueError("no evaluation split was handed to the rollout: nothing to smoke-test with")
        lake = bootstrap.data_lake()
        part = next(
            b for b in lake.list(req.eval_ref.container, req.eval_ref.path) if b.path.endswith(".parquet")
        )
        frame = pd.read_parquet(io.BytesIO(lake.read(req.eval_ref.container, part.path)))
        contract = bootstrap.contract(req.model)
        body = smoke_payload(
            frame, [contract.label, *([contract.id_column] if contract.id_column else [])], req.rows
        )
        body = _as_model_input(req, body)
        answer = bootstrap.endpoints().invoke(req.endpoint, body, deployment=req.deployment)
        if isinstance(answer, list) and len(answer) != len(body["input_data"]["data"]):
            raise ValueError(f"{len(answer)} predictions for {len(body['input_data']['data'])} rows")
    except StopIteration:
        return SmokeResult(ok=False, rows=0, error="the evaluation split has no parquet file").dump()
    except Exception as exc:  # any error fails the smoke test, with its message
        return SmokeResult(ok=False, rows=0, error=f"{type(exc).__name__}: {str(exc)[:1000]}").dump()
    return SmokeResult(ok=True, rows=len(body["input_data"]["data"])).dump()


@bp.activity_trigger(input_name="payload")
def rollout_set_traffic(payload: dict) -> dict:
    req = TrafficInput.model_validate(payload)
    return EndpointResult.of(bootstrap.endpoints().set_traffic(req.endpoint, req.traffic, req.mirror)).dump()


@bp.activity_trigger(input_name="payload")
def rollout_gate(payload: dict) -> dict:
    """Judge green vs blue over [start, min(end, ingested)], record the evaluation in the ledger.
    Two queries: the first gives blue's p95, the second counts requests slower than it."""
    req = GateInput.model_validate(payload)
    stats = bootstrap.traffic_stats()
    names = [req.green, req.blue]
    first = stats.window(req.endpoint, names, req.start, req.end)
    end = min(req.end, first.ingested_until) if first.ingested_until else req.end
    blue = first.by_deployment.get(req.blue)
    window = first
    if end > req.start and blue is not None and blue.p95_ms is not None:
        window = stats.window(req.endpoint, names, req.start, end, slow_threshold_ms=blue.p95_ms)
    verdict = evaluate_gate(window, req.green, req.blue, req.gate)
    fact = GateEvaluated.of(req.phase, req.percent, verdict)
    bootstrap.ledger().append(req.run_id, fact.ledger_kind, fact.dump())
    return GateResult(
        verdict=verdict.verdict,
        reasons=verdict.reasons[:10],
        green_requests=verdict.green_requests,
        blue_requests=verdict.blue_requests,
        min_samples=verdict.min_samples,
    ).dump()


@bp.activity_trigger(input_name="payload")
def rollout_delete_deployment(payload: dict) -> dict:
    """Delete a retired deployment; the port refuses one that still has live traffic."""
    req = DeploymentInput.model_validate(payload)
    endpoints = bootstrap.endpoints()
    if req.deployment in endpoints.get(req.endpoint).deployments:
        endpoints.delete_deployment(req.endpoint, req.deployment)
    return {"deleted": req.deployment}


@bp.activity_trigger(input_name="payload")
def rollout_set_champion(payload: dict) -> dict:
    req = SetChampionInput.model_validate(payload)
    bootstrap.registry().set_champion(req.model, req.version)
    return {"model": req.model, "champion": req.version}
