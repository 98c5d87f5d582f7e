"""Online feature store figures: materialization throughput, and the latency an online lookup adds to a
scoring request against the same request with its features inline.

    python -m bench.feature_store [--entities 2000] [--requests 300]

- materialization: `--entities` customers (the churn sample, encoded by samples.churn.features:to_features
  as the model takes them) upserted into the Cosmos stand-in (@vercel/cosmosdb-server, a Node process on
  loopback) by CosmosOnlineFeatureStore.materialize: rows/s over the whole call (vectors + version record).
- lookup latency: the local endpoint stand-in with one deployment of an XGBoost churn model that knows
  its feature set version; `--requests` sequential one-row requests carrying only the customer id (the
  stand-in reads the vector from the Cosmos stand-in, then scores) vs the same customers with their
  features inline. Client-side wall time per request, p50 and p99, and their difference.

The Cosmos stand-in is an in-memory Node server on the same 2 cores: its numbers say what our code adds
(query, JSON, a thread hop), not what a Cosmos DB account in the endpoint's region answers in (single-digit
ms for a single-partition read). Writes bench/results/feature_store.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import requests

from adapters.azure.feature_store import CosmosOnlineFeatureStore
from core.kernel.contract import load_contract
from core.kernel.datafiles import read_csv, typed_frame
from core.training.online_features import latest_vectors, load_transform
from devhost import procs
from devstack import REPO_ROOT
from devstack.stack import start_cosmos

RESULTS = Path(__file__).resolve().parent / "results" / "feature_store.json"
KEY = "bench-key"
COSMOS_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="  # the emulator's public key
EP = "bench"


def _model(root: Path) -> Path:
    import mlflow.xgboost
    import xgboost as xgb
    from mlflow.models import infer_signature

    from samples.churn.data import generate
    from samples.churn.features import labels, to_features

    raw = generate(rows=2000, seed=1)
    x, y = to_features(raw), labels(raw)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 4, "seed": 1}, xgb.DMatrix(x, label=y), 50
    )
    path = root / "model"
    signature = infer_signature(x.head(5), booster.predict(xgb.DMatrix(x.head(5))))
    mlflow.xgboost.save_model(booster, str(path), signature=signature, pip_requirements=["xgboost"])
    return path


def _pcts(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"p50_ms": round(float(np.percentile(a, 50)), 2), "p99_ms": round(float(np.percentile(a, 99)), 2)}


def measure(entities: int, n_requests: int) -> dict[str, Any]:
    from samples.churn.data import generate, to_csv_bytes

    contract = load_contract(REPO_ROOT / "samples" / "churn" / "contract.yaml")
    to_features = load_transform("samples.churn.features:to_features")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = _model(root)
        customers = typed_frame(read_csv(to_csv_bytes(generate(entities, 4))), contract)
        vectors = latest_vectors(customers, contract, to_features)
        cosmos_port = procs.free_port()
        cosmos = start_cosmos(cosmos_port, root / "cosmos.log")
        server = None
        try:
            endpoint = f"https://127.0.0.1:{cosmos_port}"
            store = CosmosOnlineFeatureStore.connect(
                endpoint, COSMOS_KEY, "mllifecycle", connection_verify=False
            )
            t = time.perf_counter()
            store.materialize(
                "churn", "dv-bench", vectors, entity_column="customer_id", ttl_seconds=86400,
                materialized_at=datetime.now(UTC),
            )  # fmt: skip
            seconds = time.perf_counter() - t

            port = procs.free_port()
            argv = procs.python_argv(
                "-m", "standins.endpoint.server", "--port", str(port), "--db", str(root / "traffic.db"),
                "--state-dir", str(root / "endpoints"),
            )  # fmt: skip
            env = {
                "LOCAL_ENDPOINT_KEY": KEY,
                "FEATURE_STORE_ENDPOINT": endpoint,
                "FEATURE_STORE_KEY": COSMOS_KEY,
            }
            server = procs.start(
                "endpoints", argv, port, log_path=root / "server.log", env=env, cwd=REPO_ROOT, timeout=90
            )
            url, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {KEY}"}
            requests.put(f"{url}/endpoints/{EP}", headers=auth, json={}, timeout=10).raise_for_status()
            environment = {
                "FEATURE_SET": "churn",
                "FEATURE_SET_VERSION": "dv-bench",
                "FEATURE_ENTITY_COLUMN": "customer_id",
            }
            body = {
                "model": {"name": "churn", "version": "1", "uri": str(model)},
                "environment_variables": environment,
            }
            requests.put(
                f"{url}/endpoints/{EP}/deployments/blue", headers=auth, json=body, timeout=10
            ).raise_for_status()
            deadline = time.monotonic() + 120
            while (
                requests.get(f"{url}/endpoints/{EP}/deployments/blue", headers=auth, timeout=10).json()[
                    "state"
                ]
                == "creating"
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError("the deployment did not start")
                time.sleep(0.2)
            requests.patch(
                f"{url}/endpoints/{EP}", headers=auth, json={"traffic": {"blue": 100}}, timeout=10
            ).raise_for_status()

            ids = list(vectors)[:n_requests]
            floor = []  # the Cosmos stand-in's own round trip for one lookup, from this process
            for i in ids[:100]:
                t0 = time.perf_counter()
                store.lookup("churn", "dv-bench", [i])
                floor.append((time.perf_counter() - t0) * 1000)
            session = requests.Session()

            def timed(columns: list[str], row: list[Any]) -> float:
                payload = {"input_data": {"columns": columns, "index": [0], "data": [row]}}
                t0 = time.perf_counter()
                r = session.post(f"{url}/endpoints/{EP}/score", headers=auth, json=payload, timeout=30)
                elapsed = (time.perf_counter() - t0) * 1000
                r.raise_for_status()
                return elapsed

            feature_names = list(next(iter(vectors.values())))
            for i in ids[:20]:  # warm up both paths
                timed(["customer_id"], [i])
                timed(feature_names, [vectors[i][c] for c in feature_names])
            by_id, inline = [], []
            for i in ids:  # interleaved, so drift in machine load hits both alike
                by_id.append(timed(["customer_id"], [i]))
                inline.append(timed(feature_names, [vectors[i][c] for c in feature_names]))
        finally:
            if server is not None:
                server.stop()
            cosmos.stop()
    lookup, plain = _pcts(by_id), _pcts(inline)
    return {
        "materialization": {
            "entities": entities,
            "seconds": round(seconds, 3),
            "rows_per_s": round(entities / seconds, 1),
        },
        "scoring_latency": {
            "requests": len(ids),
            "by_entity_id": lookup,
            "inline_features": plain,
            "added_p50_ms": round(lookup["p50_ms"] - plain["p50_ms"], 2),
            "added_p99_ms": round(lookup["p99_ms"] - plain["p99_ms"], 2),
            "store_round_trip": _pcts(floor),  # the stand-in's share of what the lookup adds
        },
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.feature_store", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--entities", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results = measure(args.entities, args.requests)
    m, s = results["materialization"], results["scoring_latency"]
    print(f"materialization: {m['entities']} entities in {m['seconds']} s = {m['rows_per_s']} rows/s")
    print(
        f"scoring, one row, {s['requests']} requests: by entity id p50 {s['by_entity_id']['p50_ms']} ms "
        f"p99 {s['by_entity_id']['p99_ms']} ms; inline p50 {s['inline_features']['p50_ms']} ms "
        f"p99 {s['inline_features']['p99_ms']} ms; lookup adds p50 {s['added_p50_ms']} ms, p99 {s['added_p99_ms']} ms"
    )
    f = s["store_round_trip"]
    print(
        f"of which the Cosmos stand-in's own round trip (one lookup from this process): p50 {f['p50_ms']} ms p99 {f['p99_ms']} ms"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
