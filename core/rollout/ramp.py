"""The ramp: which traffic split comes next, and when. Pure functions of the policy, the step's
state, the gate's verdict and the time; the rollout orchestrator only carries them out.

Phases: an optional mirror phase (green gets a copy of up to 50% of the requests that name no
deployment; answers still come from blue), then the live steps, e.g. 10 -> 50 -> 100. Every phase
but the last (100%: no blue left to compare with) is gated, each with alpha / (gated phases) so the
whole rollout keeps the policy's false-rollback rate. A phase advances when its minimum bake has
passed AND the gate says pass; a fail rolls back at once to the EXACT split (and mirror) that was
live before the rollout; at the phase deadline an undecided gate does what the policy says
(roll back by default; `hold` asks an operator).

Deployment names: Azure ML deployment names cannot be renamed, so the champion keeps its name and
the challenger takes the other colour (blue <-> green): names alternate per rollout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from core.kernel.policy import RolloutPolicy
from core.rollout import traffic_rules

Action = Literal["hold", "advance", "rollback", "wait_approval", "promote"]
COLOURS = ("blue", "green")


@dataclass(frozen=True)
class Phase:
    kind: Literal["mirror", "live"]
    percent: int
    bake_seconds: int

    @property
    def gated(self) -> bool:
        return not (self.kind == "live" and self.percent == 100)


@dataclass(frozen=True)
class RampPlan:
    phases: tuple[Phase, ...]
    step_deadline_seconds: int
    eval_interval_seconds: int
    on_inconclusive: Literal["rollback", "promote", "hold"] = "rollback"
    approval_before_step: int | None = None
    approval_timeout_seconds: int = 86400

    @property
    def gated_phases(self) -> int:
        return sum(p.gated for p in self.phases)

    @classmethod
    def from_policy(cls, rollout: RolloutPolicy, eval_interval_seconds: int | None = None) -> RampPlan:
        """From the policy's `rollout` section. The gate is evaluated every `eval_interval_seconds`
        (default: a fifth of the bake, between 1 s and 60 s): as often as we like, since the
        sequential test's error rate does not depend on how often it looks."""
        phases = []
        if rollout.mirror is not None:
            phases.append(Phase("mirror", rollout.mirror.percent, rollout.mirror.bake_seconds))
        phases += [Phase("live", s, rollout.min_bake_seconds) for s in rollout.steps]
        interval = eval_interval_seconds or min(60, max(1, rollout.min_bake_seconds // 5))
        approval = rollout.approval
        return cls(
            phases=tuple(phases),
            step_deadline_seconds=rollout.step_deadline_seconds,
            eval_interval_seconds=interval,
            on_inconclusive=rollout.on_inconclusive,
            approval_before_step=approval.before_step if approval else None,
            approval_timeout_seconds=approval.timeout_seconds if approval else 86400,
        )


@dataclass(frozen=True)
class Split:
    traffic: dict[str, int]
    mirror: dict[str, int]


@dataclass(frozen=True)
class RampDecision:
    action: Action
    reason: str
    phase: int  # the phase it leads to (hold: stays in; wait_approval: the phase to enter if approved)
    split: Split | None = None  # the split to apply (advance, rollback, promote)
    wait_seconds: int | None = None  # hold: sleep this long before evaluating again


# --------------------------------------------------------------------------- traffic math


def validate_split(traffic: dict[str, int], mirror: dict[str, int] | None = None) -> None:
    """The rules Azure ML enforces on an endpoint's traffic and mirror_traffic (core.rollout.traffic_rules,
    their one home), for a split the ramp plans: every deployment it names is taken as ready."""
    mirror = mirror or {}
    ready = dict.fromkeys([*traffic, *mirror], "succeeded")
    traffic_rules.validate_split("(planned split)", ready, traffic, mirror)


def live(traffic: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in traffic.items() if v > 0}


def champion_deployment(traffic: dict[str, int]) -> str | None:
    """The deployment serving most of the live traffic (ties: by name), or None if nothing is live."""
    serving = live(traffic)
    return max(sorted(serving), key=lambda k: serving[k]) if serving else None


def challenger_name(traffic: dict[str, int]) -> str:
    """The other colour than the live champion's; blue for an endpoint's first model."""
    champion = champion_deployment(traffic)
    if champion is None:
        return "blue"
    if champion in COLOURS:
        return COLOURS[1 - COLOURS.index(champion)]
    return "green" if traffic.get("green", 0) == 0 else "blue"


def split_for(percent: int, before: dict[str, int], green: str) -> dict[str, int]:
    """Green at `percent`, the rest shared by the deployments live before, in their proportions
    (largest remainder, so the split sums to exactly 100)."""
    others = {k: v for k, v in live(before).items() if k != green}
    if not others or percent >= 100:
        return {**dict.fromkeys(before, 0), green: 100}
    rest = 100 - percent
    total = sum(others.values())
    exact = {k: rest * v / total for k, v in others.items()}
    shares = {k: int(x) for k, x in exact.items()}
    leftover = rest - sum(shares.values())
    for k in sorted(exact, key=lambda k: (shares[k] - exact[k], k))[:leftover]:
        shares[k] += 1
    split = {**dict.fromkeys(before, 0), **shares, green: percent}
    validate_split(split)
    return split


def phase_split(phase: Phase, before: Split, green: str) -> Split:
    if phase.kind == "mirror":
        split = Split({**before.traffic, green: 0}, {green: phase.percent})
    else:
        split = Split(split_for(phase.percent, before.traffic, green), {})
    validate_split(split.traffic, split.mirror)
    return split


def rollback_split(before: Split, green: str) -> Split:
    """Exactly what was live before the rollout; green (if new) at 0 until it is deleted."""
    return Split({**before.traffic, green: before.traffic.get(green, 0)}, dict(before.mirror))


def promoted_split(before: Split, green: str, retired: str | None) -> Split:
    """Green takes all the traffic; the pre-rollout mirror survives unless it pointed at green
    or at the retired deployment."""
    mirror = {k: v for k, v in before.mirror.items() if k not in (green, retired)}
    traffic = {k: 0 for k in before.traffic if k != retired}
    return Split({**traffic, green: 100}, mirror)


# --------------------------------------------------------------------------- decisions


def enter(plan: RampPlan, phase: int, before: Split, green: str, *, approved: bool) -> RampDecision:
    """Moving into `phase`: wait for an operator if the policy asks, promote at 100%, else advance."""
    target = plan.phases[phase]
    if target.kind == "live" and plan.approval_before_step == target.percent and not approved:
        return RampDecision("wait_approval", f"the policy asks an operator before {target.percent}%", phase)
    split = phase_split(target, before, green)
    if not target.gated:
        return RampDecision("promote", f"green at {target.percent}%: promote", phase, split)
    what = f"mirror {target.percent}%" if target.kind == "mirror" else f"{target.percent}% live"
    return RampDecision("advance", f"advance to {what}", phase, split)


def decide(
    plan: RampPlan,
    phase: int,
    started_at: datetime,
    now: datetime,
    verdict: str | None,
    before: Split,
    green: str,
    *,
    approved: bool = False,
) -> RampDecision:
    """The next move while in a gated `phase` that went live at `started_at`."""
    current = plan.phases[phase]
    elapsed = (now - started_at).total_seconds()
    if verdict == "fail":
        return RampDecision(
            "rollback", "the gate failed: back to the pre-rollout split", phase, rollback_split(before, green)
        )
    baked = elapsed >= current.bake_seconds
    if verdict == "pass" and baked:
        return enter(plan, phase + 1, before, green, approved=approved)
    if elapsed >= plan.step_deadline_seconds:
        why = f"step deadline ({plan.step_deadline_seconds} s) reached with verdict {verdict or 'none'}"
        if plan.on_inconclusive == "promote":
            return enter(plan, phase + 1, before, green, approved=approved)
        if plan.on_inconclusive == "hold":
            return RampDecision("wait_approval", f"{why}: an operator decides", phase + 1)
        return RampDecision("rollback", f"{why}: policy rolls back", phase, rollback_split(before, green))
    remaining = plan.step_deadline_seconds - elapsed
    wait: float = plan.eval_interval_seconds
    if verdict == "pass" and not baked:
        wait = min(wait, current.bake_seconds - elapsed)
    why = "gate passed, baking" if verdict == "pass" else f"gate says {verdict or 'nothing yet'}"
    return RampDecision("hold", why, phase, wait_seconds=max(1, int(min(wait, remaining) + 0.999)))
