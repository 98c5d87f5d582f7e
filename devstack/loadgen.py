"""Load and fault generator for the local online endpoint: realistic churn scoring traffic.

    python -m devstack.loadgen --endpoint http://127.0.0.1:8501/endpoints/churn/score --key K \\
        --rps 50 --seconds 30 [--data eval.parquet|csv] [--fault green:error_rate=0.05,extra_latency_ms=40]

Requests are sent open-loop at a fixed rate (a slow deployment does not slow the sender down,
as with real clients), bounded in time and count, to loopback only. Rows come from `--data`,
else from the churn sample's generator (samples/churn/data.py), encoded with the model's feature
encoding so the churn model's signature accepts them; else generic numeric rows.

Each churn row carries its entity id column (`customer_id`, `--entity-column`) beside the
features, as a real client's request would: the model ignores it (MLflow's schema enforcement
keeps the signature's columns and drops the rest, with a warning), the endpoint's prediction log
records it, and the generator keeps which ids each deployment answered, so delayed labels can be
produced for exactly the customers that were scored. As a library:

    with LoadGenerator(url, key, rps=50, seconds=30) as load:
        ...                      # change traffic, inject faults, switch(bodies) to new customers
    print(load.result().summary(), load.result().scored("green"))
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
ENTITY_COLUMN = "customer_id"  # the churn sample's entity id (samples/churn/features.py ID_COLUMNS)
ROLLOUT_CHECK_SECONDS = 1.0  # how often a `rollouts_only` load reads the endpoint's deployments


@dataclass(frozen=True)
class Response:
    sent_at: float  # time.time() when the request was sent
    done_at: float  # time.time() when the answer arrived
    latency_ms: float
    status: int  # 0: connection error or client timeout
    deployment: str  # response header azureml-model-deployment ('' if none)
    entities: tuple[str, ...] = ()  # the entity ids of the request's rows (none without an id column)


@dataclass
class LoadResult:
    responses: list[Response] = field(default_factory=list)
    started_at: float = 0.0
    finished_at: float = 0.0
    sent: int = 0

    @property
    def ok(self) -> int:
        return sum(1 for r in self.responses if r.status == 200)

    @property
    def errors(self) -> int:
        return sum(1 for r in self.responses if r.status != 200)

    def by_status(self) -> dict[str, int]:
        return {str(k): v for k, v in sorted(Counter(r.status for r in self.responses).items())}

    def by_deployment(self) -> dict[str, int]:
        return dict(sorted(Counter(r.deployment for r in self.responses).items()))

    def scored(self, deployment: str | None = None, since: float = 0.0) -> set[str]:
        """The entity ids answered (200) by `deployment` (any, if None) in requests sent at or after `since`."""
        return {
            entity
            for r in self.responses
            if r.status == 200 and r.sent_at >= since and (deployment is None or r.deployment == deployment)
            for entity in r.entities
        }

    def percentiles(self, only_ok: bool = True) -> dict[str, float | None]:
        lat = [r.latency_ms for r in self.responses if r.status == 200 or not only_ok]
        if not lat:
            return {"p50_ms": None, "p95_ms": None, "p99_ms": None}
        p50, p95, p99 = np.percentile(lat, [50, 95, 99])
        return {
            "p50_ms": round(float(p50), 2),
            "p95_ms": round(float(p95), 2),
            "p99_ms": round(float(p99), 2),
        }

    def summary(self) -> dict[str, Any]:
        seconds = max(self.finished_at - self.started_at, 1e-9)
        return {
            "sent": self.sent,
            "answered": len(self.responses),
            "ok": self.ok,
            "errors": self.errors,
            "by_status": self.by_status(),
            "by_deployment": self.by_deployment(),
            "seconds": round(seconds, 2),
            "achieved_rps": round(self.sent / seconds, 1),
            **self.percentiles(),
        }


# ---------------------------------------------------------------------------- rows


def churn_rows(n: int = 500, seed: int = 7, *, entity_column: str | None = None) -> pd.DataFrame:
    """Feature rows the churn model accepts: generated customers, encoded as in training (with
    their id column first if `entity_column` is given)."""
    try:
        from samples.churn.data import generate
    except ImportError:
        rng = np.random.default_rng(seed)
        return pd.DataFrame(rng.normal(size=(n, 4)), columns=[f"x{i}" for i in range(4)])
    return scoring_rows(generate(rows=n, seed=seed), entity_column)


def scoring_rows(customers: pd.DataFrame, entity_column: str | None = ENTITY_COLUMN) -> pd.DataFrame:
    """Raw churn customers -> what a client sends: the id column (if named) and the encoded features."""
    from samples.churn.features import to_features

    features = to_features(customers)
    if entity_column is None:
        return features
    if entity_column not in customers.columns:
        raise ValueError(
            f"the customers have no entity id column {entity_column!r}: {list(customers.columns)}"
        )
    features.insert(0, entity_column, customers[entity_column].astype(str).to_numpy())
    return features


def rows_from_file(path: Path, entity_column: str | None = None) -> pd.DataFrame:
    frame = pd.read_parquet(path) if path.suffix in (".parquet", ".pq") else pd.read_csv(path)
    try:
        return scoring_rows(frame, entity_column if entity_column in frame.columns else None)
    except (ImportError, ValueError):
        return frame.drop(
            columns=[c for c in ("churned", "label", "target", "customer_id") if c in frame.columns]
        )


def payloads(frame: pd.DataFrame, batch: int = 1, limit: int = 2000) -> list[bytes]:
    """Pre-serialised AML MLflow payloads of `batch` rows each (serialising is not the load we measure)."""
    frame = frame.reset_index(drop=True)
    columns = [str(c) for c in frame.columns]
    values = frame.to_numpy(dtype=object).tolist()
    out = []
    for start in range(0, min(len(values), limit * batch), batch):
        chunk = values[start : start + batch]
        if len(chunk) < batch:
            break
        index = list(range(start, start + len(chunk)))
        out.append(json.dumps({"input_data": {"columns": columns, "index": index, "data": chunk}}).encode())
    if not out:
        raise ValueError(f"need at least {batch} rows to build a payload, got {len(values)}")
    return out


def entities_of(body: bytes, column: str | None) -> tuple[str, ...]:
    """The values of the entity id column in a payload built by `payloads` (none without that column)."""
    if column is None:
        return ()
    split = json.loads(body)["input_data"]
    if column not in split["columns"]:
        return ()
    at = split["columns"].index(column)
    return tuple(str(row[at]) for row in split["data"])


# ---------------------------------------------------------------------------- generator


def check_loopback(url: str) -> None:
    host = urlparse(url).hostname
    if host not in LOOPBACK:
        raise ValueError(f"the load generator only targets loopback endpoints (127.0.0.1), not {host!r}")


class LoadGenerator:
    """Open-loop traffic at `rps` for at most `seconds` and `max_requests`, in a background thread."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        rps: float = 50,
        seconds: float = 30,
        max_requests: int | None = None,
        bodies: list[bytes] | None = None,
        deployment: str | None = None,
        max_in_flight: int = 64,
        timeout: float = 10.0,
        entity_column: str | None = ENTITY_COLUMN,
        rollouts_only: bool = False,
    ) -> None:
        """`rollouts_only`: send only while a rollout is under way on the endpoint, i.e. while it holds a second
        deployment beside the serving one (from green's deploy, before its smoke test and first split, until the
        retired one is deleted), read from the endpoint server every ROLLOUT_CHECK_SECONDS: each ramp then starts
        under steady load, as with live clients, and between rollouts a test's stack spends no CPU on scoring
        that no gate judges."""
        check_loopback(url)
        if rps <= 0 or seconds <= 0:
            raise ValueError("rps and seconds must be positive")
        self.url = url
        self.key = key
        self.rps = rps
        self.seconds = seconds
        self.max_requests = max_requests if max_requests is not None else int(rps * seconds) + 1
        self.entity_column = entity_column
        self.deployment = deployment
        self.max_in_flight = max_in_flight
        self.timeout = timeout
        self.rollouts_only = rollouts_only
        self._result = LoadResult()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._bodies: list[tuple[bytes, tuple[str, ...]]] = []
        self.switch(bodies or payloads(churn_rows(entity_column=entity_column)))

    @property
    def bodies(self) -> list[bytes]:
        with self._lock:
            return [body for body, _ in self._bodies]

    def switch(self, bodies: list[bytes]) -> None:
        """Send these bodies from the next request on (new customers arrive; also while running)."""
        if not bodies:
            raise ValueError("switch needs at least one body")
        parsed = [(body, entities_of(body, self.entity_column)) for body in bodies]
        with self._lock:
            self._bodies = parsed

    def _body(self, i: int) -> tuple[bytes, tuple[str, ...]]:
        with self._lock:
            return self._bodies[i % len(self._bodies)]

    def start(self) -> LoadGenerator:
        if self._thread is not None:
            raise RuntimeError("a LoadGenerator runs once; create another for a new run")
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="loadgen", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> LoadResult:
        """Stop sending, wait for the answers in flight, return the result."""
        self._stop.set()
        return self.wait()

    def wait(self, timeout: float | None = None) -> LoadResult:
        if self._thread is not None:
            self._thread.join(timeout if timeout is not None else self.seconds + self.timeout + 5)
        return self.result()

    def result(self) -> LoadResult:
        """A snapshot, also while running."""
        with self._lock:
            r = self._result
            return LoadResult(list(r.responses), r.started_at, r.finished_at or time.time(), r.sent)

    def __enter__(self) -> LoadGenerator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _run(self) -> None:
        import aiohttp

        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        if self.deployment:
            headers["azureml-model-deployment"] = self.deployment
        prefix = uuid.uuid4().hex[:8]
        gate = asyncio.Semaphore(self.max_in_flight)
        tasks: set[asyncio.Task] = set()
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        connector = aiohttp.TCPConnector(limit=self.max_in_flight)
        async with aiohttp.ClientSession(headers=headers, timeout=timeout, connector=connector) as session:

            async def one(i: int, body: bytes, entities: tuple[str, ...]) -> None:
                sent = time.time()
                t = time.perf_counter()
                status, deployment = 0, ""
                try:
                    async with session.post(
                        self.url, data=body, headers={"x-ms-client-request-id": f"loadgen-{prefix}-{i}"}
                    ) as resp:
                        await resp.read()
                        status, deployment = resp.status, resp.headers.get("azureml-model-deployment", "")
                except (aiohttp.ClientError, TimeoutError):
                    pass
                finally:
                    gate.release()
                latency = (time.perf_counter() - t) * 1000
                with self._lock:
                    self._result.responses.append(
                        Response(sent, time.time(), latency, status, deployment, entities)
                    )

            start = time.perf_counter()
            with self._lock:
                self._result.started_at = time.time()
            phase, k, check_at = start, 0, start  # open-loop from `phase` on; after a pause a new phase
            for i in range(self.max_requests):
                due = phase + k / self.rps
                if self._stop.is_set() or due - start >= self.seconds:
                    break
                if self.rollouts_only and due >= check_at:
                    while not self._stop.is_set() and not await self._in_rollout(session):
                        await asyncio.sleep(ROLLOUT_CHECK_SECONDS)
                        phase, k = time.perf_counter(), 0
                    due = phase + k / self.rps
                    check_at = due + ROLLOUT_CHECK_SECONDS
                    if self._stop.is_set():
                        break
                k += 1
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                await gate.acquire()
                task = asyncio.create_task(one(i, *self._body(i)))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                with self._lock:
                    self._result.sent += 1
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
        with self._lock:
            self._result.finished_at = time.time()

    async def _in_rollout(self, session: Any) -> bool:
        """Whether the endpoint holds more than one deployment or mirrors traffic now (GET on the endpoint
        server's control plane, as LocalEndpoints.get reads it); an endpoint not there yet has no rollout, an
        answer we cannot read counts as one."""
        import aiohttp

        try:
            async with session.get(self.url.removesuffix("/score")) as resp:
                if resp.status == 404:
                    return False
                endpoint = await resp.json() if resp.status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return True
        if not isinstance(endpoint, dict):
            return True
        deployments = endpoint.get("deployments") or {}
        return len(deployments) >= 2 or any((endpoint.get("mirror_traffic") or {}).values())


def run(url: str, key: str, **kwargs: Any) -> LoadResult:
    """Blocking: send the whole load, return the result."""
    return LoadGenerator(url, key, **kwargs).start().wait()


# ---------------------------------------------------------------------------- CLI


def _apply_fault(url: str, key: str, spec: str) -> None:
    """`deployment:error_rate=0.05,extra_latency_ms=40` against the endpoint of a scoring URL."""
    from adapters.local.endpoints import LocalEndpoints

    parsed = urlparse(url)
    parts = parsed.path.strip("/").split("/")
    if len(parts) < 3 or parts[0] != "endpoints":
        raise SystemExit("--fault needs the scoring URL form http://127.0.0.1:PORT/endpoints/NAME/score")
    deployment, _, settings = spec.partition(":")
    values = {k.strip(): float(v) for k, v in (kv.split("=", 1) for kv in settings.split(",") if kv)}
    if "error_status" in values:
        values["error_status"] = int(values["error_status"])
    LocalEndpoints(f"{parsed.scheme}://{parsed.netloc}", key).set_faults(parts[1], deployment, **values)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.loadgen", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--endpoint", required=True, help="scoring URL, e.g. http://127.0.0.1:8501/endpoints/churn/score"
    )
    parser.add_argument("--key", required=True)
    parser.add_argument("--rps", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--max-requests", type=int, default=None)
    parser.add_argument("--batch", type=int, default=1, help="rows per request")
    parser.add_argument(
        "--data", type=Path, default=None, help="parquet or csv rows (default: the churn generator)"
    )
    parser.add_argument(
        "--deployment", default=None, help="pin every request (header azureml-model-deployment)"
    )
    parser.add_argument(
        "--entity-column",
        default=ENTITY_COLUMN,
        help="send this id column with each row (the endpoint's prediction log records it); '' for none",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        help="before sending: DEPLOYMENT:error_rate=0.05,extra_latency_ms=40,jitter_ms=5 (repeatable)",
    )
    args = parser.parse_args(argv)
    check_loopback(args.endpoint)
    for spec in args.fault:
        _apply_fault(args.endpoint, args.key, spec)
    entity_column = args.entity_column or None
    frame = rows_from_file(args.data, entity_column) if args.data else churn_rows(entity_column=entity_column)
    result = run(
        args.endpoint,
        args.key,
        rps=args.rps,
        seconds=args.seconds,
        max_requests=args.max_requests,
        bodies=payloads(frame, batch=args.batch),
        deployment=args.deployment,
        entity_column=entity_column,
    )
    print(json.dumps(result.summary(), indent=2))
    return 0 if result.sent else 1


if __name__ == "__main__":
    raise SystemExit(main())
