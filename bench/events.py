"""Event storm: 10,000 BlobCreated deliveries for 20 models (10% redeliveries) to the local
Event Grid webhook of a real devhost running this app, as fast as it takes them.

    python -m bench.events [--events 10000] [--models 20] [--duplicates 0.1] [--concurrency 32]
                           [--baseline COMMIT | --no-baseline] [--contract PATH | none]

Prints events/s, p50/p99 response time, and the lifecycles started, which must equal the number
of models: the storm falls inside each model's debounce window, so every model's requests are
coalesced into one run. The lifecycle is a dry run (LIFECYCLE_DRY_RUN=true: the coordinator runs
`lifecycle_dry_run`, which records the run and its requests and trains nothing), so the figures
are those of the event edge: webhook, parsing, the data-file check against each policy's contract
(the churn sample's; `--contract none` measures a contract that does not load), dedupe, ledger,
coordinators. Then it checks that no request was lost: every distinct blob write is one request,
consumed by its model's run.
Writes bench/results/events.json.

Beside ours it runs the previous release (PREVIOUS_RELEASE, the landing before the hardening round
of issue 11) on the same machine, just before ours: that commit's tree is exported with
`git archive` into a temporary directory and its own `bench.events` runs there, on its own
devhost (PYTHONPATH), so both figures come from the same hour and load. `--no-baseline` skips it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from devhost import procs
from devstack import REPO_ROOT

RESULTS = Path(__file__).resolve().parent / "results" / "events.json"
# The previous release: 1d28f35 "Merge branch 'batch-registry'", the landing before issue 11's
# hardening merge (1520249); 683 events/s, p99 106 ms on the machine where issue 17 was filed.
PREVIOUS_RELEASE = "1d28f3585901e01159ca7a1f067f01497167571e"
MASTER_KEY = "bench-events-master-key"
SAMPLE_CONTRACT = REPO_ROOT / "samples" / "churn" / "contract.yaml"
STORAGE_PORT = 10000  # only used to form blob URLs (nothing is fetched)


# --------------------------------------------------------------------------- the stack


def write_policies(
    root: Path,
    models: list[str],
    *,
    debounce_seconds: int,
    budget: int = 100,
    deploy_only: tuple[str, ...] = (),
    contract: Path | None = None,
) -> Path:
    """One minimal, valid policy per model (the files it names exist; a dry run never reads them;
    the data contract, which the edge reads to tell data files from markers, is a copy of `contract`
    or else a placeholder that does not load), and a deploy-only policy per name in `deploy_only`
    (deploying `{name}` from the registry `shared`)."""
    for name in deploy_only:
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        (d / "policy.yaml").write_text(
            f"model: {name}\n"
            f"source: {{registry: shared, registry_model: {name}, accept_sources: [/mllifecycle/envs/dev/models/{name}]}}\n"
            f"rollout: {{enabled: true, endpoint: {name}-endpoint}}\n",
            encoding="utf-8",
        )
    for model in models:
        d = root / model
        (d / "jobs").mkdir(parents=True, exist_ok=True)
        placeholder = "# placeholder for the event benchmark\n"
        for name in ("jobs/train.yml", "jobs/evaluate.yml"):
            (d / name).write_text(placeholder, encoding="utf-8")
        contract_text = contract.read_text(encoding="utf-8") if contract is not None else placeholder
        (d / "contract.yaml").write_text(contract_text, encoding="utf-8")
        (d / "policy.yaml").write_text(
            f"model: {model}\n"
            f"data: {{container: raw, prefix: {model}/, contract: contract.yaml}}\n"
            f"training: {{job: jobs/train.yml, evaluation_job: jobs/evaluate.yml, experiment: {model}}}\n"
            f"triggers: {{blob_prefixes: [{model}/], alert_rules: [{model}-drift], debounce_seconds: {debounce_seconds}}}\n"
            f"budget: {{max_trainings_per_day: {budget}}}\n",
            encoding="utf-8",
        )
    return root


@dataclass
class EdgeHost:
    proc: procs.Proc
    base_url: str
    key: str
    state_dir: Path
    ledger_path: Path
    log_path: Path

    @property
    def webhook(self) -> str:
        return f"{self.base_url}/runtime/webhooks/eventgrid?functionName=on_blob_created&code={self.key}"

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]

    @property
    def durable_key(self) -> str:
        import json

        keys = self.state_dir / "devhost" / "keys.json"
        return json.loads(keys.read_text())["durabletask_extension"] if keys.exists() else self.key

    def ledger(self) -> Any:
        from adapters.local.ledger import SqliteRunLedger

        return SqliteRunLedger(self.ledger_path)


@contextlib.contextmanager
def edge_devhost(
    workdir: Path,
    models: list[str],
    *,
    debounce_seconds: int,
    dry_run_seconds: int = 0,
    budget: int = 100,
    storage_connection_string: str | None = None,
    watch_blobs: bool = False,
    deploy_only: tuple[str, ...] = (),
    extra_env: dict[str, str] | None = None,
    contract: Path | None = None,
) -> Iterator[EdgeHost]:
    """devhost on a free loopback port, running this app with generated policies and a dry-run
    lifecycle; stopped by its PID on exit."""
    policies = write_policies(
        workdir / "policies",
        models,
        debounce_seconds=debounce_seconds,
        budget=budget,
        deploy_only=deploy_only,
        contract=contract,
    )
    state = workdir / "state"
    state.mkdir(parents=True, exist_ok=True)
    port = procs.free_port()
    env = {
        "LIFECYCLE_MODE": "local",
        "LIFECYCLE_POLICY_DIR": str(policies),
        "LOCAL_STATE_DIR": str(state),
        "LEDGER_PATH": str(state / "ledger.db"),
        "STORAGE_CONNECTION_STRING": storage_connection_string
        or procs.azurite_connection_string(STORAGE_PORT),
        "LIFECYCLE_DRY_RUN": "true",
        "LIFECYCLE_DRY_RUN_SECONDS": str(dry_run_seconds),
        "DEVHOST_LOG_LEVEL": "WARNING",
    }
    # devhost's blob watcher posts BlobCreated for new blobs in `raw` (off unless asked, whatever
    # a local.settings.json says)
    env["DEVHOST_WATCH_BLOBS"] = "STORAGE_CONNECTION_STRING" if watch_blobs else ""
    env["DEVHOST_WATCH_CONTAINERS"] = "raw"
    argv = procs.python_argv(
        "-m", "devhost", "start", str(REPO_ROOT), "--port", str(port),
        "--state-dir", str(state / "devhost"),
    )  # fmt: skip
    env["FUNCTIONS_MASTER_KEY"] = MASTER_KEY
    env.update(extra_env or {})
    log_path = workdir / "devhost.log"
    proc = procs.start("devhost", argv, port, log_path=log_path, env=env, cwd=REPO_ROOT, timeout=90)
    host = EdgeHost(proc, f"http://127.0.0.1:{port}", MASTER_KEY, state, state / "ledger.db", log_path)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{host.base_url}/admin/host/status", timeout=2).status_code == 200:
                    break
            time.sleep(0.1)
        yield host
    finally:
        proc.stop()


# --------------------------------------------------------------------------- events


def blob_url(container: str, path: str) -> str:
    return f"http://127.0.0.1:{STORAGE_PORT}/{procs.AZURITE_ACCOUNT}/{container}/{path}"


def blob_created(
    model: str, n: int, *, event_id: str | None = None, etag: str | None = None
) -> dict[str, Any]:
    path = f"{model}/storm/part-{n:05d}.csv"
    return {
        "id": event_id or str(uuid.uuid4()),
        "topic": f"/subscriptions/local/resourceGroups/local/providers/Microsoft.Storage/storageAccounts/{procs.AZURITE_ACCOUNT}",
        "subject": f"/blobServices/default/containers/raw/blobs/{path}",
        "eventType": "Microsoft.Storage.BlobCreated",
        "eventTime": "2024-05-01T12:00:00Z",
        "dataVersion": "",
        "metadataVersion": "1",
        "data": {
            "api": "PutBlob",
            "url": blob_url("raw", path),
            "eTag": etag or f"0x8DC{n:08X}",
            "contentLength": 2048,
            "contentType": "text/csv",
            "blobType": "BlockBlob",
            "sequencer": f"{n:032d}",
        },
    }


def storm(events: int, models: list[str], duplicates: float, seed: int = 7) -> tuple[list[dict], int]:
    """-> (deliveries in send order, number of distinct blob writes). A duplicate is an Event
    Grid redelivery: the same event again, later in the stream."""
    rng = random.Random(seed)
    n_dup = int(events * duplicates)
    originals = [blob_created(models[i % len(models)], i) for i in range(events - n_dup)]
    rng.shuffle(originals)
    out = list(originals)
    for _ in range(n_dup):
        at = rng.randrange(1, len(out) + 1)
        out.insert(at, rng.choice(out[:at]))
    return out, len(originals)


async def deliver_all(
    url: str, deliveries: list[dict], concurrency: int
) -> tuple[list[float], dict[int, int], float]:
    import aiohttp

    latencies: list[float] = []
    codes: dict[int, int] = {}
    queue: asyncio.Queue[dict] = asyncio.Queue()
    for d in deliveries:
        queue.put_nowait(d)
    headers = {"aeg-event-type": "Notification", "content-type": "application/json"}

    async def worker(session: aiohttp.ClientSession) -> None:
        while True:
            try:
                event = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            body = json.dumps([event])
            for attempt in range(5):  # Event Grid retries failed deliveries
                t0 = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    latencies.append(time.perf_counter() - t0)
                    codes[response.status] = codes.get(response.status, 0) + 1
                    if response.status < 500:
                        break
                await asyncio.sleep(0.05 * (attempt + 1))

    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return latencies, codes, time.perf_counter() - started


def lifecycles_started(host: EdgeHost) -> list[dict]:
    url = f"{host.base_url}/runtime/webhooks/durabletask/instances"
    response = requests.get(url, params={"code": host.durable_key, "top": 1000}, timeout=30)
    response.raise_for_status()
    return [i for i in response.json() if i.get("name") in ("lifecycle", "lifecycle_dry_run")]


def settle(host: EdgeHost, models: list[str], timeout: float) -> dict[str, Any]:
    """Wait until no request is pending and every coordinator is idle; -> the ledger's account."""
    ledger = host.ledger()
    deadline = time.monotonic() + timeout
    while True:
        pending = {m: len(ledger.pending_requests(m)) for m in models}
        runs = {m: ledger.list_runs(model=m, limit=1000) for m in models}
        if not any(pending.values()) and all(runs.values()):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"requests still pending after {timeout:.0f}s: {pending}\n{host.log_tail()}")
        time.sleep(0.5)
    consumed = {m: sum(len(ledger.requests_for_run(r.run_id)) for r in runs[m]) for m in models}
    return {"runs": {m: len(r) for m, r in runs.items()}, "consumed": consumed, "pending": pending}


def run_release(commit: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any] | None:
    """bench.events of another commit, from an exported tree (no checkout of ours is touched);
    -> its result, or None (with the reason printed) when it cannot run."""
    import subprocess

    tree = workdir / "tree"
    tree.mkdir()
    try:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", commit],
            cwd=REPO_ROOT,
            capture_output=True,
            check=True,
            timeout=120,
        )
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"previous release {commit[:10]}: cannot export its tree ({exc}); run without it")
        return None
    out = workdir / "events.json"
    argv = [
        sys.executable, "-m", "bench.events", "--events", str(args.events), "--models", str(args.models),
        "--duplicates", str(args.duplicates), "--concurrency", str(args.concurrency),
        "--debounce", str(args.debounce), "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), str(tree / "devhost" / "src")])}
    done = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True, timeout=1800)
    if not out.exists():
        print(f"previous release {commit[:10]} did not run:\n{(done.stdout + done.stderr)[-2000:]}")
        return None
    return json.loads(out.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--duplicates", type=float, default=0.10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--debounce", type=int, default=30, help="policy debounce_seconds (the storm must fit in 10 windows)"
    )
    parser.add_argument(
        "--contract", type=Path, default=SAMPLE_CONTRACT,
        help="the data contract each model's policy names (default: the churn sample's; 'none': a placeholder that does not load)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--baseline", default=PREVIOUS_RELEASE, help="commit whose bench.events runs first")
    parser.add_argument("--no-baseline", action="store_true", help="run ours only")
    args = parser.parse_args(argv)

    baseline = None
    if not args.no_baseline:
        with tempfile.TemporaryDirectory(prefix="bench-events-release-") as tmp:
            print(f"previous release {args.baseline[:10]} first, on the same machine ...")
            baseline = run_release(args.baseline, args, Path(tmp))

    models = [f"model-{i:02d}" for i in range(args.models)]
    deliveries, distinct = storm(args.events, models, args.duplicates)
    with (
        tempfile.TemporaryDirectory(prefix="bench-events-") as tmp,
        edge_devhost(
            Path(tmp),
            models,
            debounce_seconds=args.debounce,
            contract=None if str(args.contract) == "none" else args.contract,
        ) as host,
    ):
        print(
            f"devhost on {host.base_url}; {len(deliveries)} deliveries, {distinct} distinct writes, "
            f"{len(models)} models, concurrency {args.concurrency}"
        )
        latencies, codes, seconds = asyncio.run(deliver_all(host.webhook, deliveries, args.concurrency))
        print(f"storm delivered in {seconds:.1f}s; waiting for the debounce window and the runs ...")
        account = settle(host, models, timeout=args.debounce * 10 + 300)
        time.sleep(1.0)
        started = lifecycles_started(host)

    lat_ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(lat_ms, n=100) if len(lat_ms) > 1 else [lat_ms[0]] * 99
    consumed_total = sum(account["consumed"].values())
    result = {
        "events": len(deliveries),
        "distinct_writes": distinct,
        "duplicates": len(deliveries) - distinct,
        "models": len(models),
        "concurrency": args.concurrency,
        "contract": str(args.contract),
        "debounce_seconds": args.debounce,
        "seconds": round(seconds, 3),
        "events_per_second": round(len(deliveries) / seconds, 1),
        "p50_ms": round(q[49], 2),
        "p99_ms": round(q[98], 2),
        "max_ms": round(lat_ms[-1], 2),
        "status_codes": {str(k): v for k, v in sorted(codes.items())},
        "lifecycles_started": len(started),
        "runs_per_model": account["runs"],
        "requests_consumed": consumed_total,
        "requests_pending": sum(account["pending"].values()),
        "lifecycle": "dry run (LIFECYCLE_DRY_RUN=true: lifecycle_dry_run records the run; nothing trains)",
    }
    if baseline is not None:
        result["previous_release"] = {
            "commit": args.baseline,
            **{k: baseline.get(k) for k in ("events_per_second", "p50_ms", "p99_ms", "max_ms", "ok")},
        }
        result["speedup"] = round(result["events_per_second"] / baseline["events_per_second"], 2)
    result["ok"] = (
        result["lifecycles_started"] == len(models)
        and consumed_total == distinct
        and result["requests_pending"] == 0
        and set(codes) <= {200, 202}
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        f"{result['events_per_second']:.0f} events/s, p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms; "
        f"lifecycles started {result['lifecycles_started']} for {len(models)} models; "
        f"requests consumed {consumed_total} of {distinct} distinct writes; "
        f"status codes {result['status_codes']}; {'OK' if result['ok'] else 'NOT OK'} -> {args.out}"
    )
    if baseline is not None:
        print(
            f"previous release {args.baseline[:10]}: {baseline['events_per_second']:.0f} events/s, "
            f"p50 {baseline['p50_ms']:.1f} ms, p99 {baseline['p99_ms']:.1f} ms -> ours x{result['speedup']} throughput"
        )
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
