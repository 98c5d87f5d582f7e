"""The evidence plan: the budget against the policy's deadline at the rate observed, and the
deadline a step gets."""

from __future__ import annotations

from core.rollout.evidence_plan import DEADLINE_CAP, plan_evidence


def labels(**changes):
    args = {"expected": 600, "budget": 1200, "have": 0, "rate": None, "elapsed": 0, "policy_seconds": 300}
    return plan_evidence("labels", **{**args, **changes, "extend": True})


def test_before_green_serves_there_is_no_rate_and_the_policy_wait_applies_said_in_words():
    plan = labels()
    assert (plan.outlook, plan.deadline_seconds, plan.budget_seconds) == ("no_rate", 300, None)
    assert "an equal green passes at about 600 labels per deployment (1200 for 95%)" in plan.words
    assert "no label rate observed yet: the policy's label wait of 300 s applies" in plan.words


def test_a_rate_that_meets_the_wait_keeps_the_policy_deadline():
    plan = labels(rate=10.0, have=200, elapsed=20)
    assert (plan.outlook, plan.budget_seconds, plan.deadline_seconds) == ("meets", 120, 300)
    assert not plan.extended and "within the policy's label wait of 300 s" in plan.words


def test_a_wait_too_short_for_the_observed_rate_extends_the_label_deadline_to_the_budget_time():
    plan = labels(rate=2.0, have=100, elapsed=50)  # 1100 more at 2/s: 600 s into the step
    assert (plan.outlook, plan.budget_seconds, plan.deadline_seconds) == ("short", 600, 600)
    assert plan.extended
    assert "more than the policy's label wait of 300 s: the label deadline extends to 600 s" in plan.words


def test_the_extension_is_capped_and_never_shortens_the_policy_wait():
    slow = labels(rate=0.1)
    assert (
        slow.deadline_seconds == DEADLINE_CAP * 300 and "capped at 3x the policy's label wait" in slow.words
    )
    done = labels(rate=5.0, have=1500, elapsed=400)  # budget in, still undecided: no more time
    assert (done.budget_seconds, done.deadline_seconds) == (400, 400)
    early = labels(rate=5.0, have=1500, elapsed=10)
    assert early.deadline_seconds == 300


def test_a_step_deadline_too_short_for_the_pairs_extends_to_the_pair_budget_time_capped():
    plan = plan_evidence(
        "pairs", expected=300, budget=900, have=30, rate=0.5, elapsed=60, policy_seconds=600, extend=True
    )
    assert (plan.outlook, plan.budget_seconds, plan.deadline_seconds) == ("short", 1800, 1800)
    assert "at 0.50 pairs/s" in plan.words and "the pair deadline extends to 1800 s" in plan.words
    slow = plan_evidence(
        "pairs", expected=300, budget=900, have=30, rate=0.1, elapsed=60, policy_seconds=600, extend=True
    )
    assert slow.deadline_seconds == DEADLINE_CAP * 600
    assert "capped at 3x the step deadline" in slow.words


def test_without_extend_a_short_deadline_is_said_but_not_moved():
    plan = plan_evidence(
        "pairs", expected=300, budget=900, have=30, rate=0.5, elapsed=60, policy_seconds=600, extend=False
    )
    assert (plan.outlook, plan.deadline_seconds, plan.budget_seconds) == ("short", 600, 1800)
    assert "the pair deadline cannot be met at this rate" in plan.words
