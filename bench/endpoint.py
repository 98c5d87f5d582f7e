"""Local endpoint server figures: the router's added latency, and rollback latency under load.

    python -m bench.endpoint [--requests 1000] [--rollbacks 5] [--rps 100]

- router latency: the same churn model (an XGBoost booster in MLflow format, like the sample's),
  called directly in this process (pyfunc predict on a DataFrame; and with the JSON payload parse)
  vs through the server (HTTP, key auth, routing, executor hop, telemetry), sequential requests of
  one row; added latency = endpoint - direct at p50 and p99. GET /health is the HTTP floor.
- rollback latency: load runs at `--rps` over blue/green at 90/10; at T0 the split is set back to
  blue 100. The switch is in effect when the control call returns (its duration is the switch
  latency: every request sent after it must land on blue, and those that did not are counted);
  green requests routed before the switch still finish: T0 -> the last green response is the
  drain time (0 when none was in flight), from the responses and from the traffic log.

Writes bench/results/endpoint.json. bench.canary reuses `measure()` for its endpoint sections.
"""

from __future__ import annotations

import os

# the same threading as the server (standins/endpoint/server.py), so the direct call is comparable
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from adapters.local.endpoints import LocalEndpoints
from core.kernel.ports import ModelVersion
from devhost import procs
from devstack import REPO_ROOT, loadgen
from standins.endpoint.runtime import parse_payload

RESULTS = Path(__file__).resolve().parent / "results" / "endpoint.json"
KEY = "bench-key"
EP = "bench"


def _train(root: Path) -> tuple[Path, Path]:
    import mlflow.xgboost
    import xgboost as xgb
    from mlflow.models import infer_signature

    from samples.churn.data import generate
    from samples.churn.features import labels, to_features

    paths = []
    for name, seed in (("blue", 1), ("green", 2)):
        raw = generate(rows=2000, seed=seed)
        x, y = to_features(raw), labels(raw)
        booster = xgb.train(
            {"objective": "binary:logistic", "max_depth": 4, "seed": seed},
            xgb.DMatrix(x, label=y),
            num_boost_round=50,
        )
        path = root / name
        signature = infer_signature(x.head(5), booster.predict(xgb.DMatrix(x.head(5))))
        mlflow.xgboost.save_model(booster, str(path), signature=signature, pip_requirements=["xgboost"])
        paths.append(path)
    return paths[0], paths[1]


def _pct(values: list[float]) -> dict[str, float]:
    p50, p99 = np.percentile(values, [50, 99])
    return {"p50_ms": round(float(p50), 3), "p99_ms": round(float(p99), 3), "n": len(values)}


def router_latency(client: LocalEndpoints, model_path: Path, n: int) -> dict[str, Any]:
    import mlflow.pyfunc
    import requests

    model = mlflow.pyfunc.load_model(str(model_path))
    bodies = loadgen.payloads(loadgen.churn_rows(n, seed=9), batch=1, limit=n)
    frames = [parse_payload(b) for b in bodies]
    for f in frames[:50]:
        model.predict(f)
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    url = f"{client.base_url}/endpoints/{EP}/score"
    pinned = {"azureml-model-deployment": "blue"}
    for body in bodies[:50]:
        session.post(url, data=body, headers=pinned).raise_for_status()
    # interleaved, so a busy machine slows all four measurements alike
    direct, direct_parse, via, floor = [], [], [], []
    for body, frame in zip(bodies, frames, strict=True):
        t = time.perf_counter()
        model.predict(frame)
        direct.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        model.predict(parse_payload(body))
        direct_parse.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        r = session.post(url, data=body, headers=pinned)
        via.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
        t = time.perf_counter()
        session.get(f"{client.base_url}/health").raise_for_status()
        floor.append((time.perf_counter() - t) * 1000)
    d, dp, v = _pct(direct), _pct(direct_parse), _pct(via)
    return {
        "direct_model": d,
        "direct_model_with_payload_parse": dp,
        "endpoint": v,
        "http_floor_get_health": _pct(floor),
        "added_p50_ms": round(v["p50_ms"] - d["p50_ms"], 3),
        "added_p99_ms": round(v["p99_ms"] - d["p99_ms"], 3),
        "ratio_p50": round(v["p50_ms"] / d["p50_ms"], 2),
        "note": "sequential one-row requests over keep-alive HTTP (python requests client) on loopback",
    }


def rollback_latency(client: LocalEndpoints, db: Path, rps: float, trials: int) -> dict[str, Any]:
    url = f"{client.base_url}/endpoints/{EP}/score"
    runs = []
    for _ in range(trials):
        client.set_traffic(EP, {"blue": 90, "green": 10}, {})
        with loadgen.LoadGenerator(url, KEY, rps=rps, seconds=3.0) as load:
            time.sleep(1.5)
            t0 = time.time()
            client.set_traffic(EP, {"blue": 100, "green": 0})
            t1 = time.time()
            result = load.wait()
        green = [r for r in result.responses if r.deployment == "green"]
        after_return = [r for r in green if r.sent_at > t1]
        client.flush_telemetry()
        with sqlite3.connect(db) as conn:
            (last_logged,) = conn.execute(
                "SELECT MAX(TimeGenerated) FROM AmlOnlineEndpointTrafficLog "
                "WHERE EndpointName = ? AND DeploymentName = 'green' AND IsMirrored = 0",
                (EP,),
            ).fetchone()
        from datetime import datetime

        last_logged_ts = datetime.fromisoformat(last_logged.replace("Z", "+00:00")).timestamp()
        last_green = max(r.done_at for r in green) if green else t0
        runs.append(
            {
                "set_traffic_call_ms": round((t1 - t0) * 1000, 2),
                "drain_ms": round(max(0.0, last_green - t0) * 1000, 2),
                "drain_logged_ms": round(max(0.0, last_logged_ts - t0) * 1000, 2),
                "green_requests_sent_after_call_returned": len(after_return),
                "errors": result.errors,
                "requests": result.sent,
                "achieved_rps": result.summary()["achieved_rps"],
                **{f"latency_{k}": v for k, v in result.percentiles().items()},
            }
        )
    return {
        "trials": runs,
        "rps": rps,
        "median_switch_ms": round(statistics.median(r["set_traffic_call_ms"] for r in runs), 2),
        "max_switch_ms": max(r["set_traffic_call_ms"] for r in runs),
        "median_drain_ms": round(statistics.median(r["drain_ms"] for r in runs), 2),
        "max_drain_ms": max(r["drain_ms"] for r in runs),
        "green_requests_after_rollback_returned": sum(
            r["green_requests_sent_after_call_returned"] for r in runs
        ),
        "errors": sum(r["errors"] for r in runs),
    }


def measure(requests_n: int = 1000, rollbacks: int = 5, rps: float = 100) -> dict[str, Any]:
    """Start a server on a free port, deploy two churn models, measure both figures, stop it."""
    with tempfile.TemporaryDirectory(prefix="bench-endpoint-") as tmp:
        root = Path(tmp)
        blue, green = _train(root / "models")
        port = procs.free_port()
        argv = procs.python_argv(
            "-m", "standins.endpoint.server", "--port", str(port), "--db", str(root / "traffic.db"),
            "--state-dir", str(root / "state"),
        )  # fmt: skip
        proc = procs.start(
            "endpoints",
            argv,
            port,
            log_path=root / "server.log",
            env={"LOCAL_ENDPOINT_KEY": KEY},
            cwd=REPO_ROOT,
            timeout=90,
        )
        try:
            client = LocalEndpoints(f"http://127.0.0.1:{port}", KEY)
            client.ensure_endpoint(EP)
            client.begin_deploy(EP, "blue", ModelVersion("churn", "1", str(blue)))
            client.begin_deploy(EP, "green", ModelVersion("churn", "2", str(green)))
            deadline = time.monotonic() + 120
            while {client.deployment(EP, d).state for d in ("blue", "green")} != {"succeeded"}:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"deployments did not succeed: {client.get(EP).deployments}")
                time.sleep(0.2)
            client.set_traffic(EP, {"blue": 100, "green": 0})
            return {
                "router_latency": router_latency(client, blue, requests_n),
                "rollback_latency": rollback_latency(client, root / "traffic.db", rps, rollbacks),
            }
        finally:
            proc.stop()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rollbacks", type=int, default=5)
    parser.add_argument("--rps", type=float, default=100)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results = measure(args.requests, args.rollbacks, args.rps)
    r, b = results["router_latency"], results["rollback_latency"]
    print("\nlocal endpoint router, same churn model, one-row requests")
    print(f"{'':<34}{'p50 ms':>10}{'p99 ms':>10}")
    for label, key in (
        ("direct pyfunc predict", "direct_model"),
        ("direct, with payload parse", "direct_model_with_payload_parse"),
        ("through the endpoint (HTTP)", "endpoint"),
        ("HTTP floor (GET /health)", "http_floor_get_health"),
    ):
        print(f"{label:<34}{r[key]['p50_ms']:>10.3f}{r[key]['p99_ms']:>10.3f}")
    print(
        f"{'added by the router':<34}{r['added_p50_ms']:>10.3f}{r['added_p99_ms']:>10.3f}  (x{r['ratio_p50']} at p50)"
    )
    print(
        f"\nrollback under {b['rps']:.0f} rps (90/10 -> 100/0), {len(b['trials'])} trials: "
        f"switch (set_traffic call) {b['median_switch_ms']} ms median, max {b['max_switch_ms']}; "
        f"in-flight green drained {b['median_drain_ms']} ms median, max {b['max_drain_ms']}; "
        "green requests after the switch: "
        f"{b['green_requests_after_rollback_returned']}, errors: {b['errors']}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
