"""The smoke test: score sample rows on the challenger alone, before it sees a live request.

The rows come from the run's evaluation split, which holds contract (raw) rows. A model whose
signature names other columns (the churn model takes its encoded features) would refuse them with
a 400 that says nothing about the challenger, so such a model is smoke-tested with its own logged
input example. Both are read from the model's MLflow files (MLmodel, input_example.json) as the
registry port downloads them: the Function App ships no mlflow.
"""

from __future__ import annotations

import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from core.kernel.contract import DataContract
from core.kernel.ports import DataLake, Endpoints, ModelRegistry
from core.rollout.payloads import SmokeInput, SmokeResult


@dataclass(frozen=True)
class ModelInputs:
    """What an MLflow model says about its input: the signature's column names (None when it has
    no column-based signature) and its logged input example (None when it logged none)."""

    columns: list[str] | None
    example: pd.DataFrame | None


def read_model_inputs(folder: Path) -> ModelInputs:
    """Read MLmodel's signature and saved_input_example_info the way mlflow writes them
    (input_example.json in pandas 'split' or 'records' orient)."""
    meta = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8")) or {}
    columns: list[str] | None = None
    inputs = (meta.get("signature") or {}).get("inputs")
    if inputs:
        specs = json.loads(inputs) if isinstance(inputs, str) else inputs
        names = [str(s["name"]) for s in specs if isinstance(s, dict) and s.get("name") is not None]
        columns = names if names and len(names) == len(specs) else None
    example: pd.DataFrame | None = None
    info = meta.get("saved_input_example_info") or {}
    if info.get("artifact_path") and info.get("type", "dataframe") == "dataframe":
        doc = json.loads((folder / info["artifact_path"]).read_text(encoding="utf-8"))
        if isinstance(doc, dict) and "dataframe_split" in doc:
            doc = doc["dataframe_split"]
        if isinstance(doc, dict) and "columns" in doc:
            example = pd.DataFrame(doc.get("data", []), columns=doc["columns"])
        elif isinstance(doc, list):
            example = pd.DataFrame.from_records(doc)
    return ModelInputs(columns, example)


def smoke_payload(frame: pd.DataFrame, drop: list[str], rows: int) -> dict[str, Any]:
    """AML's MLflow scoring payload from sample rows, without the label (and id)."""
    sample = frame.drop(columns=[c for c in drop if c in frame.columns]).head(rows)
    return {"input_data": json.loads(sample.to_json(orient="split", index=True))}


def model_input_payload(
    registry: ModelRegistry, model: str, version: str, body: dict[str, Any], rows: int
) -> dict[str, Any]:
    """`body` if the model takes its columns, else the model's own input example."""
    columns = set(body["input_data"]["columns"])
    with tempfile.TemporaryDirectory() as tmp:
        spec = read_model_inputs(registry.download(model, version, Path(tmp)))
    if not spec.columns or set(spec.columns) <= columns:
        return body
    if spec.example is None or spec.example.empty:
        raise ValueError(
            f"the model takes columns {spec.columns}, not the data's {sorted(columns)}, and logged no input "
            "example to smoke-test it with: log one (input_example=...) when saving the model"
        )
    return smoke_payload(spec.example, [], rows)


def model_example_payload(registry: ModelRegistry, model: str, version: str, rows: int) -> dict[str, Any]:
    """The model's own logged input example as a scoring payload: what a deploy-only environment
    smoke-tests with, since it holds no data of the model (it deploys what another evaluated)."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = read_model_inputs(registry.download(model, version, Path(tmp)))
    if spec.example is None or spec.example.empty:
        raise ValueError(
            f"{model}:{version} logged no input example and this rollout has no evaluation split to "
            "smoke-test it with: log one (input_example=...) when saving the model"
        )
    return smoke_payload(spec.example, [], rows)


def smoke_test(
    lake: DataLake,
    registry: ModelRegistry,
    endpoints: Endpoints,
    contract: DataContract | None,
    req: SmokeInput,
) -> SmokeResult:
    """Score sample rows on the challenger's deployment alone; any error fails the test, with its
    message (it is a verdict, not a crash). Rows come from the evaluation split when the rollout
    has one (a lifecycle), else from the model's input example (a deploy-only environment)."""
    try:
        version = endpoints.deployment(req.endpoint, req.deployment).model_version
        if req.eval_ref is None:
            body = model_example_payload(registry, req.model, version, req.rows)
        else:
            if contract is None:
                raise ValueError("the run has an evaluation split but no data contract to read it with")
            parts = [
                b for b in lake.list(req.eval_ref.container, req.eval_ref.path) if b.path.endswith(".parquet")
            ]
            if not parts:
                return SmokeResult(ok=False, rows=0, error="the evaluation split has no parquet file")
            frame = pd.read_parquet(io.BytesIO(lake.read(req.eval_ref.container, parts[0].path)))
            drop = [contract.label, *([contract.id_column] if contract.id_column else [])]
            body = smoke_payload(frame, drop, req.rows)
            body = model_input_payload(registry, req.model, version, body, req.rows)
        answer = endpoints.invoke(req.endpoint, body, deployment=req.deployment)
        if isinstance(answer, list) and len(answer) != len(body["input_data"]["data"]):
            raise ValueError(f"{len(answer)} predictions for {len(body['input_data']['data'])} rows")
    except Exception as exc:  # any error fails the smoke test, with its message
        return SmokeResult(ok=False, rows=0, error=f"{type(exc).__name__}: {str(exc)[:1000]}")
    return SmokeResult(ok=True, rows=len(body["input_data"]["data"]))
