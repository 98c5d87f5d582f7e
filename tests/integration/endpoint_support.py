"""Shared by the endpoint server's and LocalEndpoints' integration tests: real MLflow models, a real server."""

from __future__ import annotations

import time
from pathlib import Path

import requests

from devhost import procs
from devstack import REPO_ROOT

KEY = "test-endpoint-key"


def train_churn_models(root: Path) -> tuple[Path, Path]:
    """Two small, different MLflow models on the churn features, both answering churn probabilities:
    a scikit-learn pipeline (predict_proba: one [p0, p1] pair per row) and an XGBoost booster like
    the churn sample's (one probability per row). Both carry a signature, so bad columns are a 400."""
    import mlflow.sklearn
    import mlflow.xgboost
    import xgboost as xgb
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from samples.churn.data import generate
    from samples.churn.features import labels, to_features

    raw = generate(rows=400, seed=3)
    x, y = to_features(raw), labels(raw)
    logreg, booster = root / "logreg", root / "xgb"
    if not (logreg / "MLmodel").exists():
        model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
        signature = infer_signature(x.head(5), model.predict_proba(x.head(5)))
        mlflow.sklearn.save_model(
            model,
            str(logreg),
            signature=signature,
            pyfunc_predict_fn="predict_proba",
            pip_requirements=["scikit-learn"],
        )
    if not (booster / "MLmodel").exists():
        params = {"objective": "binary:logistic", "max_depth": 3, "seed": 1}
        trees = xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=20)
        signature = infer_signature(x.head(5), trees.predict(xgb.DMatrix(x.head(5))))
        mlflow.xgboost.save_model(trees, str(booster), signature=signature, pip_requirements=["xgboost"])
    return logreg, booster


def start_server(state: Path, port: int | None = None) -> procs.Proc:
    port = port or procs.free_port()
    argv = procs.python_argv(
        "-m", "standins.endpoint.server",
        "--port", str(port),
        "--db", str(state / "traffic.db"),
        "--state-dir", str(state / "endpoints"),
        "--flush-interval", "0.1",
    )  # fmt: skip
    return procs.start(
        "endpoints",
        argv,
        port,
        log_path=state / "server.log",
        env={"LOCAL_ENDPOINT_KEY": KEY},
        cwd=REPO_ROOT,
        timeout=90,
    )


def base_url(proc: procs.Proc) -> str:
    return f"http://127.0.0.1:{proc.port}"


def wait_state(url: str, endpoint: str, deployment: str, timeout: float = 90) -> dict:
    """Poll a deployment until it leaves `creating` (as the orchestrator does with durable timers)."""
    deadline = time.monotonic() + timeout
    while True:
        body = requests.get(
            f"{url}/endpoints/{endpoint}/deployments/{deployment}",
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=10,
        ).json()
        if body.get("state") != "creating" or time.monotonic() > deadline:
            return body
        time.sleep(0.1)
