"""The lifecycle orchestration, run for real on devhost's durable engine (in-process) with fakes
behind every port: it reads as the process it runs, so these tests read as its outcomes."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import wiring
from core.intake.payloads import LifecycleInput
from core.kernel.payload import BlobRef
from core.kernel.policy import load_policy
from core.kernel.settings import Settings
from core.run.facts import StepEntered, read_fact
from core.run.status import read_progress
from devhost.durable.clock import TimeSkippingClock
from devhost.durable.engine import DurableEngine
from samples.churn.data import corrupt, generate, to_csv_bytes
from tests.fakes import FakeAdapters, FakeJob, evaluation_metrics

ROOT = Path(__file__).resolve().parents[2]


def _policy(**training: Any):
    """The sample policy without its rollout: these tests end at registration (test_rollout.py rolls out)."""
    policy = load_policy(ROOT / "samples" / "churn" / "policy.yaml")
    return policy.model_copy(
        update={
            "training": policy.training.model_copy(update={"poll_seconds": 1, **training}),
            "rollout": policy.rollout.model_copy(update={"enabled": False}),
        }
    )


class World:
    """Fakes plus knobs: what AUC the evaluation job reports for each model."""

    def __init__(self, tmp: Path, **training: Any) -> None:
        self.fakes = FakeAdapters()
        self.challenger_auc = 0.80
        self.champion_auc: float | None = None
        self.fakes.training_jobs.on_submit = self._on_submit
        self.fakes.training_jobs.polls_to_finish = 2
        self.settings = Settings(local_state_dir=tmp / "state")
        self.policy = _policy(**training)

    def _on_submit(self, job: FakeJob) -> None:
        if job.tags.get("stage") == "evaluate":
            champion = self.champion_auc if "champion" in job.inputs else None
            job.files["metrics"] = evaluation_metrics(self.challenger_auc, champion)
        job.metrics = {"train_auc": 0.9}

    def land(self, path: str, data: bytes) -> BlobRef:
        self.fakes.data_lake.put("raw", path, data)
        return BlobRef(container="raw", path=path)

    def champion(self, auc: float) -> None:
        mv = self.fakes.registry.register("churn", "file:///champion/model", {"lifecycle_id": "earlier"})
        self.fakes.registry.set_champion("churn", mv.version)
        self.champion_auc = auc


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    with wiring.override(
        settings=w.settings, policies={"churn": w.policy}, code_version="abc123", **w.fakes.as_overrides()
    ):
        yield w


@functools.cache
def _functions() -> list[Any]:
    """The app's functions (the SDK lets get_functions() run once per app)."""
    from tests.conftest import app_functions

    return app_functions()


def run(tmp_path: Path, scenario: Callable[[DurableEngine], Any]) -> Any:
    async def main() -> Any:
        engine = DurableEngine(
            db_path=tmp_path / "hub.db",
            functions=_functions(),
            activity_concurrency=4,
            clock=TimeSkippingClock(),
        )
        await engine.start("http://127.0.0.1:7071")
        try:
            return await scenario(engine)
        finally:
            await engine.stop()

    return asyncio.run(main())


def lifecycle(
    trigger: LifecycleInput, instance_id: str = "run-1", timeout: float = 30
) -> Callable[[DurableEngine], Any]:
    async def scenario(engine: DurableEngine) -> dict:
        await engine.start_new("lifecycle", instance_id=instance_id, input=trigger.dump())
        return await engine.wait_for(instance_id, timeout)

    return scenario


def _good(world: World, path: str = "churn/2025/a.csv", seed: int = 1) -> LifecycleInput:
    ref = world.land(path, to_csv_bytes(generate(400, seed)))
    return LifecycleInput(
        model="churn", source="blob", request_ids=["req-1"], event_ids=["evt-1"], blobs=[ref]
    )


def test_the_first_model_is_trained_evaluated_promoted_and_registered_with_its_lineage(world, tmp_path):
    status = run(tmp_path, lifecycle(_good(world)))
    assert status["runtimeStatus"] == "Completed", status
    out = status["output"]
    assert out["status"] == "registered" and out["challenger_version"] == "1"
    assert out["decision"]["verdict"] == "promote" and out["decision"]["champion"] is None

    tags = world.fakes.registry.get("churn", "1").tags
    assert tags["lifecycle_id"] == "run-1"
    assert tags["data_version"] == out["data_version"]
    assert tags["code_version"] == "abc123"
    assert tags["policy_hash"] == world.policy.hash
    assert tags["trigger_event_ids"] == "evt-1" and tags["trigger_request_ids"] == "req-1"
    assert tags["train_job"] == out["job_name"] and tags["evaluation_verdict"] == "promote"
    assert world.fakes.registry.champion("churn") is None  # the champion moves only with a rollout

    record = world.fakes.ledger.get_run("run-1")
    assert (record.status, record.stage, record.challenger_version) == ("registered", "done", "1")
    assert record.decision["verdict"] == "promote"
    assert status["customStatus"]["decision"]["challenger"] == 0.80
    assert "mllifecycle.registered" in world.fakes.events.types()


def test_every_ledger_entry_is_a_typed_fact_and_the_status_reads_as_run_progress(world, tmp_path):
    status = run(tmp_path, lifecycle(_good(world)))
    facts = [read_fact(e.data) for e in world.fakes.ledger.entries("run-1")]
    assert None not in facts
    assert [f.stage for f in facts if isinstance(f, StepEntered)] == [
        "ingest",
        "train",
        "evaluate",
        "register",
        "done",
    ]
    progress = read_progress(status["customStatus"])
    assert progress is not None and (progress.stage, progress.status) == ("done", "registered")


def test_both_jobs_get_the_staged_data_version_and_the_challenger_model(world, tmp_path):
    status = run(tmp_path, lifecycle(_good(world)))
    dv = status["output"]["data_version"]
    jobs = world.fakes.training_jobs.jobs
    train = next(j for j in jobs.values() if j.tags["stage"] == "train")
    evaluate = next(j for j in jobs.values() if j.tags["stage"] == "evaluate")
    assert Path(train.inputs["train_data"], "part-000.parquet").is_file()
    assert train.inputs["train_data"].endswith(f"training/churn/{dv}/train")
    assert evaluate.inputs["eval_data"] == train.inputs["eval_data"]
    assert evaluate.inputs["challenger"] == train.outputs["model"]
    assert "champion" not in evaluate.inputs
    assert train.experiment == "churn-lifecycle" and train.compute == "gpu-cluster"
    assert train.job_yaml.name == "train.yml" and evaluate.job_yaml.name == "evaluate.yml"


def test_a_challenger_that_beats_the_champion_is_registered_with_the_gain(world, tmp_path):
    world.champion(0.70)
    world.challenger_auc = 0.78
    status = run(tmp_path, lifecycle(_good(world)))
    decision = status["output"]["decision"]
    assert status["output"]["status"] == "registered"
    assert decision["verdict"] == "promote" and decision["abs_gain"] == pytest.approx(0.08)
    evaluate = next(j for j in world.fakes.training_jobs.jobs.values() if j.tags["stage"] == "evaluate")
    assert evaluate.inputs["champion"] == "file:///champion/model"
    assert world.fakes.ledger.get_run("run-1").champion_version == "1"


def test_no_real_gain_keeps_the_champion_and_registers_nothing(world, tmp_path):
    world.champion(0.800)
    world.challenger_auc = 0.802  # below the policy's min_abs_gain of 0.02
    status = run(tmp_path, lifecycle(_good(world)))
    out = status["output"]
    assert out["status"] == "kept"
    assert out["decision"]["verdict"] == "keep"
    assert any("min_abs_gain" in r for r in out["reasons"])
    assert [v.version for v in world.fakes.registry.versions("churn")] == ["1"]
    record = world.fakes.ledger.get_run("run-1")
    assert record.status == "kept" and record.decision["champion"] == 0.8
    assert status["customStatus"]["decision"]["abs_gain"] == pytest.approx(0.002)
    assert [e.data["verdict"] for e in world.fakes.ledger.entries("run-1", "decision")] == ["keep"]


def test_malformed_data_is_quarantined_and_the_run_ends_rejected_without_training(world, tmp_path):
    ref = world.land("churn/bad.csv", to_csv_bytes(corrupt(generate(400, 4), "bad_types")))
    status = run(tmp_path, lifecycle(LifecycleInput(model="churn", source="blob", blobs=[ref])))
    out = status["output"]
    assert status["runtimeStatus"] == "Completed"
    assert out["status"] == "rejected"
    assert any("tenure_months.dtype" in r for r in out["reasons"])
    assert world.fakes.training_jobs.submissions == []
    assert world.fakes.data_lake.paths("training") == []
    assert "churn/run-1/report.json" in world.fakes.data_lake.paths("quarantine")
    assert world.fakes.ledger.get_run("run-1").status == "rejected"
    assert status["customStatus"]["report"].endswith("churn/run-1/report.json")


def test_an_abort_during_training_cancels_the_job_and_ends_the_run_aborted(world, tmp_path):
    world.fakes.training_jobs.polls_to_finish = 10_000

    async def scenario(engine: DurableEngine) -> dict:
        await engine.start_new("lifecycle", instance_id="run-1", input=_good(world).dump())
        for _ in range(200):
            s = await engine.get_status("run-1")
            if (s.get("customStatus") or {}).get("stage") == "train" and world.fakes.training_jobs.jobs:
                break
            await asyncio.sleep(0.05)
        await engine.raise_event("run-1", "abort", {"by": "operator", "reason": "bad data upstream"})
        return await engine.wait_for("run-1", 20)

    status = run(tmp_path, scenario)
    assert status["output"]["status"] == "aborted"
    assert world.fakes.training_jobs.cancelled == [status["customStatus"]["job"]]
    entry = world.fakes.ledger.entries("run-1", "decision")[-1]
    assert entry.data["abort"] == {"by": "operator", "reason": "bad data upstream"}


def test_training_past_its_deadline_is_canceled_and_the_run_fails(tmp_path):
    w = World(tmp_path, deadline_seconds=2)
    w.fakes.training_jobs.polls_to_finish = 10_000
    with wiring.override(
        settings=w.settings, policies={"churn": w.policy}, code_version="x", **w.fakes.as_overrides()
    ):
        status = run(tmp_path, lifecycle(_good(w)))
    assert status["output"]["status"] == "failed"
    assert "deadline_seconds=2" in status["output"]["reasons"][0]
    assert len(w.fakes.training_jobs.cancelled) == 1


def test_a_failed_training_job_fails_the_run_with_the_jobs_message(world, tmp_path):
    world.fakes.training_jobs.final_state = "failed"
    status = run(tmp_path, lifecycle(_good(world)))
    assert status["output"]["status"] == "failed"
    assert "ended failed" in status["output"]["reasons"][0]
    assert world.fakes.registry.versions("churn") == []


def test_each_job_is_submitted_exactly_once_across_replays(world, tmp_path):
    run(tmp_path, lifecycle(_good(world)))
    submissions = world.fakes.training_jobs.submissions
    assert len(submissions) == 2 and len(set(submissions)) == 2


def test_a_lost_event_does_not_fail_the_run(world, tmp_path):
    world.fakes.events.fail_next = ConnectionError("topic unreachable")
    status = run(tmp_path, lifecycle(_good(world)))
    assert status["output"]["status"] == "registered"


def test_an_unknown_model_fails_the_instance_with_an_actionable_message(world, tmp_path):
    status = run(tmp_path, lifecycle(LifecycleInput(model="fraud")))
    assert status["runtimeStatus"] == "Failed"
    assert "no lifecycle policy for model 'fraud'" in json.dumps(status["output"])
