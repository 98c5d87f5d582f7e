# ruff: noqa: F811  (the `world` fixture is imported from test_rollout and used as a parameter)
"""The rollout with the ML-aware gates on, on devhost's engine with fakes and a skipping clock: a
challenger that answers the same inputs differently is stopped in the mirror phase by the shadow
gate; one that is worse on delayed labels is rolled back by the online accuracy gate before 100%;
one as good as the champion is promoted once the labels say so; and missing labels are a visible
wait that the policy's label deadline ends."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from core.kernel.policy import MirrorPolicy, OnlineAccuracyGate, ShadowGate
from core.kernel.records import PredictionRecord
from core.run.facts import read_fact
from tests.orchestrators.test_rollout import World, run_rollout, world  # noqa: F401  (fixture)

N = 400
LABELS = "churn-labels/"


def ids() -> list[str]:
    return [f"C{i:05d}" for i in range(N)]


def truth(seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).random(N) < 0.3).astype(int)


def scores(labels: np.ndarray, skill: float, seed: int) -> np.ndarray:
    """Scores whose ranking follows the label with `skill` (0: random)."""
    noise = np.random.default_rng(seed).random(N)
    return np.clip(skill * labels * 0.6 + (1 - skill * 0.6) * noise, 0, 1)


def live_world(world: World, green_skill: float, blue_skill: float = 0.9) -> None:
    y = truth()
    blue, green = scores(y, blue_skill, 2), scores(y, green_skill, 3)

    def answer(start: datetime, end: datetime) -> list[PredictionRecord]:
        at = (start + timedelta(milliseconds=1)).isoformat()
        # every entity scored by both (different requests: live traffic is split, not paired)
        return [
            PredictionRecord(f"b{i}", "blue", "1", e, float(blue[i]), at) for i, e in enumerate(ids())
        ] + [PredictionRecord(f"g{i}", "green", "2", e, float(green[i]), at) for i, e in enumerate(ids())]

    world.fakes.prediction_log.answer = answer


def land_labels(world: World) -> None:
    frame = pd.DataFrame(
        {"customer_id": ids(), "churned": truth()}  # no label_time: known whenever read
    )
    world.fakes.data_lake.put("raw", f"{LABELS}part-1.csv", frame.to_csv(index=False).encode())


def online_gate(world: World, **changes) -> None:
    gate = OnlineAccuracyGate(labels_prefix=LABELS, min_labels=100, **changes)
    gates = world.policy.rollout.gates.model_copy(
        update={"entity_id_column": "customer_id", "online_accuracy": gate}
    )
    world.rollout(gates=gates)


def gate_facts(world: World, kind: str) -> list:
    return [
        f
        for f in (read_fact(e.data) for e in world.fakes.ledger.entries("run-1", "gate"))
        if f and f.kind == kind
    ]


def decision_facts(world: World) -> list:
    return [f for f in (read_fact(e.data) for e in world.fakes.ledger.entries("run-1", "decision")) if f]


def test_a_challenger_worse_on_live_labels_is_rolled_back_before_the_last_step(world, tmp_path):
    online_gate(world)
    world.live_champion({"blue": 100})
    live_world(world, green_skill=0.0)
    land_labels(world)
    status = run_rollout(tmp_path, world)
    assert status["output"]["status"] == "rolled_back", status
    assert "online accuracy" in status["output"]["reasons"][0]
    assert [t.get("green") for t, _ in world.fakes.endpoints.traffic_history] == [10, 50, 0]
    assert world.fakes.endpoints.get("churn-endpoint").traffic == {"blue": 100}
    [fact] = gate_facts(world, "online_accuracy_evaluated")
    assert fact.verdict == "fail" and fact.percent == 50  # evidence; the move is the ramp's
    assert status["output"]["reasons"][0].startswith("rolled back at 50% live: online accuracy fail")
    assert fact.green_labelled == N and fact.blue_labelled == N and fact.label_files == 1
    assert fact.green_value < fact.blue_value and fact.fail_e_value >= fact.fail_threshold
    assert status["customStatus"]["online_accuracy"]["verdict"] == "fail"


def test_a_challenger_as_good_as_the_champion_is_promoted_once_the_labels_say_so(world, tmp_path):
    online_gate(world, margin=0.1)
    world.live_champion({"blue": 100})
    live_world(world, green_skill=0.9)
    land_labels(world)
    status = run_rollout(tmp_path, world)
    assert status["output"]["status"] == "promoted", status
    [fact] = gate_facts(world, "online_accuracy_evaluated")
    assert fact.verdict == "pass"
    assert status["output"]["reasons"][0].startswith("online accuracy pass")
    assert "an equal green passes at about" in status["customStatus"]["labels_plan"]


def test_missing_labels_are_a_visible_wait_that_the_label_deadline_ends_by_policy(world, tmp_path):
    online_gate(world, label_wait_seconds=20, on_label_deadline="rollback")
    world.live_champion({"blue": 100})
    live_world(world, green_skill=0.9)  # no label file lands
    status = run_rollout(tmp_path, world)
    assert status["output"]["status"] == "rolled_back", status
    assert status["output"]["reasons"][0].startswith("label deadline (20 s) at 50% live reached")
    assert status["output"]["reasons"][0].endswith("the policy rolls back")
    facts = gate_facts(world, "online_accuracy_evaluated")
    assert len(facts) >= 2
    assert all(f.verdict == "need_more_data" and f.green_labelled == 0 for f in facts)
    assert "waiting for labels" in facts[0].reasons[0]
    assert status["customStatus"]["labels_deadline"]
    assert "no label rate observed yet" in status["customStatus"]["labels_plan"]


@pytest.mark.parametrize("shift", [0.3])
def test_a_challenger_that_answers_the_same_inputs_differently_is_stopped_in_the_mirror_phase(
    world, tmp_path, shift
):
    world.rollout(
        mirror=MirrorPolicy(percent=20, bake_seconds=1),
        gates=world.policy.rollout.gates.model_copy(update={"shadow": ShadowGate(min_pairs=100)}),
    )
    world.live_champion({"blue": 100})
    blue = np.random.default_rng(5).random(N) * 0.6

    def answer(start: datetime, end: datetime) -> list[PredictionRecord]:
        at = (start + timedelta(milliseconds=1)).isoformat()
        return [PredictionRecord(f"r{i}", "blue", "1", None, float(b), at) for i, b in enumerate(blue)] + [
            PredictionRecord(f"r{i}", "green", "2", None, float(b + shift), at, mirrored=True)
            for i, b in enumerate(blue)
        ]

    world.fakes.prediction_log.answer = answer
    status = run_rollout(tmp_path, world)
    assert status["output"]["status"] == "rolled_back", status
    assert [t.get("green") for t, _ in world.fakes.endpoints.traffic_history] == [0, 0]  # never live
    [fact] = gate_facts(world, "shadow_gate_evaluated")
    assert fact.verdict == "fail" and fact.pairs == N and fact.blocking
    shift_test = next(t for t in fact.tests if t.metric == "score_shift")
    assert shift_test.statistic == pytest.approx(shift) and shift_test.outcome == "fail"


def test_a_challenger_that_agrees_passes_the_shadow_gate_and_ramps(world, tmp_path):
    world.rollout(
        mirror=MirrorPolicy(percent=20, bake_seconds=1),
        gates=world.policy.rollout.gates.model_copy(update={"shadow": ShadowGate(min_pairs=100)}),
    )
    world.live_champion({"blue": 100})
    blue = np.random.default_rng(5).random(N)

    def answer(start: datetime, end: datetime) -> list[PredictionRecord]:
        at = (start + timedelta(milliseconds=1)).isoformat()
        return [PredictionRecord(f"r{i}", "blue", "1", None, float(b), at) for i, b in enumerate(blue)] + [
            PredictionRecord(f"r{i}", "green", "2", None, float(b), at, mirrored=True)
            for i, b in enumerate(blue)
        ]

    world.fakes.prediction_log.answer = answer
    status = run_rollout(tmp_path, world)
    assert status["output"]["status"] == "promoted", status
    facts = gate_facts(world, "shadow_gate_evaluated")
    assert facts[0].verdict == "pass" and facts[0].percent == 20
    # live steps (after a mirror phase): judged and recorded, but only a fail would hold the ramp
    assert all(not f.blocking for f in facts if f.percent in (10, 50))
    # the pair budget was planned before the mirror phase, and redone at the pair rate seen in it
    [planned] = [f for f in decision_facts(world) if f.kind == "evidence_planned"]
    assert (planned.gate, planned.outlook, planned.phase) == ("shadow", "no_rate", None)
    assert "an equal green passes at about" in status["customStatus"]["pairs_plan"]
    assert "pairs/s" in status["customStatus"]["pairs_plan"]


def test_a_healthy_green_that_needs_more_labels_than_the_policy_wait_gets_the_planned_deadline_and_passes(
    world, tmp_path
):
    """Labels land at 5 a second from green's first live request: the 95% label budget (about 150
    per deployment at margin 0.1) is in about 30 s after green went live, more than the policy's
    10 s wait. The plan says so in the ledger and the status, the label deadline extends to the
    budget's time, and the equal green passes on labels the policy's wait would never have seen."""
    rate, wait = 5.0, 10
    online_gate(world, margin=0.1, label_wait_seconds=wait, on_label_deadline="rollback")
    world.live_champion({"blue": 100})
    live_world(world, green_skill=0.7, blue_skill=0.7)
    answer = world.fakes.prediction_log.answer

    def labelled_so_far(start: datetime, end: datetime) -> list[PredictionRecord]:
        landed = min(N, int(rate * (end - start).total_seconds()))  # start: green's first live request
        frame = pd.DataFrame({"customer_id": ids()[:landed], "churned": truth()[:landed]})
        world.fakes.data_lake.put("raw", f"{LABELS}part-1.csv", frame.to_csv(index=False).encode())
        return answer(start, end)

    world.fakes.prediction_log.answer = labelled_so_far
    status = run_rollout(tmp_path, world)
    assert status["output"]["status"] == "promoted", status
    assert status["output"]["reasons"][0].startswith("online accuracy pass")
    [passed] = [f for f in gate_facts(world, "online_accuracy_evaluated") if f.verdict == "pass"]
    assert passed.green_labelled > rate * wait  # more than the policy's wait could have collected
    plans = [f for f in decision_facts(world) if f.kind == "evidence_planned"]
    before, short = plans
    assert before.outlook == "no_rate" and before.deadline_seconds == wait  # before green served
    assert "no label rate observed yet" in before.reason
    assert short.outlook == "short" and short.gate == "online_accuracy" and short.phase == 1
    assert wait < short.deadline_seconds <= 3 * wait and short.budget_seconds > wait
    assert "extends to" in status["customStatus"]["labels_plan"]


def test_a_healthy_green_that_needs_more_pairs_than_the_step_deadline_gets_the_planned_deadline_and_passes(
    world, tmp_path
):
    """Mirrored pairs come at 25 a second; green disagrees with blue on 3% of them (a retrained model
    of the same quality flips borderline inputs; the threshold is 5%). At that disagreement the pair
    budget (about 3,300 pairs) takes over two minutes, more than the policy's 30 s step deadline:
    the plan says so in the ledger and the status, the step deadline extends to the budget's time
    (at most 3x), and the green passes the mirror phase on pairs the policy's deadline never saw."""
    rate = 25.0
    world.rollout(
        mirror=MirrorPolicy(percent=20, bake_seconds=1),
        gates=world.policy.rollout.gates.model_copy(update={"shadow": ShadowGate(min_pairs=100)}),
    )
    world.live_champion({"blue": 100})
    blue = np.random.default_rng(5).random(20_000)
    green = np.where(np.arange(blue.size) % 33 == 0, 1 - blue, blue)  # 3% change class

    def answer(start: datetime, end: datetime) -> list[PredictionRecord]:
        seconds = (end - start).total_seconds()
        n = min(blue.size, int(rate * seconds))
        times = [(start + timedelta(seconds=i / rate)).isoformat() for i in range(n)]
        return [PredictionRecord(f"r{i}", "blue", "1", None, float(blue[i]), times[i]) for i in range(n)] + [
            PredictionRecord(f"r{i}", "green", "2", None, float(green[i]), times[i], mirrored=True)
            for i in range(n)
        ]

    world.fakes.prediction_log.answer = answer
    status = run_rollout(tmp_path, world, timeout=120)
    assert status["output"]["status"] == "promoted", status
    mirror = [f for f in gate_facts(world, "shadow_gate_evaluated") if f.percent == 20]
    assert mirror[-1].verdict == "pass" and mirror[-1].pairs > rate * 30  # after the policy's deadline
    short = [f for f in decision_facts(world) if f.kind == "evidence_planned" and f.outlook == "short"]
    assert short and short[0].gate == "shadow" and "the pair deadline extends to" in short[0].reason
    assert short[0].deadline_seconds > short[0].policy_seconds == 30
