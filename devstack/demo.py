"""`make demo`: the whole product on the local stack, driven only through its real edges.

    python -m devstack.demo [--state-dir .local/demo] [--rps 50]

Starts Azurite, the local endpoint server and devhost with this app (free ports, a fresh state
dir, the compressed policies in samples/churn/demo: dev, and prod deploying what dev shares into
a registry), then plays its scenarios the way users and Azure would: CSV uploads to Azurite
(devhost's blob watcher turns them into BlobCreated events for `on_blob_created`), live customers who
drift (the drift monitor sees it and the stand-in of Azure Monitor log alerts posts the alert), an operator approving a ramp through the operator API, and delayed
ground truth landing as label files under the policy's labels prefix. A load generator scores
customers (with their customer_id) against the endpoint whenever a model serves, so the rollout
gates judge real traffic and real predictions. The demo only watches and checks; the service decides.

Writes .local/demo-report.json and exits 0 only if every scenario ended as expected. Everything
it started is stopped by PID on exit, Ctrl-C or failure (the logs stay in the state dir).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from devhost import procs
from devstack import REPO_ROOT
from devstack.stack import Stack, promoted_events, promotion_env, running_stack

MODEL = "churn"
ENDPOINT = "churn-endpoint"  # samples/churn/demo/policy.yaml rollout.endpoint
POLICY_DIR = REPO_ROOT / "samples" / "churn" / "demo"  # dev's policy.yaml and prod/policy.yaml
PROD_MODEL = "churn-prod"  # samples/churn/demo/prod/policy.yaml: deploy-only, from the shared registry
PROD_ENDPOINT = "churn-prod-endpoint"
DEV_SOURCE = f"/mllifecycle/envs/dev/models/{MODEL}"  # LIFECYCLE_ENVIRONMENT=dev (promotion_env)
REGISTRY = "mllifecycle-shared"  # both policies name it (dev: promotion.registry, prod: source.registry)
DEFAULT_STATE = REPO_ROOT / ".local" / "demo"
TERMINAL = {"Completed", "Failed", "Terminated", "Canceled"}
ROWS = 1500
FIRST_SEED = 11  # first-model's upload: the customers the first champion's feature set version holds
CUSTOMERS = 2000  # live customers the load generator cycles through (one population per labelled scenario)
LABEL_WAVE_SECONDS = 4.0  # while the rollout waits for labels, a label file this often

console = Console(log_path=False)


@dataclass
class Outcome:
    name: str
    expected: str
    outcome: str = "not run"
    ok: bool = False
    seconds: float = 0.0


class DemoError(RuntimeError):
    """A scenario could not go on; the message says what was seen."""


# --------------------------------------------------------------------------- the service's edges


class Api:
    """The operator API and the alert webhook, with the host's master key (function-key auth)."""

    def __init__(self, stack: Stack) -> None:
        self.base = stack.devhost_url
        self.key = stack.master_key

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        # 90 s: the first model view pays MLflow's cold start (import, registry tables) and the feature
        # store's first connection, which took 33 s on a loaded 2-core machine
        r = requests.get(f"{self.base}/api/{path}", params={"code": self.key, **params}, timeout=90)
        if r.status_code == 404:
            return {}
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(f"{self.base}/api/{path}", params={"code": self.key}, json=body, timeout=30)

    def lifecycle_ids(self, model: str = MODEL) -> list[str]:
        return [r["id"] for r in self.get("lifecycles", model=model, limit="500").get("lifecycles", [])]

    def model(self, model: str = MODEL) -> dict[str, Any]:
        return self.get(f"models/{model}")


def upload(stack: Stack, path: str, data: bytes, container: str = "raw") -> None:
    """A plain blob upload, as any tool would do it; the service learns of it from Event Grid."""
    from azure.storage.blob import BlobServiceClient

    with BlobServiceClient.from_connection_string(stack.connection_string) as service:
        service.get_blob_client(container, path).upload_blob(data, overwrite=True)


def stack_settings(state: Path | None = None, code_version: str = "demo") -> dict[str, Any]:
    """What the demo's stack needs beyond ports (the e2e tests start the same): the compressed policies,
    the endpoint server recording the policy's entity id column (customer_id) in its prediction log, and,
    given the state dir, dev's shared registry and the topic subscription that delivers dev's `promoted`
    events to prod's `on_model_promoted` (promote-to-prod)."""
    env = {"LIFECYCLE_POLICY_DIR": str(POLICY_DIR), "CODE_VERSION": code_version}
    if state is not None:
        env.update(promotion_env(state, registry=REGISTRY, environment="dev"))
    # the log-alert stand-in evaluates the drift rule every 5 s over the last minute (Azure: 5 and 15 minutes);
    # the Cosmos stand-in is the online feature store the policy's online_features materialize into (score-by-id)
    return {
        "extra_env": env,
        "entity_id_column": demo_gates().entity_id_column,
        "drift_alerts": (5.0, 60),
        "feature_store_port": procs.free_port(),
    }


def demo_gates() -> Any:
    """The demo policy's `rollout.gates` (entity id column, where labels land): one source of truth."""
    from core.kernel.policy import load_policies

    return load_policies(POLICY_DIR)[MODEL].rollout.gates


def quarantined(stack: Stack, run_id: str) -> list[str]:
    from azure.storage.blob import BlobServiceClient

    with BlobServiceClient.from_connection_string(stack.connection_string) as service:
        container = service.get_container_client("quarantine")
        return sorted(b.name for b in container.list_blobs(name_starts_with=f"{MODEL}/{run_id}/"))


def read_predictions(stack: Stack, folder_url: str) -> list[dict[str, str]]:
    """Every row of the prediction files under a scoring run's folder (its URL in the lake)."""
    import csv
    import io

    from azure.storage.blob import BlobServiceClient

    if not folder_url:
        return []
    container, _, prefix = folder_url.split("/devstoreaccount1/", 1)[-1].partition("/")
    rows: list[dict[str, str]] = []
    with BlobServiceClient.from_connection_string(stack.connection_string) as service:
        client = service.get_container_client(container)
        for blob in client.list_blobs(name_starts_with=prefix):
            text = client.download_blob(blob.name).readall().decode()
            rows += list(csv.DictReader(io.StringIO(text)))
    return rows


# --------------------------------------------------------------------------- live view


@dataclass
class View:
    """What the live display shows; refreshed from the operator API and the load generator."""

    results: list[Outcome]
    current: str = ""
    note: str = ""
    started: float = field(default_factory=time.monotonic)
    run_id: str = ""
    stage: str = ""
    rollout: dict[str, Any] = field(default_factory=dict)
    champion: str = "-"
    traffic: dict[str, int] = field(default_factory=dict)
    load: Any = None  # LoadGenerator
    console_url: str = ""
    model: str = MODEL  # whose champion and endpoint the view shows

    def render(self) -> Group:
        table = Table(title="make demo", expand=False)
        for col in ("scenario", "expected", "outcome", "ok", "s"):
            table.add_column(col, overflow="fold", max_width=60 if col in ("expected", "outcome") else None)
        for r in self.results:
            mark = "[green]ok[/]" if r.ok else ("[red]FAIL[/]" if r.outcome != "not run" else "")
            running = r.name == self.current
            table.add_row(
                f"[bold]{r.name}[/]" if running else r.name,
                r.expected,
                "running..." if running else r.outcome,
                mark,
                f"{r.seconds:.0f}" if r.seconds else "",
            )
        lines = [
            f"[bold]{self.current or '-'}[/]  {self.note}",
            f"lifecycle {self.run_id or '-'}  stage [cyan]{self.stage or '-'}[/]"
            + (f"  rollout [cyan]{self.rollout.get('stage', '-')}[/]" if self.rollout else ""),
            f"{self.model} champion v{self.champion}  endpoint traffic {self.traffic or '{}'}",
        ]
        if self.console_url:
            lines.append(f"operator console: {self.console_url}/")
        gate = self.rollout.get("gate") if self.rollout else None
        if gate:
            reasons = "; ".join(gate.get("reasons") or [])[:160]
            lines.append(
                f"last gate: [bold]{gate.get('verdict')}[/] green {gate.get('green_requests')}"
                f"/{gate.get('min_samples')} requests  {reasons}"
            )
        online = self.rollout.get("online_accuracy") if self.rollout else None
        waiting = self.rollout.get("waiting_for") == "labels" if self.rollout else False
        if online or waiting:
            online = online or {}
            reasons = "; ".join(online.get("reasons") or [])[:160]
            lines.append(
                f"online accuracy: [bold]{online.get('verdict', 'waiting')}[/] green {online.get('n', 0)}"
                f"/{online.get('needed', '?')} labelled"
                + (
                    f"  [yellow]waiting for labels[/] until {self.rollout.get('labels_deadline')}"
                    if waiting
                    else ""
                )
                + (f"  {reasons}" if reasons else "")
            )
        if self.load is not None:
            lines.append(load_line(self.load))
        return Group(table, Text.from_markup("\n".join(lines)))


def load_line(load: Any, window: float = 5.0) -> str:
    result = load.result()
    cutoff = time.time() - window
    recent = [r for r in result.responses if r.done_at >= cutoff]
    split = Counter(r.deployment or "-" for r in recent)
    errors = sum(1 for r in recent if r.status != 200)
    total = max(len(recent), 1)
    shares = ", ".join(f"{d} {n / total:.0%}" for d, n in sorted(split.items()))
    return (
        f"load: {result.sent} sent, {result.errors} errors in all; last {window:.0f}s: "
        f"{len(recent) / window:.0f} rps, {errors / total:.0%} errors, answered by {shares or '-'}"
    )


class Watcher:
    """Polls the operator API for one lifecycle and keeps the view current."""

    def __init__(self, api: Api, view: View, model: str = MODEL) -> None:
        self.api = api
        self.view = view
        self.model = model

    def refresh_model(self) -> dict[str, Any]:
        model = self.api.model(self.model)
        champion = model.get("champion") or {}
        endpoint = model.get("endpoint") or {}
        self.view.champion = str(champion.get("version") or "-") if isinstance(champion, dict) else "?"
        self.view.traffic = dict(endpoint.get("traffic") or {}) if isinstance(endpoint, dict) else {}
        return model

    def new_lifecycles(self, known: set[str], timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            new = [i for i in self.api.lifecycle_ids(self.model) if i not in known]
            if new:
                return new
            self.refresh_model()
            time.sleep(1)
        raise DemoError(f"no lifecycle started within {timeout:.0f}s of the trigger")

    def until_done(
        self, run_id: str, timeout: float, on_status: Callable[[dict[str, Any]], None] | None = None
    ) -> dict[str, Any]:
        self.view.run_id = run_id
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            detail = self.api.get(f"lifecycles/{run_id}")
            orch = detail.get("orchestration") or {}
            custom = orch.get("custom_status") or {}
            self.view.stage = custom.get("stage") or detail.get("stage") or ""
            rollout = (self.api.get(f"lifecycles/{run_id}-rollout").get("orchestration") or {}).get(
                "custom_status"
            )
            self.view.rollout = rollout if isinstance(rollout, dict) else {}
            self.refresh_model()
            if on_status is not None:
                on_status(self.view.rollout)
            if orch.get("runtime_status") in TERMINAL:
                return detail
            time.sleep(1)
        raise DemoError(f"lifecycle {run_id} did not finish within {timeout:.0f}s (stage {self.view.stage})")


# --------------------------------------------------------------------------- delayed labels


class LabelFeeder:
    """Ground truth arriving later, as a labelling process would deliver it: while the rollout waits
    for labels, a CSV (customer_id, churned, label_time) every few seconds for the customers either
    deployment answered since green first served live, drawn from the LIVE world (`drift`), uploaded
    under the policy's labels prefix (devhost's blob watcher announces it to the labels route)."""

    def __init__(self, demo: Demo, run_id: str, drift: float, seed: int) -> None:
        gates = demo_gates()
        online = gates.online_accuracy
        if online is None:
            raise DemoError("the demo policy has no rollout.gates.online_accuracy")
        self.demo, self.run_id, self.drift, self.seed = demo, run_id, drift, seed
        self.container, self.prefix = online.labels_container, online.labels_prefix
        self.live_since: float | None = None  # time.time() when the demo first saw green with live traffic
        self.green = self.blue = ""
        self.labelled: set[str] = set()
        self.files: list[str] = []
        self._last = 0.0

    def __call__(self, rollout: dict[str, Any]) -> None:
        green, split = rollout.get("green"), rollout.get("split") or {}
        if self.live_since is None and green and split.get(green):
            # the status is polled each second: a request a little earlier is labelled too (harmless)
            self.live_since, self.green, self.blue = time.time() - 2, green, rollout.get("blue") or ""
        if rollout.get("waiting_for") != "labels" or self.live_since is None:
            return
        if time.monotonic() - self._last < LABEL_WAVE_SECONDS:
            return
        self._last = time.monotonic()
        self.wave()

    def wave(self) -> None:
        from samples.churn.data import delayed_labels, to_csv_bytes

        assert self.live_since is not None and self.demo.load is not None
        result = self.demo.load.result()
        scored = result.scored(self.green, self.live_since) | result.scored(self.blue, self.live_since)
        new = sorted(scored - self.labelled)
        population = self.demo.population
        new = [c for c in new if c in population.index]
        if not new:
            return
        labels = delayed_labels(
            population.loc[new].reset_index(drop=True),
            drift=self.drift,
            seed=self.seed + len(self.files),
            scored_at=datetime.now(
                UTC
            ),  # known after every prediction made so far (the gate ignores older labels)
            delay_seconds=(0.0, LABEL_WAVE_SECONDS),
        )
        path = f"{self.prefix}{self.run_id}-{len(self.files) + 1:02d}.csv"
        upload(self.demo.stack, path, to_csv_bytes(labels), self.container)
        self.labelled.update(new)
        self.files.append(path)
        self.demo.log(
            f"labels: {self.container}/{path} ({len(new)} customers scored since green went live, "
            f"{int(labels[LABEL].sum())} churned; world drift {self.drift:g})"
        )


LABEL = "churned"  # samples/churn/features.py LABEL


# --------------------------------------------------------------------------- scenarios


class Demo:
    def __init__(self, stack: Stack, view: View, rps: float, rollouts_only: bool = False) -> None:
        """`rollouts_only`: live load only while a rollout is under way on dev's endpoint (LoadGenerator's), for a
        test that plays only scenarios judged in rollouts; the drift scenario needs customers scored all along."""
        self.stack = stack
        self.api = Api(stack)
        self.view = view
        self.watch = Watcher(self.api, view)
        self.rps = rps
        self.rollouts_only = rollouts_only
        self.load: Any = None
        self.population: Any = None  # the live customers the load scores (pandas, indexed by customer_id)

    def log(self, message: str) -> None:
        self.view.note = message
        console.log(message)

    def start_load(self) -> None:
        if self.load is not None:
            return
        from devstack.loadgen import LoadGenerator

        url = f"{self.stack.endpoint_url}/endpoints/{ENDPOINT}/score"
        column = demo_gates().entity_id_column
        self.load = LoadGenerator(
            url,
            self.stack.endpoint_key,
            rps=self.rps,
            seconds=3600,
            entity_column=column,
            rollouts_only=self.rollouts_only,
        )
        self.serve_customers(seed=7, drift=0.0)
        self.load.start()
        self.view.load = self.load
        self.log(f"load generator: {self.rps:.0f} requests/s to {url}, each row with its {column}")

    def serve_customers(self, seed: int, drift: float) -> None:
        """New live customers from the world at `drift`: the load scores them from now on (fresh ids,
        so labels of earlier scenarios' customers cannot join this scenario's predictions)."""
        from devstack.loadgen import payloads, scoring_rows
        from samples.churn.data import generate

        if self.load is None:
            raise DemoError("no load generator: the first model must serve first")
        customers = generate(CUSTOMERS, seed=seed, drift=drift)
        self.population = customers.set_index("customer_id", drop=False)
        rows = scoring_rows(customers, self.load.entity_column)
        self.load.switch(payloads(rows, limit=CUSTOMERS))

    def stop_load(self) -> dict[str, Any] | None:
        if self.load is None:
            return None
        return self.load.stop().summary()

    def serving(self, model: dict[str, Any]) -> tuple[str | None, dict[str, int]]:
        """(version the endpoint serves at 100%, traffic)."""
        endpoint = model.get("endpoint") or {}
        traffic = {k: v for k, v in (endpoint.get("traffic") or {}).items() if v}
        deployments = endpoint.get("deployments") or {}
        if len(traffic) == 1 and next(iter(traffic.values())) == 100:
            return (deployments.get(next(iter(traffic))) or {}).get("version"), traffic
        return None, traffic

    @staticmethod
    def champion(model: dict[str, Any]) -> str | None:
        found = model.get("champion")
        return found.get("version") if isinstance(found, dict) else None

    # ---------------------------------------------------------------- 1
    def first_model(self) -> str:
        from samples.churn.data import generate, to_csv_bytes

        known = set(self.api.lifecycle_ids())
        upload(
            self.stack, "churn/demo/01-first.csv", to_csv_bytes(generate(ROWS, seed=FIRST_SEED, drift=0.0))
        )
        self.log("uploaded raw/churn/demo/01-first.csv (drift 0)")
        [run_id, *more] = self.watch.new_lifecycles(known, 60)
        detail = self.watch.until_done(run_id, 300)
        model = self.watch.refresh_model()
        version, traffic = self.serving(model)
        status = detail.get("status")
        outcome = f"{run_id}: {status}; champion v{self.champion(model)} serving {traffic}"
        ok = status == "promoted" and version is not None and version == self.champion(model) and not more
        if not ok:
            raise DemoError(outcome)
        self.start_load()
        return outcome

    # ---------------------------------------------------------------- score by id
    def score(self, columns: list[str], rows: list[list[Any]]) -> requests.Response:
        """One scoring request to the endpoint, as any client sends it (AML's MLflow payload)."""
        body = {"input_data": {"columns": columns, "index": list(range(len(rows))), "data": rows}}
        headers = {"Authorization": f"Bearer {self.stack.endpoint_key}"}
        url = f"{self.stack.endpoint_url}/endpoints/{ENDPOINT}/score"
        return requests.post(url, json=body, headers=headers, timeout=30)

    def score_by_id(self) -> str:
        """The first champion's data version was materialized into the online feature store before it was
        trained, and its deployment was told that feature set version (it still reads it after
        worse-live-accuracy's rolled-back challenger materialized a newer one): a client that knows only the
        customer id of first-model's customers gets the same predictions as one that sends their features,
        and an id the version does not know gets a per-row error (424) instead of a guess."""
        from devstack.loadgen import scoring_rows
        from samples.churn.data import generate

        model = self.api.model()
        features = model.get("online_features") or {}
        champion = self.champion(model)
        column = demo_gates().entity_id_column
        customers = generate(ROWS, seed=FIRST_SEED, drift=0.0).sample(50, random_state=3)
        ids = customers[column].astype(str).tolist()
        by_id = self.score([column], [[i] for i in ids])
        with_features = scoring_rows(customers, column)
        inline = self.score(
            [str(c) for c in with_features.columns], with_features.to_numpy(dtype=object).tolist()
        )
        unknown = self.score([column], [[ids[0]], ["C-nobody"]])
        errors = unknown.json().get("errors", []) if unknown.status_code == 424 else []
        self.log(
            f"scored {len(ids)} customers of 01-first.csv by {column} only -> {by_id.status_code}; "
            f"an unknown id -> {unknown.status_code}"
        )
        same = (
            by_id.status_code == inline.status_code == 200
            and len(by_id.json()) == len(inline.json()) == len(ids)
            and all(
                abs(a - b) < 1e-9 for a, b in zip(_scores(by_id.json()), _scores(inline.json()), strict=True)
            )
        )
        outcome = (
            f"{len(ids)} rows with only {column} -> {by_id.status_code}, "
            f"{'the same' if same else 'NOT the same'} predictions as with their features "
            f"(champion v{champion} reads feature set {features.get('feature_set')} version "
            f"{features.get('serving_version')}, the newest is {features.get('latest_version')}); "
            f"unknown id -> {unknown.status_code} "
            f"{[(e.get('row'), e.get('entity_id'), e.get('code')) for e in errors]}"
        )
        ok = (
            same
            and features.get("serving_version") is not None
            and [(e.get("row"), e.get("entity_id")) for e in errors] == [(1, "C-nobody")]
        )
        if not ok:
            raise DemoError(outcome)
        return outcome

    # ---------------------------------------------------------------- batch
    def batch_scoring(self) -> str:
        """The first champion went to the batch endpoint after its promotion (batch_deploy, with a
        smoke run); a CSV landing under the scoring prefix is scored by it, not trained on."""
        from samples.churn.data import generate, to_csv_bytes

        champion = self.champion(self.api.model())
        batch = self.api.get(f"models/{MODEL}/batch")
        default = batch.get("default")
        deployed = (batch.get("deployments") or {}).get(default or "", {})
        if not default or deployed.get("version") != champion:
            raise DemoError(f"batch default {default} ({deployed}) does not serve champion v{champion}")
        known = {r["id"] for r in self.api.get("batch-runs", model=MODEL).get("runs", [])}
        rows = generate(200, seed=21).drop(columns=["churned"])  # scoring data has no label
        upload(self.stack, "churn-scoring/demo-01.csv", to_csv_bytes(rows))
        self.log(f"uploaded raw/churn-scoring/demo-01.csv (200 rows, no label); batch default {default}")
        deadline = time.monotonic() + 150
        run: dict[str, Any] = {}
        while time.monotonic() < deadline:
            new = [r for r in self.api.get("batch-runs", model=MODEL).get("runs", []) if r["id"] not in known]
            run = new[0] if new else {}
            self.view.run_id, self.view.stage = run.get("id", ""), run.get("status", "waiting")
            if run and run["status"] != "running":
                break
            time.sleep(1)
        predictions = read_predictions(self.stack, run.get("predictions") or "")
        versions = sorted({line.get("model_version", "") for line in predictions})
        outcome = (
            f"{run.get('id')}: {run.get('status')}; {len(predictions)} predictions by {default} "
            f"(model_version {versions}) under {run.get('predictions')}"
        )
        if run.get("status") != "scored" or len(predictions) != 200 or versions != [champion]:
            raise DemoError(outcome)
        return outcome

    # ---------------------------------------------------------------- 2
    def drift_alerts(self) -> list[dict[str, Any]]:
        """What the log-alert stand-in posted to /api/alerts so far (devstack/log_alerts.py)."""
        if not self.stack.log_alerts_url:
            raise DemoError("the stack runs no log-alert stand-in: nothing turns drift figures into alerts")
        return requests.get(f"{self.stack.log_alerts_url}/alerts", timeout=10).json()["alerts"]

    def drift_retrain_promote(self) -> str:
        """The live customers drift and nothing is posted by hand: the drift monitor's checks see it, the
        figures cross the alert rule, the stand-in of Azure Monitor's log alerts posts the alert, and the
        alert starts the retrain on the data under the prefix (most of it drifted: what landed in churn/landed/
        and worse-live-accuracy's batch). The new champion's training data becomes the monitor's reference, so
        the same drift raises no second alert."""
        from samples.churn.data import generate, to_csv_bytes

        before = self.champion(self.api.model())
        known = set(self.api.lifecycle_ids())
        seen = len(self.drift_alerts())
        # the drifted world's data lands where it does not retrain by itself (triggers.blob_prefixes is churn/demo/)
        upload(
            self.stack, "churn/landed/02-drifted.csv", to_csv_bytes(generate(4 * ROWS, seed=12, drift=1.0))
        )
        drift_start = datetime.now(UTC)
        self.serve_customers(seed=42, drift=1.0)  # the world really drifted: live customers too
        self.log(
            "uploaded raw/churn/landed/02-drifted.csv (drift 1.0; starts nothing) and live customers now come from "
            "the drifted world; no alert is posted by hand"
        )
        [run_id, *_] = self.watch.new_lifecycles(known, 120)
        fired = [a for a in self.drift_alerts()[seen:] if a["condition"] == "Fired"]
        if not fired:
            raise DemoError(f"lifecycle {run_id} started, but the log-alert stand-in fired no drift alert")
        fired_at = datetime.fromisoformat(fired[0]["at"].replace("Z", "+00:00"))
        to_alert = (fired_at - drift_start).total_seconds()
        self.log(f"drift alert {fired[0]['rule']} fired {to_alert:.0f} s after the drift began -> {run_id}")
        approved: list[str] = []
        labels = LabelFeeder(self, run_id, drift=1.0, seed=42)  # the drifted world's ground truth

        def approve(rollout: dict[str, Any]) -> None:
            labels(rollout)
            if rollout.get("stage") == "approval" and not approved:
                r = self.api.post(f"lifecycles/{run_id}/approve", {"reason": "demo", "by": "make demo"})
                approved.append(str(r.status_code))
                self.log(f"operator: POST /api/lifecycles/{run_id}/approve -> {r.status_code}")

        detail = self.watch.until_done(run_id, 360, approve)
        time.sleep(2)  # a second (wrong) lifecycle would have been claimed by now
        new = [i for i in self.api.lifecycle_ids() if i not in known]
        sources = sorted(r["source"] for r in detail.get("requests", []))
        model = self.watch.refresh_model()
        version, traffic = self.serving(model)
        after = self.champion(model)
        status = detail.get("status")
        fired_again = [a for a in self.drift_alerts()[seen:] if a["condition"] == "Fired"]
        outcome = (
            f"drift -> alert {fired[0]['rule']} in {to_alert:.0f} s -> {len(new)} lifecycle ({run_id}) consumed "
            f"{sources}; {status} after ramp {_ramp(detail)}{' with approval' if approved else ''}; "
            f"{_online_note(detail, labels)}; champion v{before} -> v{after} serving {traffic}; "
            f"{len(fired_again)} drift alert(s) fired"
        )
        ok = (
            len(new) == 1
            and sources == ["alert"]
            and status == "promoted"
            and _ramp(detail).startswith("10->50->")
            and after not in (None, before)
            and version == after
            and len(fired_again) == 1
        )
        if not ok:
            raise DemoError(outcome)
        return outcome

    # ---------------------------------------------------------------- worse live accuracy
    def worse_live_accuracy(self) -> str:
        """A batch that looks drifted trains a challenger that wins offline, but live customers did not
        drift: on their delayed labels green is worse than blue, while errors and latency are equal."""
        from samples.churn.data import generate, live_drift, to_csv_bytes

        model = self.api.model()
        before, (_, traffic_before) = self.champion(model), self.serving(model)
        live = live_drift(1.0, worse_live_accuracy=True)
        self.serve_customers(seed=41, drift=live)
        known = set(self.api.lifecycle_ids())
        batch = to_csv_bytes(generate(ROWS, seed=31, drift=1.0))
        upload(self.stack, "churn/demo/02-worse-live.csv", batch)
        self.log(
            f"uploaded raw/churn/demo/02-worse-live.csv (drift 1.0); live customers stay at drift {live:g}"
        )
        [run_id, *_] = self.watch.new_lifecycles(known, 60)
        labels = LabelFeeder(self, run_id, drift=live, seed=41)
        reached_approval: list[bool] = []

        def on_status(rollout: dict[str, Any]) -> None:
            labels(rollout)
            if rollout.get("stage") == "approval" and not reached_approval:
                reached_approval.append(True)
                self.api.post(f"lifecycles/{run_id}/reject", {"reason": "the gate missed it", "by": "demo"})

        detail = self.watch.until_done(run_id, 420, on_status)
        model = self.watch.refresh_model()
        after, (_, traffic) = self.champion(model), self.serving(model)
        gates = detail.get("gates", [])
        online_failed = [
            g for g in gates if g.get("kind") == "online_accuracy_evaluated" and g.get("verdict") == "fail"
        ]
        traffic_failed = [
            g for g in gates if g.get("kind") == "gate_evaluated" and g.get("verdict") == "fail"
        ]
        decision = detail.get("decision") or {}
        status = detail.get("status")
        equal = _errors_and_latency(self.load, labels) if self.load is not None else "-"
        outcome = (
            f"{run_id}: challenger v{detail.get('challenger_version')} won offline "
            f"({decision.get('metric', 'auc')} +{float(decision.get('abs_gain') or 0):.3f}), then {status}; "
            f"{_online_note(detail, labels)}; traffic gate "
            f"{'FAILED' if traffic_failed else 'never failed'} ({equal}); champion v{after}, traffic {traffic}"
        )
        ok = (
            status == "rolled_back"
            and decision.get("verdict") == "promote"
            and bool(online_failed)
            and not traffic_failed
            and bool(labels.files)
            and not reached_approval
            and after == before
            and traffic == traffic_before
        )
        if not ok:
            raise DemoError(f"{outcome}; before: champion v{before}, traffic {traffic_before}")
        return outcome

    # ---------------------------------------------------------------- 3
    def bad_model_rollback(self) -> str:
        from adapters.local.endpoints import LocalEndpoints
        from samples.churn.data import generate, to_csv_bytes

        model = self.api.model()
        before, (_, traffic_before) = self.champion(model), self.serving(model)
        known = set(self.api.lifecycle_ids())
        upload(self.stack, "churn/demo/03-reverted.csv", to_csv_bytes(generate(ROWS, seed=21, drift=0.0)))
        self.log("uploaded raw/churn/demo/03-reverted.csv (the world reverts: drift 0, new seed)")
        [run_id, *_] = self.watch.new_lifecycles(known, 60)
        endpoints = LocalEndpoints(self.stack.endpoint_url or "", self.stack.endpoint_key)
        injected: list[str] = []
        reached_approval: list[bool] = []

        def inject(rollout: dict[str, Any]) -> None:
            green = rollout.get("green")
            # after the smoke test (which would fail first): the ramp is the gate's business
            if green and rollout.get("stage") == "ramp" and not injected:
                endpoints.set_faults(ENDPOINT, green, error_rate=0.2)
                injected.append(green)
                self.log(f"fault injected: challenger deployment {green!r} now fails 20% of its requests")
            if rollout.get("stage") == "approval" and not reached_approval:
                reached_approval.append(True)
                self.api.post(
                    f"lifecycles/{run_id}/reject", {"reason": "the gate missed the fault", "by": "demo"}
                )

        detail = self.watch.until_done(run_id, 360, inject)
        done_at = time.time()
        model = self.watch.refresh_model()
        after, (_, traffic) = self.champion(model), self.serving(model)
        time.sleep(2)  # what live clients see now: every answer from the champion's deployment
        answered_by = sorted(
            {r.deployment for r in self.load.result().responses if r.sent_at >= done_at}
            if self.load is not None
            else set()
        )
        failed = [g for g in detail.get("gates", []) if g.get("verdict") == "fail"]
        status = detail.get("status")
        gate_note = (
            f"gate fail at {failed[0].get('percent')}% ({(failed[0].get('reasons') or [''])[0][:80]})"
            if failed
            else "no gate failed"
        )
        outcome = (
            f"{run_id}: challenger v{detail.get('challenger_version')} {status}; {gate_note}; "
            f"champion v{after}, traffic {traffic}, live answers since from {answered_by}"
        )
        ok = (
            status == "rolled_back"
            and answered_by == sorted(traffic)
            and bool(failed)
            and bool(injected)
            and not reached_approval
            and after == before
            and traffic == traffic_before
        )
        if not ok:
            raise DemoError(f"{outcome}; before: champion v{before}, traffic {traffic_before}")
        return outcome

    # ---------------------------------------------------------------- 4
    def bad_data_quarantine(self) -> str:
        from samples.churn.data import corrupt, generate, to_csv_bytes

        model = self.api.model()
        before, (_, traffic_before) = self.champion(model), self.serving(model)
        known = set(self.api.lifecycle_ids())
        bad = corrupt(generate(400, seed=13), "out_of_range")
        upload(self.stack, "churn/demo/04-malformed.csv", to_csv_bytes(bad))
        self.log("uploaded raw/churn/demo/04-malformed.csv (out-of-range values)")
        [run_id, *_] = self.watch.new_lifecycles(known, 60)
        detail = self.watch.until_done(run_id, 120)
        files = quarantined(self.stack, run_id)
        model = self.watch.refresh_model()
        after, (_, traffic) = self.champion(model), self.serving(model)
        status = detail.get("status")
        names = [f.rsplit("/", 1)[-1] for f in files]
        outcome = f"{run_id}: {status}; quarantine/{MODEL}/{run_id}/ holds {names}; champion v{after}, traffic {traffic}"
        ok = (
            status == "rejected"
            and "report.json" in names
            and "04-malformed.csv" in names
            and not detail.get("job_name")
            and after == before
            and traffic == traffic_before
        )
        if not ok:
            raise DemoError(f"{outcome}; before: champion v{before}, traffic {traffic_before}")
        return outcome

    # ---------------------------------------------------------------- promote to prod
    def promoted_events(self) -> list[dict[str, Any]]:
        """Dev's `promoted` CloudEvents, as devhost's lifecycle topic recorded them (prod publishes
        its own on the same topic, from source .../models/churn-prod; its trigger refuses those)."""
        return promoted_events(self.stack, DEV_SOURCE)

    def promote_to_prod(self) -> str:
        """Both environments on one devhost: dev's policy names the shared registry, so each champion
        dev promotes (first-model's, drift-retrain-promote's) was copied into it and announced by a
        `promoted` event, which the topic subscription delivered to prod's `on_model_promoted`. Prod's
        first deploy went straight to 100% (nothing to compare with); this one ramps dev's new champion
        on prod's endpoint behind prod's gates (the load generator scores it too) and approval."""
        from devstack.loadgen import LoadGenerator

        dev = self.champion(self.api.model())
        promoted = [e for e in self.promoted_events() if (e.get("data") or {}).get("version") == dev]
        if not dev or not promoted:
            raise DemoError(f"dev champion v{dev} was never announced by a promoted event")
        data = promoted[-1]["data"]
        shared = f"{data.get('registry')}:{data.get('registry_model')}:{data.get('registry_version')}"
        url = f"{self.stack.endpoint_url}/endpoints/{PROD_ENDPOINT}/score"
        prod_load = LoadGenerator(url, self.stack.endpoint_key, rps=self.rps, seconds=3600).start()
        dev_load, self.view.load, self.view.model = self.view.load, prod_load, PROD_MODEL
        watch = Watcher(self.api, self.view, PROD_MODEL)
        self.log(
            f"dev champion v{dev} shared as {shared}; load generator: {self.rps:.0f} requests/s to {url}"
        )
        try:
            deadline = time.monotonic() + 60
            runs: list[dict[str, Any]] = []
            while time.monotonic() < deadline and not runs:
                listed = self.api.get("lifecycles", model=PROD_MODEL, limit="50").get("lifecycles", [])
                runs = [r for r in listed if r.get("challenger_version") == data.get("registry_version")]
                time.sleep(1)
            if not runs:
                raise DemoError(f"no {PROD_MODEL} deploy lifecycle of {shared} within 60s of dev's promotion")
            run_id = runs[0]["id"]
            approved: list[str] = []

            def approve(rollout: dict[str, Any]) -> None:
                if rollout.get("stage") == "approval" and not approved:
                    r = self.api.post(f"lifecycles/{run_id}/approve", {"reason": "demo", "by": "make demo"})
                    approved.append(str(r.status_code))
                    self.log(f"operator (prod): POST /api/lifecycles/{run_id}/approve -> {r.status_code}")

            detail = watch.until_done(run_id, 360, approve)
            prod = watch.refresh_model()
            version, traffic = self.serving(prod)
            deploys = self.api.get("lifecycles", model=PROD_MODEL, limit="50").get("lifecycles", [])
        finally:
            self.view.load, self.view.model = dev_load, MODEL
            summary = prod_load.stop().summary()
        status = detail.get("status")
        shared_versions = sorted(
            {str((e.get("data") or {}).get("registry_version")) for e in self.promoted_events()}
        )
        earlier = sorted(
            (str(r.get("challenger_version")), str(r.get("status"))) for r in deploys if r["id"] != run_id
        )
        outcome = (
            f"dev v{dev} -> {shared} -> {run_id}: {status} after ramp {_ramp(detail)}"
            f"{' with approval' if approved else ''}; prod champion v{self.champion(prod)} serving {traffic} "
            f"({summary.get('sent')} prod requests, {summary.get('errors')} errors); earlier prod deploys {earlier}"
        )
        ok = (
            status == "promoted"
            and _ramp(detail).startswith("10->50->")
            and bool(approved)
            and self.champion(prod) == data.get("registry_version")
            and version == data.get("registry_version")
            and len(deploys) == len(shared_versions)  # one prod deploy per dev promotion, no more
        )
        if not ok:
            raise DemoError(f"{outcome}; dev shared {shared_versions}")
        return outcome


def _online_note(detail: dict[str, Any], labels: LabelFeeder) -> str:
    """The last online accuracy evaluation, e.g. `online accuracy fail at 50%: green auc 0.70 vs blue 0.81`."""
    online = [g for g in detail.get("gates", []) if g.get("kind") == "online_accuracy_evaluated"]
    if not online:
        return f"no online accuracy evaluation ({len(labels.files)} label files)"
    last = online[-1]
    values = ""
    if last.get("green_value") is not None and last.get("blue_value") is not None:
        values = f": green {last.get('metric')} {last['green_value']:.3f} vs blue {last['blue_value']:.3f}"
    return (
        f"online accuracy {last.get('verdict')} at {last.get('percent')}%{values} on "
        f"{last.get('green_labelled')}/{last.get('blue_labelled')} labelled predictions "
        f"({len(labels.files)} label files, {len(online)} looks)"
    )


def _errors_and_latency(load: Any, labels: LabelFeeder) -> str:
    """Green's and blue's error rate and median latency as live clients saw them since green went live."""
    since = labels.live_since or 0.0
    parts = []
    for name in (labels.green, labels.blue):
        seen = [r for r in load.result().responses if r.sent_at >= since and r.deployment == name]
        ok = sorted(r.latency_ms for r in seen if r.status == 200)
        errors = sum(1 for r in seen if r.status != 200)
        p50 = f"{ok[len(ok) // 2]:.0f} ms" if ok else "-"
        parts.append(f"{name} {errors}/{len(seen)} errors, p50 {p50}")
    return "; ".join(parts)


def _scores(answer: list[Any]) -> list[float]:
    """One number per row: a score, or the last (positive-class) column of a row of probabilities."""
    return [float(p[-1] if isinstance(p, list) else p) for p in answer]


def _ramp(detail: dict[str, Any]) -> str:
    """The challenger's share at each traffic change, e.g. 10->50->100."""
    green = None
    for step in detail.get("steps", []):
        green = step.get("green") or green
    shares = [str((t.get("traffic") or {}).get(green, 0)) for t in detail.get("traffic", []) if green]
    return "->".join(shares) or "-"


SCENARIOS: list[tuple[str, str, str, float]] = [
    ("first-model", "upload -> first champion serving 100%", "first_model", 420),
    (
        "worse-live-accuracy",
        "challenger wins offline, worse on live labels -> online accuracy gate fails -> rolled back, "
        "errors and latency equal, champion unchanged",
        "worse_live_accuracy",
        480,
    ),
    (
        "batch-scoring",
        "champion on the batch endpoint (smoke-tested default) -> scoring upload -> predictions with its version",
        "batch_scoring",
        180,
    ),
    (
        "score-by-id",
        "requests with only customer_id -> the champion's feature set version fills them -> the same predictions "
        "as with the features; an unknown id -> 424 with a per-row error",
        "score_by_id",
        60,
    ),
    (
        "drift-retrain-promote",
        "live customers drift -> drift monitor -> Azure Monitor log alert (local stand-in) -> ONE retrain, "
        "no alert posted by hand -> ramp 10->50, live labels agree -> 100 -> new champion; seconds to alert",
        "drift_retrain_promote",
        480,
    ),
    (
        "promote-to-prod",
        "dev's new champion -> shared registry -> promoted event -> prod deploy-only ramp 10->50->100 "
        "on its own endpoint with approval -> prod champion = that registry version",
        "promote_to_prod",
        360,
    ),
    (
        "bad-model-rollback",
        "faulty challenger -> gate fails -> rolled back, champion and 100% blue unchanged",
        "bad_model_rollback",
        480,
    ),
    (
        "bad-data-quarantine",
        "malformed upload -> rejected, file + report quarantined, nothing else changes",
        "bad_data_quarantine",
        180,
    ),
]


def _call_with_timeout(fn: Callable[[], str], seconds: float) -> str:
    """Each scenario's own waits are bounded; this is the outer bound, via SIGALRM."""

    def _expired(*_: object) -> None:
        raise DemoError(f"scenario timed out after {seconds:.0f}s")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.alarm(int(seconds))
    try:
        return fn()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def write_report(path: Path, results: list[Outcome], extra: dict[str, Any]) -> bool:
    ok = bool(results) and all(r.ok for r in results)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"ok": ok, "scenarios": [asdict(r) for r in results], **extra}
    path.write_text(json.dumps(doc, indent=2))
    return ok


def final_table(results: list[Outcome]) -> Table:
    table = Table(title="make demo: results")
    table.add_column("scenario")
    table.add_column("expected", max_width=50, overflow="fold")
    table.add_column("outcome", max_width=80, overflow="fold")
    table.add_column("ok")
    table.add_column("seconds", justify="right")
    for r in results:
        table.add_row(
            r.name, r.expected, r.outcome, "[green]ok[/]" if r.ok else "[red]FAIL[/]", f"{r.seconds:.1f}"
        )
    return table


def run(args: argparse.Namespace) -> int:
    state = Path(args.state_dir).resolve()
    report = Path(args.report).resolve()
    shutil.rmtree(state, ignore_errors=True)
    results = [Outcome(name, expected) for name, expected, _, _ in SCENARIOS]
    extra: dict[str, Any] = {"state_dir": str(state)}

    def _terminate(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored
    view = View(results)
    demo: Demo | None = None
    started = time.monotonic()
    try:
        console.rule("make demo: starting the local stack (Azurite, endpoint server, devhost)")
        with running_stack(
            state,
            devhost_port=procs.free_port(),
            azurite_port=procs.free_port(),
            endpoint_port=procs.free_port(),
            console_port=args.console_port or procs.free_port(),
            **stack_settings(state),
        ) as stack:
            console.log(
                f"stack up: devhost {stack.devhost_url}, endpoints {stack.endpoint_url}, state {state}"
            )
            console.log(f"operator console: {stack.console_url}/ (sign in as reader or operator; watch live)")
            view.console_url = stack.console_url or ""
            demo = Demo(stack, view, args.rps)
            with Live(get_renderable=view.render, console=console, refresh_per_second=2, transient=True):
                for result, (_, _, method, timeout) in zip(results, SCENARIOS, strict=True):
                    view.current, view.run_id, view.stage, view.rollout = result.name, "", "", {}
                    t0 = time.monotonic()
                    try:
                        result.outcome = _call_with_timeout(getattr(demo, method), timeout)
                        result.ok = True
                    except Exception as exc:  # a scenario that breaks is reported, and the next one runs
                        result.outcome = (
                            f"{type(exc).__name__}: {exc}" if not isinstance(exc, DemoError) else str(exc)
                        )
                    result.seconds = round(time.monotonic() - t0, 1)
                    console.log(
                        f"{result.name}: {'ok' if result.ok else 'FAILED'} in {result.seconds:.0f}s: {result.outcome}"
                    )
                    if not result.ok and result.name == "first-model":
                        break  # nothing else can run without a serving model
                view.current = ""
            extra["load"] = demo.stop_load()
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: stopping everything the demo started[/]")
        extra["interrupted"] = True
    except (RuntimeError, TimeoutError) as exc:
        console.print(f"[red]the local stack failed: {exc}[/]")
        extra["error"] = str(exc)
    finally:
        if demo is not None:
            with contextlib.suppress(Exception):
                extra.setdefault("load", demo.stop_load())
    extra["seconds"] = round(time.monotonic() - started, 1)
    ok = write_report(report, results, extra)
    console.print(final_table(results))
    console.print(f"report: {report}  (total {extra['seconds']:.0f}s)")
    if not ok:
        console.print(
            f"[red]demo failed[/]; logs: {state}/devhost.log, {state}/endpoints.log, {state}/azurite.log"
        )
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", default=str(DEFAULT_STATE))
    parser.add_argument("--report", default=str(REPO_ROOT / ".local" / "demo-report.json"))
    parser.add_argument("--rps", type=float, default=50, help="load generator requests per second")
    parser.add_argument(
        "--console-port", type=int, default=0, help="the operator console's port (0: a free one)"
    )
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
