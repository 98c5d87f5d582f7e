"""What one deployment runs: an MLflow pyfunc model, AML's scoring payload, and injected faults.

Predictions are whatever the MLflow model's pyfunc `predict` returns, serialised as a JSON list,
as Azure ML's no-code MLflow scoring server does: class labels for a classifier saved with
mlflow.sklearn / mlflow.xgboost defaults, probabilities if it was saved with
`pyfunc_predict_fn="predict_proba"` (or a custom pyfunc that returns them).
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

DEFAULT_REQUEST_TIMEOUT_MS = 5000  # AML's request_settings.request_timeout_ms default


class PayloadError(ValueError):
    """The request body is not a scoring payload this model can read (HTTP 400)."""


@dataclass(frozen=True)
class Faults:
    """Failure and slowness a deployment injects, so a faulty challenger can be shipped on purpose.

    Read from the deployment's environment variables when it is created (FAULT_ERROR_RATE,
    FAULT_EXTRA_LATENCY_MS, FAULT_LATENCY_JITTER_MS, FAULT_ERROR_STATUS) and changeable at runtime.
    An injected error looks like a crashing model: AML answers 424 with ModelStatusCode 500.
    """

    error_rate: float = 0.0
    extra_latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_status: int = 424

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"error_rate must be within [0, 1], got {self.error_rate}")
        if self.extra_latency_ms < 0 or self.jitter_ms < 0:
            raise ValueError("extra_latency_ms and jitter_ms must not be negative")
        if self.error_status not in (424, 500, 502, 503, 504, 408):
            raise ValueError(
                f"error_status must be one of 424, 500, 502, 503, 504, 408, got {self.error_status}"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Faults:
        try:
            latency = float(env.get("FAULT_EXTRA_LATENCY_MS", 0) or 0)
            jitter = env.get("FAULT_LATENCY_JITTER_MS")
            return cls(
                error_rate=float(env.get("FAULT_ERROR_RATE", 0) or 0),
                extra_latency_ms=latency,
                # default jitter: a tenth of the added latency, so it is not a constant offset
                jitter_ms=float(jitter) if jitter not in (None, "") else latency / 10,
                error_status=int(env.get("FAULT_ERROR_STATUS", 424) or 424),
            )
        except ValueError as exc:
            raise ValueError(f"invalid FAULT_* environment variable: {exc}") from exc

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Faults:
        unknown = set(data) - {"error_rate", "extra_latency_ms", "jitter_ms", "error_status"}
        if unknown:
            raise ValueError(f"unknown fault settings {sorted(unknown)}")
        return cls(**{k: (int(v) if k == "error_status" else float(v)) for k, v in data.items()})

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def delay_seconds(self, rng: random.Random) -> float:
        if not self.extra_latency_ms and not self.jitter_ms:
            return 0.0
        return max(0.0, self.extra_latency_ms + rng.uniform(-self.jitter_ms, self.jitter_ms)) / 1000

    def fails(self, rng: random.Random) -> bool:
        return self.error_rate > 0 and rng.random() < self.error_rate


def parse_payload(body: bytes) -> pd.DataFrame:
    """AML's MLflow payload `{"input_data": {"columns", "index", "data"}}` (also `input_data` as a
    list of rows, and MLflow's own `dataframe_split` / `dataframe_records`)."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"request body is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise PayloadError('expected a JSON object like {"input_data": {"columns": [...], "data": [[...]]}}')
    split = doc.get("input_data", doc.get("dataframe_split"))
    try:
        if isinstance(split, dict):
            if "data" not in split:
                raise PayloadError(
                    'input_data needs "data" (a list of rows), with "columns" and optional "index"'
                )
            return pd.DataFrame(split["data"], columns=split.get("columns"), index=split.get("index"))
        if isinstance(split, list):
            return pd.DataFrame(split)
        if isinstance(doc.get("dataframe_records"), list):
            return pd.DataFrame.from_records(doc["dataframe_records"])
    except (ValueError, TypeError) as exc:
        raise PayloadError(f"input_data does not form a table: {exc}") from exc
    raise PayloadError('expected {"input_data": {"columns": [...], "index": [...], "data": [[...]]}}')


def to_jsonable(prediction: Any) -> Any:
    if isinstance(prediction, pd.DataFrame):
        if prediction.shape[1] == 1:
            return prediction.iloc[:, 0].tolist()
        return prediction.to_dict(orient="records")
    if hasattr(prediction, "tolist"):
        return prediction.tolist()
    if isinstance(prediction, list | tuple):
        return [to_jsonable(p) for p in prediction]
    return prediction


def is_bad_input(exc: BaseException) -> bool:
    """MLflow's schema enforcement raises MlflowException(INVALID_PARAMETER_VALUE): a 400, not a model fault."""
    code = getattr(exc, "error_code", None)
    return code in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST")


class ModelRuntime:
    """A loaded MLflow pyfunc model."""

    def __init__(self, model: Any, local_path: Path) -> None:
        self.model = model
        self.local_path = local_path

    def predict(self, frame: pd.DataFrame) -> Any:
        return to_jsonable(self.model.predict(frame))


def load_model(uri: str, dest: Path, tracking_uri: str | None = None) -> ModelRuntime:
    """Copy the MLflow model at `uri` (path, file:, runs:/, models:/) into `dest` and load it.

    Copying makes a deployment independent of where the model came from, as AML does: a
    restarted server reloads from its own state dir."""
    import mlflow
    import mlflow.pyfunc

    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
    if not (dest / "MLmodel").exists():
        staging = dest.with_name(dest.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(staging)))
        except Exception as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise RuntimeError(f"cannot fetch MLflow model {uri!r}: {exc}") from exc
        if not (local / "MLmodel").exists():
            found = next((p.parent for p in local.rglob("MLmodel")), None)
            if found is None:
                shutil.rmtree(staging, ignore_errors=True)
                raise RuntimeError(f"{uri!r} is not an MLflow model: no MLmodel file in it")
            local = found
        shutil.rmtree(dest, ignore_errors=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(local), str(dest))
        shutil.rmtree(staging, ignore_errors=True)
    return ModelRuntime(mlflow.pyfunc.load_model(str(dest)), dest)
