"""The rollout sub-orchestration, run on devhost's durable engine (in-process) with fakes behind every
port and compressed times: a healthy challenger ramps to 100% and becomes champion, a bad one is
rolled back to the exact split that was live before, an approval that nobody gives is a reject,
and the first model of an endpoint goes straight to 100% behind its smoke test."""

from __future__ import annotations

import asyncio
import functools
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import wiring
from core.kernel.payload import BlobRef
from core.kernel.policy import ApprovalPolicy, MirrorPolicy, load_policy
from core.kernel.ports import DeploymentInfo, DeploymentStats, RunRecord
from core.kernel.settings import Settings
from core.rollout.payloads import RolloutInput
from core.run.facts import StepEntered, read_fact
from core.run.runs import RunRules
from core.run.status import read_progress
from devhost.durable.clock import TimeSkippingClock
from devhost.durable.engine import DurableEngine
from samples.churn.data import generate
from tests.fakes import FakeAdapters

ROOT = Path(__file__).resolve().parents[2]
EVAL = BlobRef(container="training", path="churn/dv-1/eval/")


def healthy(name: str, n: int) -> DeploymentStats:
    return DeploymentStats(name, n, n // 100, 0, 50.0, 114.0, 160.0, n // 20, 114.0)


class World:
    def __init__(self, tmp: Path) -> None:
        self.fakes = FakeAdapters()
        self.settings = Settings(local_state_dir=tmp / "state")
        policy = load_policy(ROOT / "samples" / "churn" / "policy.yaml")
        rollout = policy.rollout.model_copy(
            update={
                "enabled": True,
                "mirror": None,
                "min_bake_seconds": 1,
                "step_deadline_seconds": 30,
                "approval": None,
                "smoke_rows": 5,
            }
        )
        self.policy = policy.model_copy(update={"rollout": rollout})
        buf = io.BytesIO()
        generate(50, 3).to_parquet(buf)
        self.fakes.data_lake.put("training", "churn/dv-1/eval/part-000.parquet", buf.getvalue())
        self.fakes.ledger.put_run(
            RunRecord(
                run_id="run-1",
                model="churn",
                status="registered",
                stage="register",
                lineage={"rules": RunRules.live(policy).snapshot()},  # as lifecycle_start records it
            )
        )
        self.fakes.registry.register("churn", "file:///models/v1", {"lifecycle_id": "earlier"})
        self.fakes.registry.register("churn", "file:///models/v2", {"lifecycle_id": "run-1"})
        self.fakes.traffic_stats.stats = {"blue": healthy("blue", 27000), "green": healthy("green", 3000)}

    def rollout(self, **changes: Any) -> None:
        self.policy = self.policy.model_copy(
            update={"rollout": self.policy.rollout.model_copy(update=changes)}
        )

    def live_champion(self, traffic: dict[str, int]) -> None:
        eps = self.fakes.endpoints
        ep = eps.ensure_endpoint("churn-endpoint")
        deployments = {n: DeploymentInfo(n, "churn", "1", "succeeded") for n in traffic}
        eps.endpoints["churn-endpoint"] = type(ep)(ep.name, ep.scoring_uri, {}, {}, deployments)
        eps.set_traffic("churn-endpoint", traffic, {})
        eps.traffic_history.clear()
        self.fakes.registry.set_champion("churn", "1")

    def input(self) -> dict:
        return RolloutInput(
            run_id="run-1",
            model="churn",
            challenger_version="2",
            champion_version="1",
            policy=self.policy.model_dump(mode="json"),
            policy_hash=self.policy.hash,
            eval_ref=EVAL,
        ).dump()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    with wiring.override(settings=w.settings, policies={"churn": w.policy}, **w.fakes.as_overrides()):
        yield w


@functools.cache
def _functions() -> list[Any]:
    from tests.conftest import app_functions

    return app_functions()


def run_rollout(
    tmp_path: Path, world: World, events: list[tuple[float, str]] = (), timeout: float = 60
) -> dict:
    async def main() -> dict:
        engine = DurableEngine(
            db_path=tmp_path / "hub.db",
            functions=_functions(),
            activity_concurrency=2,
            clock=TimeSkippingClock(),
        )
        await engine.start("http://127.0.0.1:7071")
        try:
            await engine.start_new("rollout", instance_id="run-1-rollout", input=world.input())
            for delay, name in events:
                await asyncio.sleep(delay)
                await engine.raise_event("run-1-rollout", name, {"by": "test"})
            return await engine.wait_for("run-1-rollout", timeout)
        finally:
            await engine.stop()

    return asyncio.run(main())


def test_a_healthy_challenger_ramps_through_mirror_and_every_step_and_becomes_champion(world, tmp_path):
    world.rollout(mirror=MirrorPolicy(percent=20, bake_seconds=1))
    world.live_champion({"blue": 100})
    status = run_rollout(tmp_path, world)
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"]["status"] == "promoted"

    history = world.fakes.endpoints.traffic_history
    assert history[0] == ({"blue": 100, "green": 0}, {"green": 20})  # mirror phase
    assert [t.get("green") for t, _ in history] == [0, 10, 50, 100]
    ep = world.fakes.endpoints.get("churn-endpoint")
    assert ep.traffic == {"green": 100} and "blue" not in ep.deployments  # blue retired
    assert world.fakes.registry.champion("churn").version == "2"
    gates = world.fakes.ledger.entries("run-1", "gate")
    assert {g.data["percent"] for g in gates} == {20, 10, 50} and all(
        g.data["verdict"] == "pass" for g in gates
    )
    assert all(g.data["query"] and g.data["tests"] for g in gates)
    assert len(world.fakes.ledger.entries("run-1", "traffic")) == 4
    assert world.fakes.ledger.get_run("run-1").status == "promoted"
    smoke = world.fakes.endpoints.invocations[0]
    assert smoke[1] == "green" and len(smoke[2]["input_data"]["data"]) == 5
    assert "churned" not in smoke[2]["input_data"]["columns"]  # the label is not a feature
    assert "mllifecycle.promoted" in world.fakes.events.types()
    facts = [read_fact(e.data) for e in world.fakes.ledger.entries("run-1")]
    assert None not in facts
    steps = [f.stage for f in facts if isinstance(f, StepEntered)]
    assert steps == ["deploy", "mirror", "ramp", "ramp"]  # the mirror phase is its own step
    assert read_progress(status["customStatus"]).status == "promoted"


def test_a_failing_challenger_is_rolled_back_to_the_exact_split_before_and_deleted(world, tmp_path):
    world.live_champion({"blue": 90, "legacy": 10})
    world.fakes.traffic_stats.stats["green"] = DeploymentStats(
        "green", 600, 30, 0, 50.0, 114.0, 160.0, 30, 114.0
    )
    status = run_rollout(tmp_path, world)
    assert status["output"]["status"] == "rolled_back", status
    history = world.fakes.endpoints.traffic_history
    assert history[0] == ({"blue": 81, "legacy": 9, "green": 10}, {})
    assert history[-1] == ({"blue": 90, "legacy": 10, "green": 0}, {})
    ep = world.fakes.endpoints.get("churn-endpoint")
    assert ep.traffic == {"blue": 90, "legacy": 10} and "green" not in ep.deployments
    assert world.fakes.registry.champion("churn").version == "1"
    gate = world.fakes.ledger.entries("run-1", "gate")[-1].data
    assert gate["verdict"] == "fail" and gate["green_requests"] == 600
    assert world.fakes.ledger.get_run("run-1").status == "rolled_back"
    assert status["customStatus"]["gate"]["verdict"] == "fail"


def test_an_approval_nobody_gives_times_out_into_a_reject_and_a_rollback(world, tmp_path):
    world.rollout(approval=ApprovalPolicy(before_step=50, timeout_seconds=1))
    world.live_champion({"blue": 100})
    status = run_rollout(tmp_path, world)
    assert status["output"]["status"] == "rolled_back", status
    assert status["output"]["reasons"] == ["approval: timeout"]
    assert [t.get("green") for t, _ in world.fakes.endpoints.traffic_history] == [10, 0]
    assert world.fakes.endpoints.get("churn-endpoint").traffic == {"blue": 100}


def test_an_operator_approval_lets_the_ramp_continue(world, tmp_path):
    world.rollout(approval=ApprovalPolicy(before_step=50, timeout_seconds=60))
    world.live_champion({"blue": 100})
    status = run_rollout(tmp_path, world, events=[(4.0, "approve")])
    assert status["output"]["status"] == "promoted", status
    assert next(d.data.get("answer") for d in world.fakes.ledger.entries("run-1", "decision")) == "approve"


def test_an_operator_rollback_during_the_ramp_restores_the_split(world, tmp_path):
    world.rollout(min_bake_seconds=30, step_deadline_seconds=60)
    world.live_champion({"blue": 100})
    status = run_rollout(tmp_path, world, events=[(3.0, "rollback")])
    assert status["output"]["status"] == "rolled_back", status
    assert world.fakes.endpoints.get("churn-endpoint").traffic == {"blue": 100}


def test_the_first_model_of_an_endpoint_takes_all_traffic_after_its_smoke_test(world, tmp_path):
    status = run_rollout(tmp_path, world)
    assert status["output"]["status"] == "promoted", status
    ep = world.fakes.endpoints.get("churn-endpoint")
    assert ep.traffic == {"blue": 100}  # the first model takes the first colour
    assert world.fakes.registry.champion("churn").version == "2"
    assert world.fakes.ledger.entries("run-1", "gate") == []


def test_a_challenger_that_fails_its_smoke_test_never_sees_traffic(world, tmp_path):
    world.live_champion({"blue": 100})

    def broken(deployment, payload):
        raise RuntimeError("model crashed on load")

    world.fakes.endpoints.score = broken
    status = run_rollout(tmp_path, world)
    assert status["output"]["status"] == "failed", status
    assert "model crashed on load" in status["output"]["reasons"][0]
    assert all(t.get("green", 0) == 0 for t, _ in world.fakes.endpoints.traffic_history)
    assert "green" not in world.fakes.endpoints.get("churn-endpoint").deployments


def test_a_challenger_whose_deployment_is_not_ready_by_the_step_deadline_is_retired_unseen(world, tmp_path):
    world.live_champion({"blue": 100})
    world.fakes.endpoints.polls_to_ready = 10_000  # Azure ML still provisioning
    status = run_rollout(tmp_path, world)
    assert status["output"]["status"] == "failed", status
    assert status["output"]["reasons"] == ["deployment green is creating: deadline reached"]
    assert world.fakes.endpoints.polls[("churn-endpoint", "green")] == 7  # at 0, every 5 s, and at 30 s
    assert world.fakes.endpoints.get("churn-endpoint").traffic == {"blue": 100}
    assert "green" not in world.fakes.endpoints.get("churn-endpoint").deployments
