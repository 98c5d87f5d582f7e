"""The `rollout` sub-orchestration: read the endpoint -> deploy green at 0% -> smoke-test it ->
[mirror] -> ramp it step by step while the gate compares it with the champion on the same
traffic -> promote it, or roll back to the exact split that was live before.

`rollout()` is the process; each step is a method of `Rollout`, which keeps the endpoint, blue,
green and the split before, and (through `RunContext`) the custom status, ledger facts and
events. Any step may raise `RollBack`, caught once. The ramp's every move is decided by ONE pure
function, core.rollout.ramp.next_move, from the evidence the gate activities return (numbers, or
"unavailable" with the reason); this orchestrator only carries the move out. Every I/O is an activity.

Never stranded: any other failure (an activity that failed after its retries, a bug) once green
exists restores the exact split that was live before, deletes green, records why and ends the run
`failed`. Only once the champion record has moved to green (promote) is there no way back: a later
failure leaves green serving 100% as the champion it now is. Operators may raise `abort` or `rollback` at any time (-> roll back), and
`approve` / `reject` when the policy asks for approval (a timeout is a reject).

ML-aware gates, when the policy turns them on: the shadow gate is gathered with the traffic gate
in every gated phase, the online accuracy gate at the last gated live step once it has baked;
what each counts for in a phase is RampPlan.role, and the label wait is part of next_move.
Before the ramp starts the rollout plans the labels and pairs an equal green needs
(core.rollout.evidence_plan); as rates are observed the plan is redone at every look, a policy
deadline it cannot meet is said in the status and the ledger (`evidence_planned`), and the label
deadline the plan gives the step is handed to next_move as data.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from core.kernel.fact import SplitView
from core.rollout.evidence_payloads import (
    ONLINE_ACCURACY,
    SHADOW_GATE,
    OnlineAccuracyInput,
    ShadowGateInput,
)
from core.rollout.evidence_plan import DEADLINE_CAP, EvidencePlan, PlanKind, plan_evidence
from core.rollout.facts import (
    ApprovalAnswered,
    ApprovalAsked,
    EvidencePlanned,
    Promoted,
    RolledBack,
    SmokeTested,
    TrafficChanged,
)
from core.rollout.label_budget import labels_to_decide
from core.rollout.pair_budget import pairs_at
from core.rollout.payloads import (
    BEGIN_DEPLOY,
    DELETE_DEPLOYMENT,
    DEPLOYMENT_STATE,
    ENSURE_ENDPOINT,
    GATE,
    SET_CHAMPION,
    SET_TRAFFIC,
    SMOKE,
    DeploymentInput,
    DeploymentResult,
    EndpointInput,
    EndpointResult,
    GateInput,
    GreenDeployInput,
    RolloutInput,
    SetChampionInput,
    SmokeInput,
    TrafficInput,
)
from core.rollout.ramp import (
    Evidence,
    RampDecision,
    RampPlan,
    Split,
    StepState,
    busy_with,
    challenger_name,
    champion_deployment,
    enter,
    next_move,
    promoted_split,
    rollback_split,
)
from core.rollout.verdicts import GateConfig, OnlineAccuracyConfig, ShadowConfig
from core.run.facts import RunAborted, RunFailed, StepEntered
from core.run.payloads import LifecycleResult
from core.run.status import EvidenceView, GateView, RunStatus, Stage
from orchestrators.blueprint import bp
from orchestrators.release import share_champion
from orchestrators.run import End, RunContext, Step

STOP_EVENTS = ("abort", "rollback")
DEPLOY_POLL_SECONDS = 5
ENDPOINT_POLL_SECONDS = 5


@bp.orchestration_trigger(context_name="context")
def rollout(context: df.DurableOrchestrationContext):
    r = Rollout(context, RolloutInput.model_validate(context.get_input()))
    try:
        yield from r.read_endpoint()
        yield from r.deploy_green()
        yield from r.smoke()
        if r.blue is None:
            return (yield from r.promote(r.first_model()))
        yield from r.plan_ramp()
        yield from r.mirror()
        return (yield from r.promote((yield from r.ramp())))
    except RollBack as back:
        return (yield from r.roll_back(back))
    except End as end:  # before green exists (waiting for the endpoint): nothing to undo
        return (yield from r.end(end))
    except Exception as exc:  # an activity failed after its retries, or a bug: never leave green live
        if r.committed or not hasattr(r, "before"):
            raise  # green is the champion already / nothing was touched: fail the run as it is
        why = f"unexpected failure at {r.where}: {type(exc).__name__}: {str(exc)[:300]}"
        return (yield from r.roll_back(RollBack(why, "failed")))


class RollBack(Exception):
    """Back to the split before: a failed step (`failed`) or a verdict/operator (`rolled_back`)."""

    def __init__(self, reason: str, status: RunStatus = "rolled_back") -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def _view(split: Split) -> SplitView:
    return SplitView(traffic=split.traffic, mirror=split.mirror)


class Rollout(RunContext):
    """One rollout: the endpoint, the champion's deployment (blue), the challenger's (green) and
    the split that was live before, and the steps that move traffic between them."""

    endpoint_info: EndpointResult
    before: Split
    green: str
    blue: str | None

    def __init__(self, context: df.DurableOrchestrationContext, req: RolloutInput) -> None:
        super().__init__(context, req.run_id, req.model, stage="deploy")
        self.req = req
        self.policy = req.policy.rollout
        self.endpoint = self.policy.endpoint or req.model
        self.plan = RampPlan.from_policy(self.policy)
        self.gate = GateConfig.for_rollout(self.policy, self.plan.gated_phases)
        gates = self.policy.gates
        self.shadow = ShadowConfig.for_rollout(self.policy, self.plan.gated_phases) if gates.shadow else None
        self.online = OnlineAccuracyConfig.for_rollout(self.policy) if gates.online_accuracy else None
        self.live_since: datetime | None = None  # green's first live request: the labels' period
        self.stops = [context.wait_for_external_event(name) for name in STOP_EVENTS]
        self.where: Stage = "deploy"  # the step a roll-back is reported against
        self.approved = False
        self.next: RampDecision | None = None  # the move after the mirror phase
        self.committed = False  # the champion record moved to green: no way back
        self.green_created = False  # Azure ML accepted green's deployment (it may have traffic)
        self.label_deadline: int | None = None  # the label plan's deadline for the step (None: policy's)
        self.step_deadline: int | None = None  # the pair plan's deadline for this phase (None: policy's)
        self.short: set[tuple[PlanKind, int]] = set()  # (kind, phase) whose plan said `short`, recorded
        self.show()

    # ------------------------------------------------------------------ steps

    def read_endpoint(self):
        """The endpoint (created if new), the split live before, and which colour green is."""
        ep = yield from self.call(ENSURE_ENDPOINT, EndpointInput(endpoint=self.endpoint))
        if busy_with(ep.traffic, set(ep.deployments)):
            ep = yield from self.wait_for_endpoint(ep)
        self.before = Split(dict(ep.traffic), dict(ep.mirror_traffic))
        self.green = challenger_name(ep.traffic)
        self.blue = champion_deployment(ep.traffic)
        show = {
            "endpoint": self.endpoint,
            "green": self.green,
            "blue": self.blue,
            "split": ep.traffic,
            "split_before": ep.traffic,
        }
        yield from self.step(
            StepEntered(
                stage="deploy",
                endpoint=self.endpoint,
                green=self.green,
                blue=self.blue,
                before=_view(self.before),
            ),
            show,
        )

    def wait_for_endpoint(self, ep: EndpointResult) -> Step[EndpointResult]:
        """One rollout per endpoint: wait until the rollout under way ends (its challenger's slot is
        free again), at most as long as a rollout may last; an operator's stop ends the wait."""
        plan = self.plan
        longest = (
            len(plan.phases) * plan.step_deadline_seconds * (DEADLINE_CAP if plan.shadow else 1)
            + plan.approval_timeout_seconds * (plan.approval_before_step is not None)
            + plan.label_wait_seconds * DEADLINE_CAP * plan.labels
        )
        self.show(waiting_for="endpoint", reason=busy_with(ep.traffic, set(ep.deployments)))

        def check() -> Step[EndpointResult]:
            return (yield from self.call(ENSURE_ENDPOINT, EndpointInput(endpoint=self.endpoint)))

        polled = yield from self.poll(
            check,
            lambda e: busy_with(e.traffic, set(e.deployments)) is None,
            every=max(plan.eval_interval_seconds, ENDPOINT_POLL_SECONDS),
            within=longest,
            first=ep,
            wake=self.stops,
        )
        if polled.outcome == "woken":
            why = f"operator: {self.stopped()} while waiting for the endpoint"
            raise End("aborted", "deploy", [why], RunAborted(stage="deploy", reason=why))
        if polled.outcome == "deadline":
            why = f"endpoint {self.endpoint} still busy after {longest} s: " + str(
                busy_with(polled.last.traffic, set(polled.last.deployments))
            )
            raise End("failed", "deploy", [why], RunFailed(stage="deploy", reason=why))
        self.show(waiting_for=None, reason=None)
        return polled.last

    def deploy_green(self):
        """Create green at 0% and poll until it is ready (or failed, or past the step deadline)."""
        ro = self.policy
        deploy = GreenDeployInput(
            endpoint=self.endpoint,
            deployment=self.green,
            model=self.model,
            version=self.req.challenger_version,
            instance_type=ro.instance_type,
            instance_count=ro.instance_count,
        )
        yield from self.call(BEGIN_DEPLOY, deploy)
        self.green_created = True
        ref = DeploymentInput(endpoint=self.endpoint, deployment=self.green)

        def check() -> Step[DeploymentResult]:
            state = yield from self.call(DEPLOYMENT_STATE, ref)
            self.show(deployment_state=state.state)
            return state

        polled = yield from self.poll(
            check,
            lambda state: state.state in ("succeeded", "failed", "missing"),
            every=DEPLOY_POLL_SECONDS,
            within=ro.step_deadline_seconds,
            wake=self.stops,
        )
        if polled.outcome == "woken":
            self.check_stops()  # an operator's stop: RollBack
        state = polled.last
        if state.state != "succeeded":
            why = f"deployment {self.green} is {state.state}: {state.message or 'deadline reached'}"
            raise RollBack(why, "failed")

    def smoke(self):
        """Score sample rows on green alone, before it sees a single live request."""
        self.where = "smoke"
        self.show(stage="smoke")
        ask = SmokeInput(
            run_id=self.run_id,
            model=self.model,
            endpoint=self.endpoint,
            deployment=self.green,
            eval_ref=self.req.eval_ref,
            rows=self.policy.smoke_rows,
        )
        smoke = yield from self.call(SMOKE, ask)
        yield from self.record(SmokeTested(ok=smoke.ok, rows=smoke.rows, error=smoke.error), stage="smoke")
        if not smoke.ok:
            raise RollBack(f"smoke test failed: {smoke.error}", "failed")
        self.check_stops()

    def plan_ramp(self):
        """Before the ramp starts: the labels and mirrored pairs an equal green needs, from the
        policy's margins, alpha and beta. No rate is known before green serves (labels) or is
        mirrored to (pairs): the plan says so and the policy's deadlines apply."""
        plans = []
        if self.online is not None:
            plans.append(self.label_plan(have=0, rate=None, elapsed=0))
        if self.shadow is not None:
            plans.append(self.pair_plan(have=0, rate=None, elapsed=0))
        for plan in plans:
            yield from self.record(EvidencePlanned.of(plan, "ramp"))

    def mirror(self):
        """Green gets a copy of the requests that name no deployment (answers still come from
        blue), gated like a live step: its verdict decides the first live move."""
        if self.plan.phases[0].kind != "mirror":
            return
        self.where = "mirror"
        self.show(stage="mirror")
        self.next = yield from self.bake(enter(self.plan, 0, self.before, self.green, approved=False))

    def ramp(self):  # generator -> the promote decision
        """The live steps: each applies its split and bakes under the gate, asking an operator
        first where the policy says so; returns the move to 100%."""
        self.where = "ramp"
        self.show(stage="ramp")
        first = next(i for i, p in enumerate(self.plan.phases) if p.kind == "live")
        decision = self.next or enter(self.plan, first, self.before, self.green, approved=False)
        while decision.action != "promote":
            if decision.action == "wait_approval":
                decision = yield from self.approval(decision)
            else:
                decision = yield from self.bake(decision)
        return decision

    # ------------------------------------------------------------------ one phase, one approval

    def bake(self, decision: RampDecision):  # generator -> the next move (advance, approval, promote)
        """Apply the phase's split, then gather the gates' evidence and let `next_move` decide, until
        the ramp moves on; a rollback move raises RollBack."""
        assert decision.action == "advance" and decision.split is not None and self.blue is not None
        phase, plan = decision.phase, self.plan
        yield from self.apply(decision.split, decision.reason)
        started = self.context.current_utc_datetime
        self.show(phase=phase, step=plan.phases[phase].percent, kind=plan.phases[phase].kind)
        yield from self.record(
            StepEntered(stage=self.where, phase=phase, split=_view(decision.split)), stage=self.where
        )
        if plan.phases[phase].kind == "live" and self.live_since is None:
            self.live_since = started
        state = StepState(phase, started, started, approved=self.approved)
        self.step_deadline = None
        wait = plan.eval_interval_seconds
        while True:
            yield from self.pause(wait)
            state = StepState(
                phase, started, self.context.current_utc_datetime, state.gates_passed, self.approved
            )
            evidence = yield from self.gather(state)
            state = replace(
                state, label_deadline_seconds=self.label_deadline, step_deadline_seconds=self.step_deadline
            )
            move = next_move(plan, state, evidence, self.before, self.green)
            self.show(move=move.reason)
            if move.action == "rollback":
                raise RollBack(move.reason)
            if move.action == "wait_labels":
                deadline = started + timedelta(seconds=self.label_deadline or plan.label_wait_seconds)
                self.show(waiting_for="labels", labels_deadline=deadline.isoformat())
                state = StepState(phase, started, state.now, True, self.approved)
            elif move.action != "hold":
                self.show(waiting_for=None)
                return move
            wait = move.wait_seconds or plan.eval_interval_seconds

    def gather(self, state: StepState):  # generator -> [Evidence]
        """Every gate's evidence over the phase so far: the traffic gate, the shadow gate if the
        policy has one, and online accuracy where the step waits for labels (once it has baked)."""
        assert self.blue is not None
        now, current = state.now, self.plan.phases[state.phase]
        ask = GateInput(
            run_id=self.run_id,
            endpoint=self.endpoint,
            green=self.green,
            blue=self.blue,
            phase=state.phase,
            percent=current.percent,
            start=state.started_at,
            end=now,
            gate=self.gate,
        )
        result = yield from self.call(GATE, ask)
        self.show(
            gate=GateView(
                verdict=result.verdict,
                green_requests=result.green_requests,
                min_samples=result.min_samples,
                reasons=result.reasons[:3],
            )
        )
        found = [
            Evidence(
                "traffic",
                result.verdict,
                tuple(result.reasons[:2]),
                result.green_requests,
                result.min_samples,
            )
        ]
        if self.shadow is not None:
            shadow_ask = ShadowGateInput(
                run_id=self.run_id,
                endpoint=self.endpoint,
                green=self.green,
                blue=self.blue,
                phase=state.phase,
                percent=current.percent,
                start=state.started_at,
                end=now,
                shadow=self.shadow,
                blocking=self.plan.role("shadow", state.phase) == "blocking",
            )
            shadow = yield from self.call(SHADOW_GATE, shadow_ask)
            self.show(
                shadow=EvidenceView(
                    verdict=shadow.verdict,
                    n=shadow.pairs,
                    needed=shadow.min_pairs,
                    reasons=shadow.reasons[:3],
                )
            )
            found.append(
                Evidence("shadow", shadow.verdict, tuple(shadow.reasons[:2]), shadow.pairs, shadow.min_pairs)
            )
            if shadow_ask.blocking:  # the pairs decide here: plan them at the rate seen in the phase
                elapsed = (now - state.started_at).total_seconds()
                rate = shadow.pairs / elapsed if elapsed > 0 and shadow.pairs else None
                plan = self.pair_plan(shadow.pairs, rate, elapsed, shadow.disagreement)
                self.step_deadline = plan.deadline_seconds if plan.rate is not None else None
                yield from self.replan(plan, state.phase)
        baked = (now - state.started_at).total_seconds() >= current.bake_seconds
        if self.plan.needs_labels(state.phase) and (state.gates_passed or baked):
            found.append((yield from self.accuracy(state)))
        return found

    def accuracy(self, state: StepState):  # generator -> Evidence
        """Live predictions since green first served, joined to the labels landed so far."""
        online = self.policy.gates.online_accuracy
        assert online is not None and self.online is not None and self.blue is not None
        assert self.policy.gates.entity_id_column is not None
        ask = OnlineAccuracyInput(
            run_id=self.run_id,
            endpoint=self.endpoint,
            green=self.green,
            blue=self.blue,
            phase=state.phase,
            percent=self.plan.phases[state.phase].percent,
            since=self.live_since or state.started_at,
            end=state.now,
            config=self.online,
            entity_id_column=self.policy.gates.entity_id_column,
            labels_container=online.labels_container,
            labels_prefix=online.labels_prefix,
        )
        result = yield from self.call(ONLINE_ACCURACY, ask)
        view = EvidenceView(
            verdict=result.verdict,
            n=result.green_labelled,
            needed=result.min_labels,
            reasons=result.reasons[:3],
        )
        self.show(online_accuracy=view)
        since = self.live_since or state.started_at
        seen = (state.now - since).total_seconds()
        rate = result.green_labelled / seen if seen > 0 and result.green_labelled else None
        elapsed = (state.now - state.started_at).total_seconds()
        shape = {"value": result.blue_value or 0.8, "positive_rate": result.positive_rate or 0.3}
        plan = self.label_plan(result.green_labelled, rate, elapsed, **shape)
        self.label_deadline = plan.deadline_seconds if plan.rate is not None else None
        yield from self.replan(plan, state.phase)
        return Evidence(
            "online_accuracy",
            result.verdict,
            tuple(result.reasons[:2]),
            result.green_labelled,
            result.min_labels,
        )

    def label_plan(
        self, have: int, rate: float | None, elapsed: float, value: float = 0.8, positive_rate: float = 0.3
    ) -> EvidencePlan:
        """Labels an equal green needs to pass, as expected (median) and with 95% confidence
        (core.rollout.label_budget.labels_to_decide, at blue's live metric and class balance once
        read), at the label rate seen since green went live, against the policy's label wait."""
        assert self.online is not None and self.policy.gates.online_accuracy is not None
        shape = {"value": value, "positive_rate": positive_rate}
        return self.show_plan(
            plan_evidence(
                "labels",
                expected=labels_to_decide(self.online, confidence=0.5, **shape),
                budget=labels_to_decide(self.online, confidence=0.95, **shape),
                have=have,
                rate=rate,
                elapsed=elapsed,
                policy_seconds=self.policy.gates.online_accuracy.label_wait_seconds,
                extend=True,
            )
        )

    def pair_plan(
        self, have: int, rate: float | None, elapsed: float, disagreement: float | None = None
    ) -> EvidencePlan:
        """Mirrored pairs a green like this one needs to pass the shadow gate
        (core.rollout.pair_budget.pairs_at, at the disagreement observed so far), at the pair rate
        seen in the phase, against the step deadline, which follows the plan."""
        assert self.shadow is not None
        return self.show_plan(
            plan_evidence(
                "pairs",
                expected=pairs_at(self.shadow, disagreement, confidence=0.5),
                budget=pairs_at(self.shadow, disagreement, confidence=0.95),
                have=have,
                rate=rate,
                elapsed=elapsed,
                policy_seconds=self.plan.step_deadline_seconds,
                extend=True,
            )
        )

    def show_plan(self, plan: EvidencePlan) -> EvidencePlan:
        self.show(**{f"{plan.kind}_plan": plan.words})
        return plan

    def replan(self, plan: EvidencePlan, phase: int) -> Step[None]:
        """A policy deadline the observed rate cannot meet goes to the ledger, once per phase,
        before the ramp goes on."""
        if plan.outlook == "short" and (plan.kind, phase) not in self.short:
            self.short.add((plan.kind, phase))
            yield from self.record(EvidencePlanned.of(plan, self.where, phase))

    def approval(self, decision: RampDecision):  # generator -> the decision once approved
        """The policy asks an operator before this step."""
        yield from self.ask_operator(decision.reason)
        self.approved = True
        return enter(self.plan, decision.phase, self.before, self.green, approved=True)

    def ask_operator(self, reason: str):  # generator; returns if approved, else rolls back
        """An operator's `approve` or `reject`, or `timeout` (= reject), or a stop event."""
        context = self.context
        self.show(stage="approval", waiting_for="approve|reject", approval_reason=reason)
        yield from self.record(ApprovalAsked(reason=reason))
        approve = context.wait_for_external_event("approve")
        reject = context.wait_for_external_event("reject")
        timer = context.create_timer(
            context.current_utc_datetime + timedelta(seconds=self.plan.approval_timeout_seconds)
        )
        winner = yield context.task_any([approve, reject, timer, *self.stops])
        if winner is not timer and not timer.is_completed:
            timer.cancel()
        answers = {id(approve): "approve", id(reject): "reject", id(timer): "timeout"}
        answer = answers.get(id(winner)) or self.stopped() or "stopped"
        self.show(stage="ramp", waiting_for=None, approval=answer)
        yield from self.record(ApprovalAnswered(answer=answer))
        if answer != "approve":
            raise RollBack(f"approval: {answer}")

    # ------------------------------------------------------------------ traffic, stops

    def apply(self, split: Split, reason: str) -> Step[None]:
        change = TrafficInput(endpoint=self.endpoint, traffic=split.traffic, mirror=split.mirror)
        ep = yield from self.call(SET_TRAFFIC, change)
        self.show(split=ep.traffic, mirror=ep.mirror_traffic)
        at = self.context.current_utc_datetime
        yield from self.record(
            TrafficChanged(reason=reason, traffic=split.traffic, mirror=split.mirror, at=at)
        )

    def stopped(self) -> str | None:
        for name, task in zip(STOP_EVENTS, self.stops, strict=True):
            if task.is_completed:
                return name
        return None

    def check_stops(self) -> None:
        if self.stopped():
            raise RollBack(f"operator: {self.stopped()}")

    def pause(self, seconds: float) -> Step[None]:  # an operator's stop event raises RollBack
        timer = self.context.create_timer(self.context.current_utc_datetime + timedelta(seconds=seconds))
        winner = yield self.context.task_any([timer, *self.stops])
        if winner is not timer:
            if not timer.is_completed:
                timer.cancel()
            self.check_stops()

    # ------------------------------------------------------------------ ends

    def first_model(self) -> RampDecision:
        split = promoted_split(self.before, self.green, None)
        return RampDecision("promote", "first model of the endpoint: smoke test passed", 0, split)

    def promote(self, decision: RampDecision) -> Step[dict[str, Any]]:
        """Green takes 100%, becomes the champion, and the retired deployment is deleted."""
        assert decision.split is not None
        split, version = decision.split, self.req.challenger_version
        self.show(stage="promote")
        yield from self.apply(split, "promote")
        yield from self.call(SET_CHAMPION, SetChampionInput(model=self.model, version=version))
        self.committed = True
        shared = yield from share_champion(self, self.req.policy, version)  # the policy's registry, if any
        if self.blue is not None:
            yield from self.call(
                DELETE_DEPLOYMENT, DeploymentInput(endpoint=self.endpoint, deployment=self.blue)
            )
        fact = Promoted(
            deployment=self.green,
            retired=self.blue,
            version=version,
            traffic=split.traffic,
            mirror=split.mirror,
        )
        event = {**fact.dump(), **shared} if shared else None  # `promoted` names the registry version
        end = End("promoted", "promote", [decision.reason], fact, event, record={"champion_version": version})
        return (yield from self.end(end))

    def roll_back(self, back: RollBack) -> Step[dict[str, Any]]:
        """Back to the exact pre-rollout split at once, then retire green."""
        self.show(stage="rollback", reason=back.reason)
        restore = rollback_split(self.before, self.green)
        if not self.green_created:  # a split may not name a deployment that does not exist
            restore = Split(dict(self.before.traffic), dict(self.before.mirror))
        yield from self.apply(restore, f"rollback: {back.reason}")
        yield from self.call(
            DELETE_DEPLOYMENT, DeploymentInput(endpoint=self.endpoint, deployment=self.green)
        )
        fact = RolledBack(
            stage=self.where, reason=back.reason, restored=_view(self.before), deleted=self.green
        )
        return (yield from self.end(End(back.status, self.where, [back.reason], fact)))

    def outcome(self, end: End) -> dict[str, Any]:
        return LifecycleResult(
            run_id=self.run_id,
            model=self.model,
            status=end.status,
            stage=end.stage,
            challenger_version=self.req.challenger_version,
            reasons=end.reasons,
        ).dump()
