"""Train the churn classifier: an Azure ML command-job script (jobs/train.yml), run unchanged by
the local TrainingJobs adapter.

It logs params, eval metrics and the model to the active MLflow tracking URI (Azure ML and the
local adapter both set MLFLOW_TRACKING_URI / MLFLOW_RUN_ID), and ALSO saves the MLflow model
directory to --model-output, so the job's output is a self-contained MLflow model that the
registry can take as is, without a second trip to the tracking server.

The model is an XGBoost Booster with a binary:logistic objective, so the pyfunc flavour's
`predict` returns churn probabilities (what scoring and AUC need), not 0/1 labels.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

try:  # run from the repo (package) or from the job's code snapshot (samples/churn only)
    from samples.churn.features import FEATURES, labels, to_features
except ModuleNotFoundError:  # pragma: no cover
    from features import FEATURES, labels, to_features  # type: ignore[no-redef]

log = logging.getLogger("churn.train")


def read_table(path: str | Path) -> pd.DataFrame:
    """A Parquet file, a folder of Parquet files (as job inputs are mounted), or a CSV file."""
    p = Path(str(path).removeprefix("file://"))
    if p.is_dir():
        files = sorted(
            f
            for f in p.rglob("*.parquet")
            if not any(part.startswith((".", "_")) for part in f.relative_to(p).parts)
        )
        if not files:
            raise FileNotFoundError(f"no .parquet files under {p}: pass a Parquet file or a folder of them")
        return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    if not p.exists():
        raise FileNotFoundError(f"input data {p} does not exist")
    if p.suffix.lower() == ".csv":
        return pd.read_csv(p)
    return pd.read_parquet(p)


def detect_device() -> str:
    """'cuda' when this xgboost build has CUDA and a GPU is visible, else 'cpu'.

    CHURN_DEVICE=cpu|cuda overrides (e.g. to force CPU on a GPU node)."""
    forced = os.environ.get("CHURN_DEVICE", "").strip().lower()
    if forced in ("cpu", "cuda"):
        return forced
    import xgboost as xgb

    if not xgb.build_info().get("USE_CUDA"):
        return "cpu"
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return "cpu"
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "cpu"
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "cpu"
    return "cuda" if out.returncode == 0 and "GPU" in out.stdout else "cpu"


def model_requirements() -> list[str]:
    """The pinned lines of environment/requirements.txt (the env shared by training and serving)."""
    path = Path(__file__).resolve().parent / "environment" / "requirements.txt"
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def score(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float | None]:
    """AUC, accuracy at 0.5 and log loss; AUC is None when the data has a single class."""
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    y = np.asarray(y_true).astype(int)
    p = np.clip(np.asarray(proba, dtype="float64"), 1e-7, 1 - 1e-7)
    auc = float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else None
    return {
        "auc": auc,
        "accuracy": float(accuracy_score(y, (p >= 0.5).astype(int))),
        "logloss": float(log_loss(y, p, labels=[0, 1])),
        "n": len(y),
    }


def write_json(target: str | Path, name: str, payload: dict[str, Any]) -> Path:
    """--metrics-output may name a .json file or a folder (a uri_folder output)."""
    p = Path(str(target).removeprefix("file://"))
    if p.suffix.lower() != ".json":
        p = p / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(payload, indent=2, sort_keys=True))
    return p


def train(args: argparse.Namespace) -> dict[str, Any]:
    import mlflow
    import mlflow.xgboost
    import xgboost as xgb
    from mlflow.models import infer_signature

    started = time.monotonic()
    train_df, eval_df = read_table(args.train_data), read_table(args.eval_data)
    x_train, y_train = to_features(train_df), labels(train_df)
    x_eval, y_eval = to_features(eval_df), labels(eval_df)
    device = args.device if args.device != "auto" else detect_device()
    params = {
        "objective": "binary:logistic",
        "eval_metric": ["logloss", "auc"],
        "tree_method": "hist",
        "device": device,
        "max_depth": args.max_depth,
        "eta": args.learning_rate,
        "seed": args.seed,
    }
    log.info("training on %d rows (%d eval rows), device=%s", len(x_train), len(x_eval), device)

    with mlflow.start_run() as run:
        mlflow.log_params(
            {
                "n_estimators": args.n_estimators,
                "max_depth": args.max_depth,
                "learning_rate": args.learning_rate,
                "device": device,
                "tree_method": "hist",
                "seed": args.seed,
                "train_rows": len(x_train),
                "eval_rows": len(x_eval),
                "n_features": len(FEATURES),
            }
        )
        mlflow.set_tag("device", device)
        dtrain = xgb.DMatrix(x_train, label=y_train)
        deval = xgb.DMatrix(x_eval, label=y_eval)
        booster = xgb.train(
            params, dtrain, num_boost_round=args.n_estimators, evals=[(deval, "eval")], verbose_eval=False
        )
        booster.set_param({"device": "cpu"})  # score anywhere (serving is CPU); predictions are identical
        proba = booster.predict(deval)
        metrics = score(y_eval.to_numpy(), proba)
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None and k != "n"})

        example = x_eval.head(5)
        signature = infer_signature(example, booster.predict(xgb.DMatrix(example)))
        # the environment's own pins: the model needs exactly what trained it (and skips pip inference)
        pins = model_requirements()
        info = mlflow.xgboost.log_model(
            booster, name="model", signature=signature, input_example=example, pip_requirements=pins
        )
        # an empty existing folder (an AML rw_mount output) is fine; mlflow refuses a non-empty one
        out = Path(str(args.model_output).removeprefix("file://"))
        mlflow.xgboost.save_model(
            booster, str(out), signature=signature, input_example=example, pip_requirements=pins
        )
        result = {
            **metrics,
            "device": device,
            "mlflow_run_id": run.info.run_id,
            "model_uri": info.model_uri,
            "train_rows": len(x_train),
            "seconds": round(time.monotonic() - started, 3),
        }
        if args.metrics_output:
            write_json(args.metrics_output, "metrics.json", result)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train the churn XGBoost model and log it with MLflow.")
    parser.add_argument("--train-data", required=True, help="Parquet file or folder (label column 'churned')")
    parser.add_argument("--eval-data", required=True, help="Parquet file or folder for the eval metrics")
    parser.add_argument("--n-estimators", type=int, default=200)
    parser.add_argument("--max-depth", type=int, default=3)
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--model-output", required=True, help="folder to write the MLflow model to")
    parser.add_argument("--metrics-output", help="folder (writes metrics.json) or .json file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout
    )
    result = train(parse_args(argv))
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
