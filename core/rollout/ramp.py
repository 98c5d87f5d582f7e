"""The ramp: which traffic split comes next, and when. Pure functions of the policy, the step's
state, the evidence the gates gathered and the time; the rollout orchestrator only carries them out.
`next_move` is the ONE place that decides the next move (advance, hold, wait for labels, ask the
operator, promote, roll back) and says why; gate activities return evidence only, and bench.canary
drives this same function.

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

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from core.kernel.policy import RolloutPolicy
from core.rollout import traffic_rules

Action = Literal["hold", "wait_labels", "advance", "rollback", "wait_approval", "promote"]
EvidenceKind = Literal["traffic", "shadow", "online_accuracy"]
# "unavailable": the evidence could not be read (a query error, a partial result, a throttle, a missing
# table); recorded, it holds the step like need_more_data, and the step's deadline applies.
EvidenceVerdict = Literal["pass", "fail", "need_more_data", "unavailable"]
Role = Literal["blocking", "fail_only", "off"]
KIND_WORDS = {
    "traffic": "errors and latency",
    "shadow": "shadow predictions",
    "online_accuracy": "online accuracy",
}
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
    shadow: bool = False  # the shadow gate is on
    labels: bool = False  # the online accuracy gate guards the move out of the last gated live step
    label_wait_seconds: int = 86400  # from the start of the step that waits for labels
    on_label_deadline: Literal["rollback", "promote", "hold"] = "rollback"

    @property
    def gated_phases(self) -> int:
        return sum(p.gated for p in self.phases)

    def needs_labels(self, phase: int) -> bool:
        """The online accuracy gate guards the move out of the last gated live step."""
        nxt = phase + 1
        return (
            self.labels
            and self.phases[phase].kind == "live"
            and (nxt >= len(self.phases) or not self.phases[nxt].gated)
        )

    def role(self, kind: EvidenceKind, phase: int) -> Role:
        """What a gate kind's evidence does in a phase. Traffic: its pass is needed. Shadow: needed
        in the mirror phase (or at every step if there is no mirror phase to have passed it); at
        live steps Azure ML cannot pair requests (it mirrors only to a deployment without live
        traffic), so only its fail counts. Online accuracy: needed where the labels are waited for."""
        if kind == "traffic":
            return "blocking"
        if kind == "shadow":
            if not self.shadow:
                return "off"
            blocking = self.phases[phase].kind == "mirror" or self.phases[0].kind != "mirror"
            return "blocking" if blocking else "fail_only"
        return "blocking" if self.needs_labels(phase) else "off"

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
        online = rollout.gates.online_accuracy
        return cls(
            phases=tuple(phases),
            step_deadline_seconds=rollout.step_deadline_seconds,
            eval_interval_seconds=interval,
            on_inconclusive=rollout.on_inconclusive,
            approval_before_step=approval.before_step if approval else None,
            approval_timeout_seconds=approval.timeout_seconds if approval else 86400,
            shadow=rollout.gates.shadow is not None,
            labels=online is not None and online.required_before_last_step,
            label_wait_seconds=online.label_wait_seconds if online else 86400,
            on_label_deadline=online.on_label_deadline if online else "rollback",
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
    wait_seconds: int | None = None  # hold, wait_labels: sleep this long before evaluating again
    deadline: bool = False  # the move is the policy's action at a deadline, not a verdict
    gates_passed: bool = False  # wait_labels: the other gates have passed; only their fail counts now


@dataclass(frozen=True)
class Evidence:
    """What one gate kind found over the step's window: numbers, never an action."""

    kind: EvidenceKind
    verdict: EvidenceVerdict
    reasons: tuple[str, ...] = ()
    n: int | None = None  # requests, pairs or labels judged
    needed: int | None = None  # how many the gate expects to need to decide

    def summary(self) -> str:
        why = f": {self.reasons[0]}" if self.reasons else ""
        return f"{KIND_WORDS[self.kind]} {self.verdict.replace('_', ' ')}{why}"


@dataclass(frozen=True)
class StepState:
    """Where the ramp is: the gated phase, when it went live, the time now, and what it remembers."""

    phase: int
    started_at: datetime
    now: datetime
    gates_passed: bool = False  # set once the gates passed and the step waits for labels
    approved: bool = False
    # the label deadline the plan gives this step (core.rollout.evidence_plan); None: the policy's wait
    label_deadline_seconds: int | None = None
    # the step deadline the pair plan gives this step (shadow blocking here); None: the policy's
    step_deadline_seconds: int | None = None


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


def busy_with(traffic: dict[str, int], deployments: list[str] | set[str]) -> str | None:
    """Why another rollout may not start on this endpoint now, or None. A rollout owns the
    challenger's slot (the colour other than the live champion's) from its deploy to its end, where
    promote deletes the retired deployment and a rollback deletes green; while that slot holds a
    deployment, another rollout would redeploy it under a live ramp. One rollout per endpoint."""
    slot = challenger_name(traffic)
    if slot in deployments:
        live_now = ", ".join(f"{k} {v}%" for k, v in sorted(live(traffic).items()))
        return f"deployment {slot} exists (traffic: {live_now or 'none'}): another rollout is under way"
    return None


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
        return RampDecision("promote", f"challenger at {target.percent}%: promote", phase, split)
    what = f"mirror {target.percent}%" if target.kind == "mirror" else f"{target.percent}% live"
    return RampDecision("advance", f"advance to {what}", phase, split)


def next_move(
    plan: RampPlan, step: StepState, evidence: list[Evidence], before: Split, green: str
) -> RampDecision:
    """THE next move of a ramp in a gated phase, with its reasons:

    1. any gate's fail (where its role counts) rolls back at once to the exact split before;
    2. once every blocking gate passed and the phase has baked, the ramp moves on, unless this is
       the step that waits for labels: then it waits for the online accuracy gate (only fails of
       the other gates count meanwhile) until the label deadline, where the policy's action applies;
    3. at the step deadline (the policy's, or the one the pair plan gave the step) an undecided
       (or unreadable) gate does what the policy says;
    4. otherwise hold and look again after the evaluation interval.
    A missing or "unavailable" piece of evidence is never a pass."""
    current = plan.phases[step.phase]
    where = f"{current.percent}% {'mirror' if current.kind == 'mirror' else 'live'}"
    elapsed = (step.now - step.started_at).total_seconds()
    roles = {e.kind: plan.role(e.kind, step.phase) for e in evidence}
    failed = [e for e in evidence if e.verdict == "fail" and roles[e.kind] != "off"]
    if failed:
        why = "; ".join(e.summary() for e in failed)
        return RampDecision(
            "rollback", f"rolled back at {where}: {why}", step.phase, rollback_split(before, green)
        )
    seen = {e.kind: e for e in evidence}
    blocking = ["traffic", *(["shadow"] if plan.role("shadow", step.phase) == "blocking" else [])]
    undecided = [seen[k].summary() if k in seen else f"{KIND_WORDS[k]}: no evidence" for k in blocking]
    undecided = [
        u for k, u in zip(blocking, undecided, strict=True) if k not in seen or seen[k].verdict != "pass"
    ]
    baked = elapsed >= current.bake_seconds
    gates_passed = step.gates_passed or (not undecided and baked)
    if gates_passed and plan.needs_labels(step.phase):
        return _labels(plan, step, seen.get("online_accuracy"), before, green, where)
    if gates_passed:
        return enter(plan, step.phase + 1, before, green, approved=step.approved)
    step_deadline = step.step_deadline_seconds or plan.step_deadline_seconds
    if elapsed >= step_deadline:
        planned = (
            f", the pair plan's for a deadline of {plan.step_deadline_seconds} s"
            if step_deadline != plan.step_deadline_seconds
            else ""
        )
        why = f"step deadline ({step_deadline} s{planned}) at {where} reached with {'; '.join(undecided)}"
        if plan.on_inconclusive == "promote":
            if plan.needs_labels(step.phase):
                return _labels(
                    plan, replace(step, gates_passed=True), seen.get("online_accuracy"), before, green, where
                )
            return replace(enter(plan, step.phase + 1, before, green, approved=step.approved), deadline=True)
        if plan.on_inconclusive == "hold":
            return RampDecision("wait_approval", f"{why}: an operator decides", step.phase + 1, deadline=True)
        return RampDecision(
            "rollback",
            f"{why}: the policy rolls back",
            step.phase,
            rollback_split(before, green),
            deadline=True,
        )
    remaining = step_deadline - elapsed
    wait: float = plan.eval_interval_seconds
    why = "; ".join(undecided) if undecided else "gates passed, baking"
    if not undecided:
        wait = min(wait, current.bake_seconds - elapsed)
    return RampDecision("hold", why, step.phase, wait_seconds=max(1, int(min(wait, remaining) + 0.999)))


def _labels(
    plan: RampPlan, step: StepState, accuracy: Evidence | None, before: Split, green: str, where: str
) -> RampDecision:
    """The step that waits for labels, once the other gates have passed, until the label deadline:
    the policy's wait, or the one the label plan gave the step (StepState.label_deadline_seconds)."""
    deadline = step.label_deadline_seconds or plan.label_wait_seconds
    elapsed = (step.now - step.started_at).total_seconds()
    if accuracy is not None and accuracy.verdict == "pass":
        move = enter(plan, step.phase + 1, before, green, approved=step.approved)
        return replace(move, reason=f"{accuracy.summary()}; {move.reason}")
    said = accuracy.summary() if accuracy is not None else "online accuracy: not evaluated yet"
    if elapsed < deadline:
        wait = max(1, int(min(plan.eval_interval_seconds, deadline - elapsed) + 0.999))
        return RampDecision(
            "wait_labels",
            f"waiting for labels at {where}: {said}",
            step.phase,
            wait_seconds=wait,
            gates_passed=True,
        )
    planned = (
        f", the label plan's for a wait of {plan.label_wait_seconds} s"
        if deadline != plan.label_wait_seconds
        else ""
    )
    why = f"label deadline ({deadline} s{planned}) at {where} reached: {said}"
    if plan.on_label_deadline == "promote":
        move = enter(plan, step.phase + 1, before, green, approved=step.approved)
        return replace(move, reason=f"{why}; {move.reason}", deadline=True)
    if plan.on_label_deadline == "hold":
        return RampDecision("wait_approval", f"{why}: an operator decides", step.phase + 1, deadline=True)
    return RampDecision(
        "rollback", f"{why}: the policy rolls back", step.phase, rollback_split(before, green), deadline=True
    )
