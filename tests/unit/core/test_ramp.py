"""The ramp: the next split and when, from the policy, the step's clock and the gate's verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.kernel.policy import ApprovalPolicy, MirrorPolicy, RolloutPolicy
from core.kernel.ports import TrafficRuleError
from core.rollout.ramp import (
    RampPlan,
    Split,
    challenger_name,
    decide,
    enter,
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
