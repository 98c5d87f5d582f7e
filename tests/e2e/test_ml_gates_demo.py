"""Issue 13 end to end: on the real local stack (Azurite, the endpoint stand-in, devhost on this app,
real XGBoost training jobs), a challenger that wins the offline evaluation but is worse on live
labelled traffic is rolled back by the online accuracy gate, while errors and latency are equal.

The slow tests play the demo's own scenarios on one stack, in the demo's order (devstack/demo.py:
`first-model`, `worse-live-accuracy`, `batch-scoring`, then `score-by-id`), so `make demo` and the suite exercise the
same path: customer rows scored with their customer_id, label files uploaded to Azurite while the
rollout waits for them, the blob watcher's BlobCreated to the labels route, the gate reading the
prediction log and the labels; then the champion, still the first model, scores a CSV uploaded under
the scoring prefix on the batch endpoint (the batch end-to-end test shares this stack and its first
champion rather than starting and training its own: tests/e2e/test_batch_scoring.py); and the
champion answers requests that carry only a customer id from the online feature store (the Cosmos
stand-in) with the feature set version it was trained on, though a newer one has been materialized since.
The fast tests check the pieces the scenario builds on: the load generator's entity ids, the label
feeder, the demo policy's gate and the live view."""

from __future__ import annotations

import io
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from aiohttp import web

from core.intake.events import route_blob
from core.kernel.policy import load_policies
from devhost import procs
from devstack import demo, loadgen
from samples.churn.data import generate
from triggers.edge import route_labels

# the stack is built in the first slow test's setup, three scenarios long
pytestmark = [pytest.mark.timeout(900)]  # one of tests/conftest.py's LIVE_STACK modules

# --------------------------------------------------------------------------- fast: the pieces


def test_the_demo_policy_judges_online_accuracy_on_labels_outside_the_data_prefix() -> None:
    policies = list(load_policies(demo.POLICY_DIR).values())
    gates = demo.demo_gates()
    online = gates.online_accuracy
    assert gates.entity_id_column == loadgen.ENTITY_COLUMN == "customer_id"
    assert online is not None and online.required_before_last_step and online.on_label_deadline == "rollback"
    assert online.min_labels <= 200 and online.label_wait_seconds <= 300  # the demo's compressed times
    settings = demo.stack_settings()
    assert settings["entity_id_column"] == gates.entity_id_column  # the endpoint logs what labels join on
    assert settings["extra_env"]["LIFECYCLE_POLICY_DIR"] == str(demo.POLICY_DIR)
    label_file = f"{online.labels_prefix}churn-1-01.csv"
    assert route_labels(policies, online.labels_container, label_file) == "churn"
    assert route_blob(policies, online.labels_container, label_file) is None  # a label file trains nothing


class _Scorer:
    """A loopback scoring endpoint that answers like the stand-in: one score per row, the deployment
    in the `azureml-model-deployment` header (alternating blue/green), and keeps the columns it got."""

    def __init__(self) -> None:
        self.columns: list[list[str]] = []
        self.n = 0
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._loop: Any = None
        self._ready = threading.Event()

    async def score(self, request: web.Request) -> web.Response:
        split = (await request.json())["input_data"]
        self.columns.append(split["columns"])
        self.n += 1
        headers = {"azureml-model-deployment": "green" if self.n % 2 else "blue"}
        return web.json_response([[0.7, 0.3]] * len(split["data"]), headers=headers)

    def __enter__(self) -> _Scorer:
        import asyncio

        port = procs.free_port()
        self.url = f"http://127.0.0.1:{port}/endpoints/churn/score"

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            app = web.Application()
            app.router.add_post("/endpoints/churn/score", self.score)
            self._runner = web.AppRunner(app)
            self._loop.run_until_complete(self._runner.setup())
            self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", port).start())
            self._ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        import asyncio

        assert self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def test_the_load_generator_sends_customer_ids_and_keeps_which_deployment_answered_which() -> None:
    first = generate(20, seed=3)
    later = generate(20, seed=4)
    with _Scorer() as scorer:
        load = loadgen.LoadGenerator(
            scorer.url,
            "key",
            rps=100,
            seconds=5,
            bodies=loadgen.payloads(loadgen.scoring_rows(first), limit=20),
        ).start()
        deadline = time.monotonic() + 5
        while load.result().ok < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        switched = time.time()
        load.switch(loadgen.payloads(loadgen.scoring_rows(later), limit=20))
        time.sleep(0.4)
        result = load.stop()
    assert result.errors == 0 and result.ok >= 40
    assert all(cols[0] == "customer_id" for cols in scorer.columns)  # the id travels with the row
    assert all(len(r.entities) == 1 for r in result.responses)
    before = result.scored(since=0) - result.scored(since=switched)
    assert before <= set(first["customer_id"])
    assert result.scored(since=switched + 0.1) <= set(later["customer_id"])  # new customers after switch
    green, blue = result.scored("green"), result.scored("blue")
    assert green and blue and green | blue == result.scored()
    assert result.scored("nobody") == set()


def test_the_load_generator_sends_no_id_column_when_told_not_to() -> None:
    rows = loadgen.churn_rows(5, seed=1)
    assert "customer_id" not in rows.columns
    body = loadgen.payloads(loadgen.churn_rows(5, seed=1, entity_column="customer_id"))[0]
    assert loadgen.entities_of(body, "customer_id") == ("C00001-0000000",)
    assert loadgen.entities_of(loadgen.payloads(rows)[0], "customer_id") == ()


class _FakeLoad:
    entity_column = "customer_id"

    def __init__(self, responses: list[loadgen.Response]) -> None:
        self.responses = responses

    def result(self) -> loadgen.LoadResult:
        return loadgen.LoadResult(list(self.responses), 0.0, 0.0, len(self.responses))


def test_the_label_feeder_labels_only_customers_scored_live_once_the_rollout_waits_for_labels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uploads: list[tuple[str, str, bytes]] = []
    monkeypatch.setattr(
        demo, "upload", lambda stack, path, data, container="raw": uploads.append((container, path, data))
    )
    monkeypatch.setattr(demo, "LABEL_WAVE_SECONDS", 0.0)
    customers = generate(6, seed=9)
    ids = customers["customer_id"].tolist()
    now = time.time()
    old = loadgen.Response(now - 60, now - 60, 5.0, 200, "blue", (ids[0],))
    fake = type("D", (), {})()
    fake.load = _FakeLoad([old])
    fake.population = customers.set_index("customer_id", drop=False)
    fake.stack = None
    fake.log = lambda message: None
    feeder = demo.LabelFeeder(fake, "churn-7", drift=0.0, seed=1)

    feeder({"stage": "ramp", "green": "green", "blue": "blue", "split": {"blue": 100, "green": 0}})
    feeder({"stage": "ramp", "green": "green", "blue": "blue", "split": {"blue": 90, "green": 10}})
    assert feeder.live_since is not None and not uploads  # live, but nobody waits for labels yet
    fake.load.responses += [
        loadgen.Response(now, now, 5.0, 200, "green", (ids[1],)),
        loadgen.Response(now, now, 5.0, 200, "blue", (ids[2],)),
        loadgen.Response(now, now, 5.0, 424, "green", (ids[3],)),  # not answered: no prediction to label
        loadgen.Response(now, now, 5.0, 200, "other", (ids[4],)),
    ]
    waiting = {"stage": "ramp", "green": "green", "blue": "blue", "split": {"blue": 50, "green": 50}}
    feeder({**waiting, "waiting_for": "labels"})
    [(container, path, data)] = uploads
    online = demo.demo_gates().online_accuracy
    assert container == online.labels_container and path == f"{online.labels_prefix}churn-7-01.csv"
    labels = pd.read_csv(io.BytesIO(data))
    assert sorted(labels["customer_id"]) == sorted([ids[1], ids[2]])
    assert set(labels.columns) == {"customer_id", "churned", "label_time"}
    feeder({**waiting, "waiting_for": "labels"})
    assert len(uploads) == 1  # nobody new was scored: no empty file
    fake.load.responses.append(loadgen.Response(now + 1, now + 1, 5.0, 200, "green", (ids[5],)))
    feeder({**waiting, "waiting_for": "labels"})
    assert len(uploads) == 2 and list(pd.read_csv(io.BytesIO(uploads[1][2]))["customer_id"]) == [ids[5]]


def test_the_live_view_shows_the_online_accuracy_gate_waiting_for_labels() -> None:
    from rich.console import Console

    view = demo.View(
        [demo.Outcome("worse-live-accuracy", "x")],
        current="worse-live-accuracy",
        rollout={
            "stage": "ramp",
            "waiting_for": "labels",
            "labels_deadline": "2026-01-01T00:02:00+00:00",
            "online_accuracy": {"verdict": "need_more_data", "n": 40, "needed": 100, "reasons": []},
        },
    )
    console = Console(record=True, width=200)
    console.print(view.render())
    text = console.export_text()
    assert "online accuracy: need_more_data green 40/100 labelled" in text
    assert "waiting for labels until 2026-01-01T00:02:00" in text


# --------------------------------------------------------------------------- slow: the real stack


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from devstack.stack import running_stack

    state = tmp_path_factory.mktemp("ml-gates-e2e") / "state"
    with running_stack(
        state,
        devhost_port=procs.free_port(),
        azurite_port=procs.free_port(),
        endpoint_port=procs.free_port(),
        **demo.stack_settings(code_version="e2e-ml-gates"),  # exactly what `make demo` starts
    ) as stack:
        view = demo.View([])
        play = demo.Demo(stack, view, rps=50, rollouts_only=True)  # its scenarios are judged in rollouts
        try:
            first = play.first_model()
            first_id = view.run_id
            worse = play.worse_live_accuracy()
            detail = play.api.get(f"lifecycles/{view.run_id}")
            model = play.api.model()
            scored = play.batch_scoring()
            by_id = play.score_by_id()
            yield {
                "by_id": by_id,
                "play": play,
                "api": play.api,
                "first_id": first_id,
                "scored": scored,
                "stack": stack,
                "first": first,
                "worse": worse,
                "detail": detail,
                "model": model,
                "load": play.load.result(),
                "population": set(play.population.index),
            }
        finally:
            play.stop_load()


@pytest.mark.slow
@pytest.mark.e2e
def test_the_online_accuracy_gate_rolls_back_a_challenger_that_is_worse_on_live_labels(
    played: dict[str, Any],
) -> None:
    detail, model = played["detail"], played["model"]
    assert detail["status"] == "rolled_back", played["worse"]
    assert detail["decision"]["verdict"] == "promote"  # it won the offline evaluation
    gates = detail["gates"]
    online = [g for g in gates if g["kind"] == "online_accuracy_evaluated"]
    traffic = [g for g in gates if g["kind"] == "gate_evaluated"]
    # the evidence says fail; the one decision function turns it into the rollback recorded below
    assert online and online[-1]["verdict"] == "fail"
    last = online[-1]
    assert last["green_value"] < last["blue_value"] and last["label_files"] >= 1
    assert last["green_labelled"] > 0 and last["blue_labelled"] > 0
    assert traffic and all(g["verdict"] != "fail" for g in traffic)  # errors and latency equal
    [rolled] = [d for d in detail["decisions"] if d["kind"] == "rolled_back"]
    assert (
        "online accuracy fail" in rolled["reason"]
    )  # e.g. "rolled back at 50% live: online accuracy fail: ..."
    # the champion is still the first model, and its deployment serves 100% again
    assert model["champion"]["version"] == detail["champion_version"] != detail["challenger_version"]
    serving = {k: v for k, v in model["endpoint"]["traffic"].items() if v}
    [(blue, share)] = serving.items()
    assert share == 100 and model["endpoint"]["deployments"][blue]["version"] == detail["champion_version"]


@pytest.mark.slow
@pytest.mark.e2e
def test_the_endpoint_logged_each_scored_customer_id_and_the_model_ignored_the_extra_column(
    played: dict[str, Any],
) -> None:
    load, stack = played["load"], played["stack"]
    assert load.ok > 0 and load.errors / max(len(load.responses), 1) < 0.01
    with sqlite3.connect(Path(stack.env["TRAFFIC_DB_PATH"])) as conn:
        logged = {row[0] for row in conn.execute("SELECT DISTINCT EntityId FROM EndpointPredictionLog")}
    # this scenario's customers, by the id the load generator sent with each row
    assert len(played["population"] & logged) >= 100
    assert "rolled_back" in played["worse"] and "online accuracy fail" in played["worse"]


@pytest.mark.slow
@pytest.mark.e2e
def test_an_upload_under_the_scoring_prefix_is_scored_by_the_champion(played: dict[str, Any]) -> None:
    api = played["api"]
    assert "promoted" in played["first"]
    assert ": scored; 200 predictions by churn-v1 (model_version ['1'])" in played["scored"]
    runs = api.get("batch-runs", model="churn")["runs"]
    assert [r["status"] for r in runs] == ["scored"]
    detail = api.get(f"batch-runs/{runs[0]['id']}")
    kinds = [f["kind"] for f in detail["facts"]]
    assert kinds == ["batch_scoring_started", "batch_scored"]
    assert detail["orchestration"]["runtime_status"] == "Completed"
    facts = [e.get("kind") for e in api.get(f"lifecycles/{played['first_id']}")["steps"]]
    assert "batch_smoke_tested" in facts


@pytest.mark.slow
@pytest.mark.e2e
def test_the_champion_answers_by_customer_id_alone_from_the_version_it_was_trained_on(
    played: dict[str, Any],
) -> None:
    """score-by-id: the same predictions as with the features, a per-row error for an unknown id, and
    the version the first champion reads is its own, not the newer one the rolled-back challenger
    materialized."""
    play, detail = played["play"], played["detail"]
    assert "the same predictions as with their features" in played["by_id"]
    assert "unknown id -> 424 [(1, 'C-nobody', 'UnknownEntity')]" in played["by_id"]
    features = play.api.model()["online_features"]
    first = play.api.get(f"lifecycles/{played['first_id']}")
    assert features["serving_version"] == first["data_version"] != detail["data_version"]
    assert features["latest_version"] == detail["data_version"]  # worse-live-accuracy's, materialized too
