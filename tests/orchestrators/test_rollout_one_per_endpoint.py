"""One rollout per endpoint: two promotions back to back ramp one after the other, never together."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

import wiring
from core.kernel.policy import ApprovalPolicy
from core.kernel.ports import RunRecord
from core.rollout.payloads import RolloutInput
from core.run.runs import RunRules
from devhost.durable.clock import TimeSkippingClock
from devhost.durable.engine import DurableEngine
from tests.orchestrators.test_rollout import EVAL, World, _functions


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    w.live_champion({"blue": 100})
    w.rollout(approval=ApprovalPolicy(before_step=100, timeout_seconds=600))
    w.fakes.registry.register("churn", "file:///models/v3", {"lifecycle_id": "run-2"})
    w.fakes.ledger.put_run(
        RunRecord(
            run_id="run-2",
            model="churn",
            status="registered",
            stage="register",
            lineage={"rules": RunRules.live(w.policy).snapshot()},
        )
    )
    with wiring.override(settings=w.settings, policies={"churn": w.policy}, **w.fakes.as_overrides()):
        yield w


async def until(engine: DurableEngine, instance: str, waiting_for: str, seconds: float = 40) -> dict:
    """The instance's custom status once it waits for `waiting_for` (real time: no skipping here)."""
    for _ in range(int(seconds / 0.05)):
        status = (await engine.get_status(instance)) or {}
        custom = status.get("customStatus") or {}
        if custom.get("waiting_for") == waiting_for:
            return custom
        await asyncio.sleep(0.05)
    raise AssertionError(f"{instance} never waited for {waiting_for}: {custom}")


def _input(world: World, run_id: str, version: str, champion: str) -> dict:
    return RolloutInput(
        run_id=run_id,
        model="churn",
        challenger_version=version,
        champion_version=champion,
        policy=world.policy.model_dump(mode="json"),
        policy_hash=world.policy.hash,
        eval_ref=EVAL,
    ).dump()


def test_a_second_promotion_waits_for_the_ramp_under_way_and_then_ramps_against_the_new_champion(
    world, tmp_path
):
    async def main() -> tuple[dict, dict, dict]:
        engine = DurableEngine(
            db_path=tmp_path / "hub.db",
            functions=_functions(),
            activity_concurrency=2,
            clock=TimeSkippingClock(),
        )
        await engine.start("http://127.0.0.1:7071")
        try:
            await engine.start_new(
                "rollout", instance_id="run-1-rollout", input=_input(world, "run-1", "2", "1")
            )
            await until(engine, "run-1-rollout", "approve|reject")  # v2 at 50% waits for the operator
            await engine.start_new(
                "rollout", instance_id="run-2-rollout", input=_input(world, "run-2", "3", "1")
            )
            waiting = await until(engine, "run-2-rollout", "endpoint")
            split_while_waiting = dict(world.fakes.endpoints.get("churn-endpoint").traffic)
            await engine.raise_event("run-1-rollout", "approve", {"by": "test"})
            first = await engine.wait_for("run-1-rollout", 60)
            await until(engine, "run-2-rollout", "approve|reject")  # then v3 ramps to its approval
            await engine.raise_event("run-2-rollout", "approve", {"by": "test"})
            second = await engine.wait_for("run-2-rollout", 60)
            return waiting | {"split_while_waiting": split_while_waiting}, first, second
        finally:
            await engine.stop()

    waiting, first, second = asyncio.run(main())
    assert "another rollout is under way" in waiting["reason"]
    assert waiting["split_while_waiting"] == {"blue": 50, "green": 50}  # v3 did not touch the live ramp
    assert first["output"]["status"] == "promoted" and second["output"]["status"] == "promoted", second
    assert world.fakes.registry.champion("churn").version == "3"
    ep = world.fakes.endpoints.get("churn-endpoint")
    assert {k: v for k, v in ep.traffic.items() if v} == {"blue": 100}  # v3 took the freed colour
    greens = [t for t, _ in world.fakes.endpoints.traffic_history]
    assert [t.get("green") for t in greens[:3]] == [10, 50, 100]  # v2's ramp first, whole
    assert [t.get("blue") for t in greens[3:]] == [10, 50, 100]  # then v3's, on the other colour
