"""The ramp: the next split and when, from the policy, the step's clock and the gate's verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.kernel.policy import ApprovalPolicy, MirrorPolicy, RolloutPolicy
from core.kernel.ports import TrafficRuleError
from core.rollout.ramp import (
    Evidence,
    RampPlan,
    Split,
    StepState,
    challenger_name,
    enter,
    next_move,
    promoted_split,
    rollback_split,
    split_for,
    validate_split,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
BEFORE = Split({"blue": 100}, {})


def plan(**changes) -> RampPlan:
    policy = RolloutPolicy(min_bake_seconds=300, step_deadline_seconds=3600, **changes)
    return RampPlan.from_policy(policy)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def decide(p, phase, started, now, verdict, before=BEFORE, green="green", *, approved=False, **evidence):
    """The one decision with the traffic gate's verdict (and any other gate's, by kind)."""
    found = [Evidence("traffic", verdict)] + [Evidence(k, v) for k, v in evidence.items()]
    return next_move(p, StepState(phase, started, now, approved=approved), found, before, green)


def test_phases_come_from_the_policy_with_the_last_step_ungated():
    p = plan(mirror=MirrorPolicy(percent=20, bake_seconds=60))
    assert [(ph.kind, ph.percent, ph.gated) for ph in p.phases] == [
        ("mirror", 20, True),
        ("live", 10, True),
        ("live", 50, True),
        ("live", 100, False),
    ]
    assert p.gated_phases == 3 and p.eval_interval_seconds == 60


def test_the_first_phase_is_entered_with_its_split():
    d = enter(plan(), 0, BEFORE, "green", approved=False)
    assert (d.action, d.split) == ("advance", Split({"blue": 90, "green": 10}, {}))


def test_a_mirror_phase_mirrors_to_green_and_leaves_live_traffic_alone():
    d = enter(plan(mirror=MirrorPolicy(percent=20)), 0, BEFORE, "green", approved=False)
    assert d.split == Split({"blue": 100, "green": 0}, {"green": 20})


def test_a_fail_rolls_back_at_once_to_the_exact_split_before():
    before = Split({"blue": 70, "legacy": 30}, {"shadow": 10})
    d = decide(plan(), 1, T0, at(5), "fail", before, "green")
    assert d.action == "rollback"
    assert d.split == Split({"blue": 70, "legacy": 30, "green": 0}, {"shadow": 10})


def test_a_pass_before_the_minimum_bake_holds_until_the_bake_is_over():
    d = decide(plan(), 0, T0, at(280), "pass", BEFORE, "green")
    assert (d.action, d.wait_seconds) == ("hold", 20)


def test_a_pass_after_the_bake_advances_to_the_next_step():
    d = decide(plan(), 0, T0, at(301), "pass", BEFORE, "green")
    assert (d.action, d.phase, d.split.traffic) == ("advance", 1, {"blue": 50, "green": 50})


def test_passing_the_last_gated_step_promotes_green_to_100():
    d = decide(plan(), 1, T0, at(400), "pass", BEFORE, "green")
    assert (d.action, d.split.traffic) == ("promote", {"blue": 0, "green": 100})


def test_need_more_data_holds_and_never_advances():
    d = decide(plan(), 0, T0, at(1000), "need_more_data", BEFORE, "green")
    assert d.action == "hold" and d.wait_seconds == 60


@pytest.mark.parametrize(
    ("policy", "action"), [("rollback", "rollback"), ("promote", "advance"), ("hold", "wait_approval")]
)
def test_at_the_deadline_an_undecided_gate_does_what_the_policy_says(policy, action):
    d = decide(plan(on_inconclusive=policy), 0, T0, at(3600), "need_more_data", BEFORE, "green")
    assert d.action == action


def test_the_step_that_needs_approval_waits_for_it_and_proceeds_once_approved():
    p = plan(approval=ApprovalPolicy(before_step=50))
    assert decide(p, 0, T0, at(301), "pass", BEFORE, "green").action == "wait_approval"
    assert decide(p, 0, T0, at(301), "pass", BEFORE, "green", approved=True).action == "advance"


def test_challenger_names_alternate_colours_and_the_first_model_is_blue():
    assert challenger_name({"blue": 100}) == "green"
    assert challenger_name({"green": 100, "blue": 0}) == "blue"
    assert challenger_name({}) == "blue"
    assert challenger_name({"default": 100}) == "green"


def test_promotion_retires_blue_and_keeps_an_unrelated_mirror():
    before = Split({"blue": 100}, {"shadow": 10})
    assert promoted_split(before, "green", "blue") == Split({"green": 100}, {"shadow": 10})


@pytest.mark.parametrize(
    ("traffic", "mirror", "why"),
    [
        ({"blue": 90, "green": 20}, {}, "sum to 110"),
        ({"blue": 100}, {"green": 60}, "at most 50"),
        ({"blue": 90, "green": 10}, {"green": 10}, "cannot also receive mirror traffic"),
        ({"blue": 100}, {"a": 10, "b": 10}, "one deployment only"),
        ({"blue": 87.5, "green": 12.5}, {}, "integer percentage"),
    ],
)
def test_splits_azure_ml_would_refuse_are_refused(traffic, mirror, why):
    with pytest.raises(TrafficRuleError, match=why):
        validate_split(traffic, mirror)


def _to_100(weights: dict[str, int]) -> dict[str, int]:
    total = sum(weights.values())
    split = {k: v * 100 // total for k, v in weights.items()}
    first = next(iter(split))
    split[first] += 100 - sum(split.values())
    return split


@given(
    st.dictionaries(st.sampled_from(["blue", "a", "b", "c"]), st.integers(1, 1000), min_size=1).map(_to_100),
    st.integers(1, 100),
)
def test_any_step_split_sums_to_100_and_gives_green_its_percent(before, percent):
    split = split_for(percent, before, "green")
    assert sum(split.values()) == 100 and split["green"] == percent
    assert rollback_split(Split(before, {}), "green").traffic == {**before, "green": 0}


# --------------------------------------------------------------------------- one decision, every gate

ONLINE = {"labels_prefix": "churn/labels/", "label_wait_seconds": 7200}


def ml_plan(**changes) -> RampPlan:
    from core.kernel.policy import GatesPolicy, OnlineAccuracyGate, ShadowGate

    gates = GatesPolicy(
        entity_id_column="customer_id", shadow=ShadowGate(), online_accuracy=OnlineAccuracyGate(**ONLINE)
    )
    return plan(gates=gates, **changes)


def test_unreadable_evidence_holds_the_step_and_says_why():
    d = decide(plan(), 0, T0, at(400), "unavailable")
    assert d.action == "hold"
    assert "errors and latency unavailable" in d.reason


def test_unreadable_evidence_at_the_deadline_is_rolled_back_by_the_policy_not_passed():
    d = decide(plan(), 0, T0, at(3600), "unavailable")
    assert (d.action, d.deadline) == ("rollback", True)
    assert d.split == Split({"blue": 100, "green": 0}, {})


def test_a_shadow_fail_at_a_live_step_rolls_back_but_its_silence_does_not_hold_the_ramp():
    p = ml_plan(mirror=MirrorPolicy(percent=20, bake_seconds=60))
    assert decide(p, 1, T0, at(301), "pass", shadow="fail").action == "rollback"
    assert decide(p, 1, T0, at(301), "pass", shadow="need_more_data").action == "advance"
    # in the mirror phase the shadow gate's pass is needed
    assert decide(p, 0, T0, at(61), "pass", shadow="need_more_data").action == "hold"


def test_the_last_gated_step_waits_for_labels_once_the_other_gates_pass():
    p = ml_plan()
    d = decide(p, 1, T0, at(301), "pass", shadow="pass", online_accuracy="need_more_data")
    assert (d.action, d.gates_passed) == ("wait_labels", True)
    assert "waiting for labels at 50% live" in d.reason
    # meanwhile only a fail of the other gates counts; labels that pass promote
    later = StepState(1, T0, at(900), gates_passed=True)
    waiting = [Evidence("traffic", "need_more_data"), Evidence("online_accuracy", "pass")]
    assert next_move(p, later, waiting, BEFORE, "green").action == "promote"
    failing = [
        Evidence("traffic", "fail", ("error rate 4% vs 1%",)),
        Evidence("online_accuracy", "need_more_data"),
    ]
    assert next_move(p, later, failing, BEFORE, "green").action == "rollback"


@pytest.mark.parametrize(
    ("policy", "action"), [("rollback", "rollback"), ("promote", "promote"), ("hold", "wait_approval")]
)
def test_at_the_label_deadline_the_policy_applies_and_the_move_says_it_was_a_deadline(policy, action):
    p = ml_plan()
    p = RampPlan(**{**p.__dict__, "on_label_deadline": policy})
    step = StepState(1, T0, at(7200), gates_passed=True)
    d = next_move(
        p, step, [Evidence("traffic", "pass"), Evidence("online_accuracy", "need_more_data")], BEFORE, "green"
    )
    assert (d.action, d.deadline) == (action, True)
    assert "label deadline (7200 s) at 50% live" in d.reason


def test_the_label_deadline_the_plan_gives_the_step_replaces_the_policy_wait():
    p = ml_plan()  # the policy waits 7200 s for labels
    evidence = [Evidence("traffic", "pass"), Evidence("online_accuracy", "need_more_data")]
    planned = StepState(1, T0, at(7200), gates_passed=True, label_deadline_seconds=15000)
    d = next_move(p, planned, evidence, BEFORE, "green")
    assert d.action == "wait_labels"  # the policy's wait is over, the plan's is not
    late = StepState(1, T0, at(15000), gates_passed=True, label_deadline_seconds=15000)
    d = next_move(p, late, evidence, BEFORE, "green")
    assert (d.action, d.deadline) == ("rollback", True)
    assert d.reason.startswith("label deadline (15000 s, the label plan's for a wait of 7200 s) at 50% live")


def test_the_step_deadline_the_pair_plan_gives_the_step_replaces_the_policy_deadline():
    p = ml_plan(mirror=MirrorPolicy(percent=20, bake_seconds=60))  # the policy's step deadline: 3600 s
    evidence = [Evidence("traffic", "pass"), Evidence("shadow", "need_more_data")]
    planned = StepState(0, T0, at(3600), step_deadline_seconds=9000)
    d = next_move(p, planned, evidence, BEFORE, "green")
    assert d.action == "hold"  # the policy's deadline is over, the plan's is not
    assert d.wait_seconds is not None and d.wait_seconds <= 9000 - 3600
    late = StepState(0, T0, at(9000), step_deadline_seconds=9000)
    d = next_move(p, late, evidence, BEFORE, "green")
    assert (d.action, d.deadline) == ("rollback", True)
    assert d.reason.startswith(
        "step deadline (9000 s, the pair plan's for a deadline of 3600 s) at 20% mirror"
    )
    passed = [Evidence("traffic", "pass"), Evidence("shadow", "pass")]
    assert next_move(p, planned, passed, BEFORE, "green").action == "advance"


def test_the_rollback_reason_names_the_step_and_the_gate_in_words():
    d = decide(plan(), 1, T0, at(40), "fail")
    assert d.reason.startswith("rolled back at 50% live: errors and latency fail")


def test_an_endpoint_whose_challenger_slot_is_taken_is_busy_and_a_settled_one_is_not():
    from core.rollout.ramp import busy_with

    assert busy_with({"blue": 50, "green": 50}, {"blue", "green"}) is not None
    assert "deployment green exists" in busy_with({"blue": 100, "green": 0}, {"blue", "green"})
    assert busy_with({"blue": 100}, {"blue"}) is None
    assert busy_with({"blue": 90, "legacy": 10}, {"blue", "legacy"}) is None
    assert busy_with({}, set()) is None
