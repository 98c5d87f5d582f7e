"""The plan for the evidence a ramp waits for: the labels of the online accuracy gate and the
mirrored pairs of the shadow gate. How many an equal green needs (label_budget, pair_budget), how
long that takes at the rate observed, whether the policy's deadline can be met, and which deadline
the step gets. Pure: the rollout orchestrator computes it from its evidence and hands the deadline
to core.rollout.ramp.next_move as data (StepState.label_deadline_seconds).

Both deadlines follow the plan: once a rate is observed, a step whose policy deadline is too
short for the 95% budget gets the time the budget takes, capped at DEADLINE_CAP times the
policy's (the policy has no maximum rollout duration; three deadlines keep a rollout bounded by
its own policy and are the longest `wait_for_endpoint` waits for another rollout's step). It
never gets less than the policy's. Without a rate (green has served no labelled prediction, or no
mirrored pair, yet) the policy's deadline applies, and the plan says so. For labels the deadline
is the label wait; for pairs it is the step deadline of a phase where the shadow gate blocks,
which then also gives the traffic gate that time (its sequential tests stay valid at any look).
A green the budget planned for at the observed disagreement still undecided at the extended
deadline meets the policy's action there, as at any deadline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

DEADLINE_CAP = 3  # a label or pair deadline extends to at most this many times the policy's

PlanKind = Literal["labels", "pairs"]
Outlook = Literal["meets", "short", "no_rate"]

_WORDS = {
    "labels": ("labels per deployment", "label", "the policy's label wait", "label deadline"),
    "pairs": ("mirrored pairs", "pair", "the step deadline", "pair deadline"),
}


@dataclass(frozen=True)
class EvidencePlan:
    """One gate kind's budget against its deadline, in seconds from the start of the step."""

    kind: PlanKind
    expected: int  # an equal green passes at about this many (median)
    budget: int  # ... and with 95% confidence at this many
    have: int  # in so far
    rate: float | None  # per second, as observed; None: not known yet
    policy_seconds: int  # the policy's deadline for it
    budget_seconds: int | None  # when the 95% budget is in at the rate (None: no rate)
    deadline_seconds: int  # the deadline the step gets
    outlook: Outlook
    words: str

    @property
    def extended(self) -> bool:
        return self.deadline_seconds > self.policy_seconds


def plan_evidence(
    kind: PlanKind,
    *,
    expected: int,
    budget: int,
    have: int,
    rate: float | None,
    elapsed: float,
    policy_seconds: int,
    extend: bool,
) -> EvidencePlan:
    """The plan `elapsed` seconds into the step: `have` of `budget` in at `rate` per second. With
    `extend`, a policy deadline the budget cannot meet moves to the budget's time, at most
    DEADLINE_CAP times the policy's; without it the plan only says so."""
    what, noun, policy_words, deadline_words = _WORDS[kind]
    need = f"an equal green passes at about {expected} {what} ({budget} for 95%)"
    if not rate or rate <= 0:
        return EvidencePlan(
            kind, expected, budget, have, None, policy_seconds, None, policy_seconds, "no_rate",
            f"{have} in; {need}; no {noun} rate observed yet: "
            f"{policy_words} of {policy_seconds} s applies",
        )  # fmt: skip
    left = max(budget - have, 0)
    at = math.ceil(elapsed + left / rate)
    said = f"{have} in; {need}: at {rate:.2f} {noun}s/s the 95% budget is in about {at} s into the step"
    if at <= policy_seconds:
        words = f"{said}, within {policy_words} of {policy_seconds} s"
        return EvidencePlan(
            kind, expected, budget, have, rate, policy_seconds, at, policy_seconds, "meets", words
        )
    short = f"{said}, more than {policy_words} of {policy_seconds} s"
    if not extend:
        words = f"{short}: the {deadline_words} cannot be met at this rate"
        return EvidencePlan(
            kind, expected, budget, have, rate, policy_seconds, at, policy_seconds, "short", words
        )
    cap = DEADLINE_CAP * policy_seconds
    deadline = min(at, cap)
    capped = f" (capped at {DEADLINE_CAP}x {policy_words})" if at > cap else ""
    words = f"{short}: the {deadline_words} extends to {deadline} s{capped}"
    return EvidencePlan(kind, expected, budget, have, rate, policy_seconds, at, deadline, "short", words)
