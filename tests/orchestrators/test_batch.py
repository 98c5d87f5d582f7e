"""The batch orchestrations, run on devhost's durable engine (in-process, time skipped) with fakes
behind every port: a new champion becomes the batch default only after its smoke passed, a failed
smoke keeps the previous default, old deployments are pruned, an online rollback restores the
default; a scoring run validates its input, scores it (A/B across two deployments when the policy
says so) and writes predictions with the model version and run id, and bad input is quarantined."""

from __future__ import annotations

import asyncio
import functools
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import wiring
from core.batch.payloads import BatchDeployInput, BatchScoreInput, batch_index_id, batch_run_id
from core.kernel.payload import BlobRef
from core.kernel.policy import BatchAbPolicy, BatchPolicy, load_policy
from core.kernel.ports import RunRecord
from core.kernel.settings import Settings
from core.run.facts import read_fact
from core.run.runs import RunRules
from devhost.durable.clock import TimeSkippingClock
from devhost.durable.engine import DurableEngine
from samples.churn.data import generate
from tests.fakes import FakeAdapters

ROOT = Path(__file__).resolve().parents[2]
EVAL = BlobRef(container="training", path="churn/dv-1/eval/")
ENDPOINT = "churn-batch"


class World:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.fakes = FakeAdapters()
        self.settings = Settings(local_state_dir=tmp / "state")
        policy = load_policy(ROOT / "samples" / "churn" / "policy.yaml")
        self.batch = BatchPolicy(
            endpoint=ENDPOINT,
            scoring_prefix="churn-scoring/",
            smoke_rows=5,
            keep_last=2,
            poll_seconds=1,
            deadline_seconds=60,
            transform="samples.churn.features:to_features",
        )
        self.policy = policy.model_copy(update={"batch": self.batch})
        buf = io.BytesIO()
        generate(50, 3).to_parquet(buf)
        self.fakes.data_lake.put("training", "churn/dv-1/eval/part-000.parquet", buf.getvalue())
        self.fakes.ledger.put_run(
            RunRecord(
                run_id="run-1",
                model="churn",
                status="promoted",
                stage="done",
                lineage={"rules": RunRules.live(self.policy).snapshot()},
            )
        )
        for n in (1, 2, 3):
            self.fakes.registry.register("churn", f"file:///models/v{n}", {"lifecycle_id": f"run-{n}"})

    def use(self, **changes: Any) -> None:
        self.batch = self.batch.model_copy(update=changes)
        self.policy = self.policy.model_copy(update={"batch": self.batch})

    def deploy_input(self, version: str = "2", mode: str = "deploy") -> dict:
        return BatchDeployInput(
            run_id="run-1", model="churn", version=version, batch=self.batch, eval_ref=EVAL, mode=mode
        ).dump()

    def upload(self, path: str, frame: pd.DataFrame) -> BlobRef:
        self.fakes.data_lake.put("raw", path, frame.to_csv(index=False).encode())
        return BlobRef(container="raw", path=path, etag="e1")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    with wiring.override(settings=w.settings, policies={"churn": w.policy}, **w.fakes.as_overrides()):
        yield w


@pytest.fixture
def ab_world(world: World) -> Iterator[World]:
    world.use(ab=BatchAbPolicy(key="customer_id", percent=30))
    with wiring.override(policies={"churn": world.policy}):
        yield world


@functools.cache
def _functions() -> list[Any]:
    from tests.conftest import app_functions

    return app_functions()


def run(tmp_path: Path, name: str, instance: str, payload: dict, timeout: float = 60) -> dict:
    async def main() -> dict:
        engine = DurableEngine(
            db_path=tmp_path / "hub.db",
            functions=_functions(),
            activity_concurrency=2,
            clock=TimeSkippingClock(),
        )
        await engine.start("http://127.0.0.1:7071")
        try:
            await engine.start_new(name, instance_id=instance, input=payload)
            return await engine.wait_for(instance, timeout)
        finally:
            await engine.stop()

    return asyncio.run(main())


def facts(world: World, run_id: str) -> list[Any]:
    found = [read_fact(e.data) for e in world.fakes.ledger.entries(run_id)]
    assert None not in found
    return found


def kinds(world: World, run_id: str) -> list[str]:
    return [f.kind for f in facts(world, run_id)]


# --------------------------------------------------------------------------- batch_deploy


def test_the_first_champion_is_smoke_tested_then_becomes_the_batch_default(world, tmp_path):
    status = run(tmp_path, "batch_deploy", "run-1-batch", world.deploy_input("2"))
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"]["status"] == "deployed"
    ep = world.fakes.batch_endpoints.get(ENDPOINT)
    assert ep.default_deployment == "churn-v2"
    smoke = [j for n, j in world.fakes.batch_endpoints.jobs.items() if "smoke" in n]
    assert len(smoke) == 1 and smoke[0]["deployment"] == "churn-v2" and smoke[0]["rows"] == 5
    assert "churned" not in smoke[0]["columns"]  # features only, encoded by the policy's transform
    assert "tenure_months" in smoke[0]["columns"] and "contract=one-year" in smoke[0]["columns"]
    assert kinds(world, "run-1") == ["batch_deployment_ready", "batch_smoke_tested", "batch_default_decided"]
    decided = facts(world, "run-1")[-1]
    assert decided.verdict == "switch" and decided.previous_default is None
    assert "mllifecycle.batch_deployed" in world.fakes.events.types()


def test_a_failed_smoke_leaves_the_previous_default(world, tmp_path):
    world.fakes.batch_endpoints.add(ENDPOINT, "churn-v1", "1", default=True)
    world.fakes.batch_endpoints.broken_versions.add("2")  # scores NaN
    status = run(tmp_path, "batch_deploy", "run-1-batch", world.deploy_input("2"))
    assert status["output"]["status"] == "kept", status
    assert world.fakes.batch_endpoints.get(ENDPOINT).default_deployment == "churn-v1"
    assert world.fakes.batch_endpoints.defaults == []  # never switched, not even for a moment
    smoke = next(f for f in facts(world, "run-1") if f.kind == "batch_smoke_tested")
    assert not smoke.passed and "not finite" in smoke.reasons[0]
    assert facts(world, "run-1")[-1].verdict == "keep"
    assert "mllifecycle.batch_default_kept" in world.fakes.events.types()


def test_old_deployments_are_pruned_but_never_the_previous_default(world, tmp_path):
    eps = world.fakes.batch_endpoints
    for age, version in enumerate(["7", "8", "9"]):
        eps.add(ENDPOINT, f"churn-v{version}", version, age=age)
    eps.add(ENDPOINT, "churn-v1", "1", default=True, age=0)  # the oldest, but the current default
    status = run(tmp_path, "batch_deploy", "run-1-batch", world.deploy_input("2"))
    assert status["output"]["status"] == "deployed", status
    left = set(eps.get(ENDPOINT).deployments)
    # keep_last=2 newest (v2, v9) + the previous default (v1), which a rollback would restore
    assert left == {"churn-v2", "churn-v9", "churn-v1"}
    assert sorted(eps.deleted) == ["churn-v7", "churn-v8"]
    assert facts(world, "run-1")[-1].pruned == ["churn-v7", "churn-v8"]


def test_an_online_rollback_restores_the_batch_default_if_it_moved(world, tmp_path):
    eps = world.fakes.batch_endpoints
    eps.add(ENDPOINT, "churn-v1", "1", age=0)
    eps.add(ENDPOINT, "churn-v3", "3", default=True, age=1)  # moved away from the champion (v1)
    status = run(tmp_path, "batch_deploy", "run-1-batch", world.deploy_input("1", mode="restore"))
    assert status["output"]["status"] == "restored", status
    assert eps.get(ENDPOINT).default_deployment == "churn-v1"
    restored = facts(world, "run-1")[-1]
    assert restored.verdict == "restore" and restored.previous_default == "churn-v3"
    assert "mllifecycle.batch_default_restored" in world.fakes.events.types()


def test_a_rollback_leaves_a_default_that_serves_the_champion_alone(world, tmp_path):
    world.fakes.batch_endpoints.add(ENDPOINT, "churn-v1", "1", default=True)
    status = run(tmp_path, "batch_deploy", "run-1-batch", world.deploy_input("1", mode="restore"))
    assert status["output"]["status"] == "unchanged", status
    assert world.fakes.batch_endpoints.defaults == []


def test_a_batch_deploy_failure_is_recorded_and_does_not_fail_the_orchestration(world, tmp_path):
    status = run(tmp_path, "batch_deploy", "run-1-batch", world.deploy_input("42"))  # no such version
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"]["status"] == "failed" and "42" in status["output"]["error"]
    assert facts(world, "run-1")[-1].kind == "batch_deploy_failed"
    assert "mllifecycle.batch_deploy_failed" in world.fakes.events.types()


# --------------------------------------------------------------------------- batch_score


def _features(rows: int, seed: int = 5) -> pd.DataFrame:
    return generate(rows, seed).drop(columns=["churned"])


def score_input(world: World, ref: BlobRef, key: str = "blob:1") -> tuple[str, dict]:
    run_id = batch_run_id("churn", key)
    return run_id, BatchScoreInput(
        run_id=run_id, model="churn", source="blob", request_id="req-1", dedupe_key=key, blobs=[ref]
    ).dump()


def test_a_landed_file_is_scored_by_the_default_and_predictions_carry_version_and_run_id(world, tmp_path):
    world.fakes.batch_endpoints.add(ENDPOINT, "churn-v2", "2", default=True)
    frame = _features(40)
    run_id, payload = score_input(world, world.upload("churn-scoring/day-1.csv", frame))
    status = run(tmp_path, "batch_score", run_id, payload)
    assert status["output"]["status"] == "scored", status
    lake = world.fakes.data_lake
    assert lake.paths("predictions") == [f"churn/{run_id}/predictions-a.csv"]
    out = pd.read_csv(io.BytesIO(lake.read("predictions", f"churn/{run_id}/predictions-a.csv")))
    assert len(out) == 40
    assert set(out["model_version"].astype(str)) == {"2"} and set(out["run_id"]) == {run_id}
    assert out["customer_id"].tolist() == frame["customer_id"].tolist()  # joined back in order
    scored = facts(world, run_id)[-1]
    assert (
        scored.kind == "batch_scored" and scored.rows_scored == 40 and scored.arms[0].deployment == "churn-v2"
    )
    index = facts(world, batch_index_id("churn"))
    assert [f.kind for f in index] == ["batch_scoring_started", "batch_scored"]
    assert "mllifecycle.batch_scored" in world.fakes.events.types()


def test_an_ab_policy_splits_rows_by_key_across_the_default_and_the_newest_other_deployment(
    ab_world, tmp_path
):
    world = ab_world
    world.fakes.batch_endpoints.add(ENDPOINT, "churn-v1", "1", default=True, age=0)
    world.fakes.batch_endpoints.add(ENDPOINT, "churn-v2", "2", age=1)
    run_id, payload = score_input(world, world.upload("churn-scoring/day-2.csv", _features(200)))
    status = run(tmp_path, "batch_score", run_id, payload)
    assert status["output"]["status"] == "scored", status
    scored = facts(world, run_id)[-1]
    arms = {a.arm: a for a in scored.arms}
    assert arms["a"].deployment == "churn-v1" and arms["b"].deployment == "churn-v2"
    assert arms["a"].rows + arms["b"].rows == 200 and 30 <= arms["b"].rows <= 90  # ~30% of 200
    b = pd.read_csv(
        io.BytesIO(world.fakes.data_lake.read("predictions", f"churn/{run_id}/predictions-b.csv"))
    )
    assert set(b["model_version"].astype(str)) == {"2"}


def test_bad_input_is_quarantined_with_a_report_and_nothing_is_scored(world, tmp_path):
    world.fakes.batch_endpoints.add(ENDPOINT, "churn-v2", "2", default=True)
    frame = _features(10)
    frame.loc[3, "age"] = 200  # the contract allows 18-90
    run_id, payload = score_input(world, world.upload("churn-scoring/bad.csv", frame))
    status = run(tmp_path, "batch_score", run_id, payload)
    assert status["output"]["status"] == "rejected", status
    assert world.fakes.batch_endpoints.jobs == {}
    quarantined = world.fakes.data_lake.paths("quarantine")
    assert f"churn/{run_id}/report.json" in quarantined and f"churn/{run_id}/bad.csv" in quarantined
    scored = facts(world, run_id)[-1]
    assert scored.status == "rejected" and any("age" in r for r in scored.reasons)
    assert "mllifecycle.batch_rejected" in world.fakes.events.types()


def test_scoring_before_any_champion_is_deployed_fails_with_the_reason(world, tmp_path):
    run_id, payload = score_input(world, world.upload("churn-scoring/early.csv", _features(5)))
    status = run(tmp_path, "batch_score", run_id, payload)
    assert status["output"]["status"] == "failed"
    assert "no default deployment" in facts(world, run_id)[-1].reasons[0]


def test_a_batch_job_still_running_at_the_batch_deadline_fails_the_run_with_the_reason(world, tmp_path):
    world.fakes.batch_endpoints.add(ENDPOINT, "churn-v2", "2", default=True)
    world.fakes.batch_endpoints.polls_to_finish = 10_000
    world.use(poll_seconds=20, deadline_seconds=50)
    run_id, payload = score_input(world, world.upload("churn-scoring/slow.csv", _features(5)))
    with wiring.override(policies={"churn": world.policy}):
        status = run(tmp_path, "batch_score", run_id, payload)
    assert status["output"]["status"] == "failed", status
    [reason] = facts(world, run_id)[-1].reasons
    assert reason == f"batch job {run_id}-a ended failed: deadline_seconds reached"
    assert world.fakes.batch_endpoints.jobs[f"{run_id}-a"]["polls"] == 4  # submit, at 20 s, 40 s and 50 s
