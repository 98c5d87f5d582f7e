"""Score the challenger and the current champion on the SAME evaluation split: an Azure ML
command-job script (jobs/evaluate.yml) that runs on the training compute.

It only measures; the promotion decision is a pure function in the Function App (core/training/verdict.py),
which reads this job's metrics JSON:

    {"challenger": {"auc", "accuracy", "logloss", "n"}, "champion": {...} | null, "eval_rows": n}

Both models are loaded through `mlflow.pyfunc`, the way the endpoint serves them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

import numpy as np

try:  # run from the repo (package) or from the job's code snapshot (samples/churn only)
    from samples.churn.features import labels, to_features
    from samples.churn.train import read_table, score, write_json
except ModuleNotFoundError:  # pragma: no cover
    from features import labels, to_features  # type: ignore[no-redef]
    from train import read_table, score, write_json  # type: ignore[no-redef]

log = logging.getLogger("churn.evaluate")


def _probabilities(predictions: Any) -> np.ndarray:
    """pyfunc output -> P(churned); accepts a vector of probabilities or an (n, 2) matrix."""
    arr = np.asarray(getattr(predictions, "to_numpy", lambda: predictions)(), dtype="float64")
    if arr.ndim == 2:
        arr = arr[:, -1]
    return arr


def evaluate(challenger: str, champion: str | None, eval_data: str) -> dict[str, Any]:
    import mlflow.pyfunc

    frame = read_table(eval_data)
    x, y = to_features(frame), labels(frame).to_numpy()
    result: dict[str, Any] = {"eval_rows": len(frame), "champion": None}
    for role, path in (("challenger", challenger), ("champion", champion)):
        if not path:
            continue
        model = mlflow.pyfunc.load_model(str(path).removeprefix("file://"))
        result[role] = score(y, _probabilities(model.predict(x)))
        log.info("%s: %s", role, result[role])
    return result


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout
    )
    parser = argparse.ArgumentParser(description="Score challenger and champion on one evaluation split.")
    parser.add_argument("--challenger", required=True, help="MLflow model folder of the new model")
    parser.add_argument(
        "--champion", help="MLflow model folder of the current champion (omit for the first model)"
    )
    parser.add_argument("--eval-data", required=True, help="Parquet file or folder (label column 'churned')")
    parser.add_argument("--metrics-output", required=True, help="folder (writes metrics.json) or .json file")
    args = parser.parse_args(argv)
    result = evaluate(args.challenger, args.champion, args.eval_data)
    write_json(args.metrics_output, "metrics.json", result)
    if os.environ.get("MLFLOW_TRACKING_URI") or os.environ.get("MLFLOW_RUN_ID"):
        import mlflow

        with mlflow.start_run():
            flat = {
                f"{role}_{k}": float(v)
                for role in ("challenger", "champion")
                for k, v in (result[role] or {}).items()
                if v is not None
            }
            mlflow.log_metrics({**flat, "eval_rows": float(result["eval_rows"])})
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
