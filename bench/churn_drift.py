"""How much a retrain on drifted churn data beats the old champion, and how little a retrain on
unchanged data does: the margin the promotion rule's minimum gain must sit in.

    python -m bench.churn_drift [--seeds 8]

Trains in-process with the training job's default hyperparameters (no MLflow), default generator
settings, 80/20 split as the ingest step makes it; writes bench/results/churn_drift.json."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import xgboost as xgb
from sklearn.metrics import roc_auc_score

from samples.churn.data import generate
from samples.churn.features import labels, to_features


def _fit(frame):  # the train job's defaults: 200 trees, depth 3, eta 0.05, hist
    params = {
        "objective": "binary:logistic",
        "max_depth": 3,
        "eta": 0.05,
        "tree_method": "hist",
        "nthread": 1,
    }
    return xgb.train(params, xgb.DMatrix(to_features(frame), label=labels(frame)), 200)


def _auc(model, frame) -> float:
    return float(roc_auc_score(labels(frame), model.predict(xgb.DMatrix(to_features(frame)))))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=8)
    args = parser.parse_args()
    started = time.perf_counter()
    drift_gain, same_gain = [], []
    for s in range(args.seeds):
        old, drifted, same = generate(seed=100 + s), generate(seed=200 + s, drift=1.0), generate(seed=300 + s)
        cut = int(len(old) * 0.8)
        champion = _fit(old.iloc[:cut])
        drift_gain.append(
            _auc(_fit(drifted.iloc[:cut]), drifted.iloc[cut:]) - _auc(champion, drifted.iloc[cut:])
        )
        same_gain.append(_auc(_fit(same.iloc[:cut]), same.iloc[cut:]) - _auc(champion, same.iloc[cut:]))
    result = {
        "seeds": args.seeds,
        "drift_1_auc_gain": {
            "min": min(drift_gain),
            "mean": float(np.mean(drift_gain)),
            "max": max(drift_gain),
        },
        "no_change_auc_gain": {
            "min": min(same_gain),
            "mean": float(np.mean(same_gain)),
            "max": max(same_gain),
        },
        "seconds": round(time.perf_counter() - started, 2),
    }
    for key in ("drift_1_auc_gain", "no_change_auc_gain"):
        g = result[key]
        print(f"{key:20s} min {g['min']:+.3f}  mean {g['mean']:+.3f}  max {g['max']:+.3f}")
    out = Path(__file__).resolve().parent / "results" / "churn_drift.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
