"""Never stranded: whatever fails during a rollout, no run ends with green taking traffic.

Failures are injected into each activity of the rollout on devhost's engine (fakes behind every
port, a time-skipping clock): an activity that keeps failing after its retries restores the exact
split that was live before, deletes green, records why, and ends the run `failed`; telemetry
that cannot be read is recorded as unavailable, holds the step, and the step deadline rolls back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import wiring
from core.kernel.policy import ApprovalPolicy, GatesPolicy, MirrorPolicy, OnlineAccuracyGate, ShadowGate
from core.kernel.ports import EvidenceUnavailable
from core.rollout.facts import RolledBack
from core.run.facts import read_fact
from tests.orchestrators.test_rollout import World, run_rollout


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    w.live_champion({"blue": 100})
    with wiring.override(settings=w.settings, policies={"churn": w.policy}, **w.fakes.as_overrides()):
        yield w


def broken(original: Callable[..., Any], when: Callable[..., bool], error: Exception) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        if when(*args, **kwargs):
            raise error
        return original(*args, **kwargs)

    return call


def green_at(world: World, percent: int) -> Callable[..., bool]:
    """True while the endpoint serves green at `percent` (live) or mirrors `percent` to it."""

    def now(*_: Any, **__: Any) -> bool:
        ep = world.fakes.endpoints.get("churn-endpoint")
        return ep.traffic.get("green", 0) == percent or ep.mirror_traffic.get("green", 0) == percent

    return now


def rolled_back(world: World) -> RolledBack:
    [fact] = [
        f
        for f in (read_fact(e.data) for e in world.fakes.ledger.entries("run-1"))
        if isinstance(f, RolledBack)
    ]
    return fact


def assert_restored(world: World, status: dict, outcome: str = "failed") -> RolledBack:
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"]["status"] == outcome, status["output"]
    ep = world.fakes.endpoints.get("churn-endpoint")
    assert {k: v for k, v in ep.traffic.items() if v} == {"blue": 100}
    assert not ep.mirror_traffic
    assert "green" not in ep.deployments
    assert world.fakes.registry.champion("churn").version == "1"
    fact = rolled_back(world)
    assert fact.restored.traffic == {"blue": 100} and fact.deleted == "green"
    return fact


def always(*_: Any, **__: Any) -> bool:
    return True


def test_a_deploy_that_keeps_failing_leaves_the_champion_alone(world, tmp_path):
    eps = world.fakes.endpoints
    eps.begin_deploy = broken(eps.begin_deploy, always, RuntimeError("AML: quota exceeded"))
    fact = assert_restored(world, run_rollout(tmp_path, world))
    assert "quota exceeded" in fact.reason


def test_a_smoke_test_that_crashes_leaves_the_champion_alone(world, tmp_path):
    eps = world.fakes.endpoints
    eps.invoke = broken(eps.invoke, always, ConnectionError("scoring URI unreachable"))
    status = run_rollout(tmp_path, world)
    assert status["output"]["status"] in ("failed",)
    assert_restored(world, status)


def test_a_mirror_that_cannot_be_set_is_undone(world, tmp_path):
    world.rollout(mirror=MirrorPolicy(percent=20, bake_seconds=1))
    eps = world.fakes.endpoints
    eps.set_traffic = broken(
        eps.set_traffic, lambda _e, _t, mirror=None: bool(mirror), RuntimeError("AML: conflict")
    )
    fact = assert_restored(world, run_rollout(tmp_path, world))
    assert fact.stage == "mirror"


@pytest.mark.parametrize("percent", [10, 50])
def test_a_gate_whose_ledger_write_keeps_failing_restores_the_split_at_any_step(world, tmp_path, percent):
    ledger = world.fakes.ledger
    ledger.append = broken(
        ledger.append,
        lambda _r, kind, _d: kind == "gate" and green_at(world, percent)(),
        RuntimeError("Cosmos: 503 Service Unavailable"),
    )
    fact = assert_restored(world, run_rollout(tmp_path, world))
    assert "503" in fact.reason
    history = [t.get("green") for t, _ in world.fakes.endpoints.traffic_history]
    assert history[-1] == 0 and percent in history


@pytest.mark.parametrize(
    "why",
    [
        "Log Analytics returned a partial result: record count limit exceeded",
        "Log Analytics query failed: HTTP 400 BadArgumentError: table not found",
        "Log Analytics query failed: HTTP 429 TooManyRequests",
    ],
)
def test_unreadable_telemetry_holds_the_step_and_the_deadline_rolls_back(world, tmp_path, why):
    """The case tried on the local stack: the traffic table unreadable from the 10% step on."""
    stats = world.fakes.traffic_stats
    stats.window = broken(stats.window, green_at(world, 10), EvidenceUnavailable(why))
    status = run_rollout(tmp_path, world)
    fact = assert_restored(world, status, outcome="rolled_back")
    assert fact.reason.startswith(
        "step deadline (30 s) at 10% live reached with errors and latency unavailable"
    )
    verdicts = [e.data["verdict"] for e in world.fakes.ledger.entries("run-1", "gate")]
    assert verdicts and set(verdicts) == {"unavailable"}


def test_a_shadow_gate_that_keeps_failing_restores_the_split(world, tmp_path):
    world.rollout(
        mirror=MirrorPolicy(percent=20, bake_seconds=1),
        gates=world.policy.rollout.gates.model_copy(update={"shadow": ShadowGate(min_pairs=10)}),
    )
    log = world.fakes.prediction_log
    log.window = broken(log.window, always, RuntimeError("AML data collection: storage timeout"))
    assert "storage timeout" in assert_restored(world, run_rollout(tmp_path, world)).reason


def test_an_online_accuracy_gate_that_keeps_failing_restores_the_split(world, tmp_path):
    gates: GatesPolicy = world.policy.rollout.gates.model_copy(
        update={
            "entity_id_column": "customer_id",
            "online_accuracy": OnlineAccuracyGate(labels_prefix="labels/churn/", min_labels=10),
        }
    )
    world.rollout(gates=gates)
    lake = world.fakes.data_lake
    lake.list = broken(
        lake.list, lambda _c, prefix: prefix.startswith("labels/"), RuntimeError("Blob: 500 InternalError")
    )
    fact = assert_restored(world, run_rollout(tmp_path, world))
    assert "InternalError" in fact.reason and fact.stage == "ramp"


def test_an_approval_that_cannot_be_recorded_restores_the_split(world, tmp_path):
    world.rollout(approval=ApprovalPolicy(before_step=50, timeout_seconds=60))
    ledger = world.fakes.ledger
    ledger.append = broken(
        ledger.append,
        lambda _r, _k, data: data.get("kind") == "approval_asked",
        RuntimeError("Cosmos: 503 Service Unavailable"),
    )
    assert_restored(world, run_rollout(tmp_path, world))


def test_a_promotion_whose_champion_move_fails_restores_the_split_and_keeps_the_champion(world, tmp_path):
    registry = world.fakes.registry
    registry.set_champion = broken(
        registry.set_champion, lambda _m, v: v == "2", RuntimeError("registry down")
    )
    fact = assert_restored(world, run_rollout(tmp_path, world))
    assert "registry down" in fact.reason
    history = [t.get("green") for t, _ in world.fakes.endpoints.traffic_history]
    assert history[-2:] == [100, 0]  # green had all the traffic, then none
