"""The `rollout` sub-orchestration: deploy the registered challenger next to the champion at 0%,
smoke-test it, [mirror], ramp it step by step while the gate compares it with the champion on the
same traffic, then promote it or roll back to the exact split that was live before.

Only coordination here: every decision is core.ramp / core.gates, every I/O an activity.
Operators may raise `abort` or `rollback` at any time (-> roll back), and `approve` / `reject`
when the policy asks for approval (a timeout is a reject). Custom status shows the stage, the
step, the split and the last gate verdict; the ledger gets every step, traffic change and gate.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from core.gates import GateConfig
from core.payloads.lifecycle import EventSpec, LifecycleOutcome, PublishInput, RecordRun
from core.payloads.rollout import (
    ChampionMove,
    DeployInput,
    DeploymentOut,
    DeploymentRef,
    EndpointOut,
    EndpointRef,
    GateInput,
    GateResult,
    RolloutInput,
    SmokeInput,
    SmokeResult,
    TrafficInput,
)
from core.policy import Policy
from core.ramp import (
    RampDecision,
    RampPlan,
    Split,
    challenger_name,
    champion_deployment,
    decide,
    enter,
    promoted_split,
    rollback_split,
)
from orchestrators import bp

STOP_EVENTS = ("abort", "rollback")
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2_000, max_number_of_attempts=4)
EVENT_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=1_000, max_number_of_attempts=2)
DEPLOY_POLL_SECONDS = 5


class _Rollout:
    """Per-episode helpers bound to one context (rebuilt on every replay)."""

    def __init__(self, context: df.DurableOrchestrationContext, req: RolloutInput) -> None:
        self.context = context
        self.req = req
        self.stops = [context.wait_for_external_event(name) for name in STOP_EVENTS]
        self.status: dict[str, Any] = {"run_id": req.run_id, "model": req.model, "stage": "deploy"}

    def show(self, **changes: Any) -> None:
        self.status.update(changes)
        self.context.set_custom_status(dict(self.status))

    def call(self, name: str, payload: Any):  # -> Task
        return self.context.call_activity_with_retry(name, RETRY, payload.dump())

    def record(self, **fields: Any):  # -> Task
        return self.call("lifecycle_record", RecordRun(run_id=self.req.run_id, **fields))

    def publish(self, kind: str, data: dict[str, Any]):  # generator
        event = EventSpec(
            id=str(self.context.new_uuid()),
            kind=kind,
            model=self.req.model,
            run_id=self.req.run_id,
            time=self.context.current_utc_datetime,
            data=data,
        )
        try:
            yield self.context.call_activity_with_retry(
                "lifecycle_publish", EVENT_RETRY, PublishInput(events=[event]).dump()
            )
        except Exception as exc:
            self.show(last_event_error=f"{kind}: {str(exc)[:300]}")

    def stopped(self) -> str | None:
        for name, task in zip(STOP_EVENTS, self.stops, strict=True):
            if task.is_completed:
                return name
        return None

    def sleep(self, seconds: float):  # generator -> True if an operator stopped the rollout
        timer = self.context.create_timer(self.context.current_utc_datetime + timedelta(seconds=seconds))
        winner = yield self.context.task_any([timer, *self.stops])
        if winner is not timer:
            if not timer.is_completed:
                timer.cancel()
            return True
        return False

    def outcome(self, status: str, stage: str, reasons: list[str]) -> dict:
        return LifecycleOutcome(
            run_id=self.req.run_id,
            model=self.req.model,
            status=status,  # type: ignore[arg-type]
            stage=stage,  # type: ignore[arg-type]
            challenger_version=self.req.challenger_version,
            reasons=reasons,
        ).dump()


@bp.orchestration_trigger(context_name="context")
def rollout(context: df.DurableOrchestrationContext):
    req = RolloutInput.model_validate(context.get_input())
    ro = Policy.model_validate(req.policy).rollout
    endpoint = ro.endpoint or req.model
    plan = RampPlan.from_policy(ro)
    gate = GateConfig.for_rollout(ro, plan.gated_phases)
    r = _Rollout(context, req)
    r.show()

    # ---------------------------------------------------------------- endpoint and the split before
    ep = EndpointOut.model_validate((yield r.call("rollout_ensure_endpoint", EndpointRef(endpoint=endpoint))))
    before = Split(dict(ep.traffic), dict(ep.mirror_traffic))
    green = challenger_name(ep.traffic)
    blue = champion_deployment(ep.traffic)
    r.show(endpoint=endpoint, green=green, blue=blue, split=ep.traffic, split_before=ep.traffic)
    yield r.record(
        stage="deploy",
        entry_kind="step",
        entry={
            "stage": "deploy",
            "endpoint": endpoint,
            "green": green,
            "blue": blue,
            "before": _split(before),
        },
    )

    # ---------------------------------------------------------------- deploy green at 0%, poll until ready
    yield r.call(
        "rollout_begin_deploy",
        DeployInput(
            endpoint=endpoint,
            deployment=green,
            model=req.model,
            version=req.challenger_version,
            instance_type=ro.instance_type,
            instance_count=ro.instance_count,
        ),
    )
    deadline = context.current_utc_datetime + timedelta(seconds=ro.step_deadline_seconds)
    while True:
        state = DeploymentOut.model_validate(
            (yield r.call("rollout_deployment_state", DeploymentRef(endpoint=endpoint, deployment=green)))
        )
        r.show(deployment_state=state.state)
        if state.state == "succeeded":
            break
        if state.state in ("failed", "missing") or context.current_utc_datetime >= deadline:
            why = f"deployment {green} is {state.state}: {state.message or 'deadline reached'}"
            return (yield from _roll_back(r, endpoint, before, green, "deploy", why, "failed"))
        if (yield from r.sleep(DEPLOY_POLL_SECONDS)):
            return (yield from _roll_back(r, endpoint, before, green, "deploy", f"operator: {r.stopped()}"))

    # ---------------------------------------------------------------- smoke test (pinned to green)
    r.show(stage="smoke")
    smoke = SmokeResult.model_validate(
        (
            yield r.call(
                "rollout_smoke",
                SmokeInput(
                    run_id=req.run_id,
                    model=req.model,
                    endpoint=endpoint,
                    deployment=green,
                    eval_ref=req.eval_ref,
                    rows=ro.smoke_rows,
                ),
            )
        )
    )
    yield r.record(stage="smoke", entry_kind="step", entry={"stage": "smoke", **smoke.dump()})
    if not smoke.ok:
        return (
            yield from _roll_back(
                r, endpoint, before, green, "smoke", f"smoke test failed: {smoke.error}", "failed"
            )
        )
    if r.stopped():
        return (yield from _roll_back(r, endpoint, before, green, "smoke", f"operator: {r.stopped()}"))

    # ---------------------------------------------------------------- first model: straight to 100%
    if blue is None:
        split = promoted_split(before, green, None)
        return (
            yield from _promote(
                r, endpoint, split, green, None, ["first model of the endpoint: smoke test passed"]
            )
        )

    # ---------------------------------------------------------------- ramp
    r.show(stage="ramp")
    decision: RampDecision = enter(plan, 0, before, green, approved=False)
    approved = False
    while True:
        if decision.action == "wait_approval":
            answer = yield from _wait_approval(r, plan, decision)
            if answer != "approve":
                return (yield from _roll_back(r, endpoint, before, green, "ramp", f"approval: {answer}"))
            approved = True
            decision = enter(plan, decision.phase, before, green, approved=True)
            continue
        if decision.action == "rollback":
            return (yield from _roll_back(r, endpoint, before, green, "ramp", decision.reason))
        assert decision.split is not None
        if decision.action == "promote":
            return (yield from _promote(r, endpoint, decision.split, green, blue, [decision.reason]))

        # advance: apply the phase's split, then bake with periodic gate evaluations
        phase = decision.phase
        yield from _apply(r, endpoint, decision.split, decision.reason)
        started = context.current_utc_datetime
        r.show(phase=phase, step=plan.phases[phase].percent, kind=plan.phases[phase].kind)
        yield r.record(
            stage="ramp",
            entry_kind="step",
            entry={"stage": "ramp", "phase": phase, "split": _split(decision.split)},
        )
        while True:
            if (yield from r.sleep(plan.eval_interval_seconds)):
                return (yield from _roll_back(r, endpoint, before, green, "ramp", f"operator: {r.stopped()}"))
            now = context.current_utc_datetime
            result = GateResult.model_validate(
                (
                    yield r.call(
                        "rollout_gate",
                        GateInput(
                            run_id=req.run_id,
                            endpoint=endpoint,
                            green=green,
                            blue=blue,
                            phase=phase,
                            percent=plan.phases[phase].percent,
                            start=started,
                            end=now,
                            gate=asdict(gate),
                        ),
                    )
                )
            )
            now = context.current_utc_datetime
            r.show(
                gate={
                    "verdict": result.verdict,
                    "green_requests": result.green_requests,
                    "min_samples": result.min_samples,
                    "reasons": result.reasons[:3],
                }
            )
            decision = decide(plan, phase, started, now, result.verdict, before, green, approved=approved)
            if decision.action != "hold":
                break


def _split(split: Split) -> dict[str, Any]:
    return {"traffic": split.traffic, "mirror": split.mirror}


def _apply(r: _Rollout, endpoint: str, split: Split, reason: str):
    ep = EndpointOut.model_validate(
        (
            yield r.call(
                "rollout_set_traffic",
                TrafficInput(endpoint=endpoint, traffic=split.traffic, mirror=split.mirror),
            )
        )
    )
    r.show(split=ep.traffic, mirror=ep.mirror_traffic)
    yield r.record(
        entry_kind="traffic",
        entry={"reason": reason, **_split(split), "at": r.context.current_utc_datetime.isoformat()},
    )


def _wait_approval(r: _Rollout, plan: RampPlan, decision: RampDecision):
    """An operator's `approve` or `reject`, or `timeout` (= reject), or a stop event."""
    context = r.context
    r.show(stage="approval", waiting_for="approve|reject", approval_reason=decision.reason)
    yield r.record(entry_kind="step", entry={"stage": "approval", "reason": decision.reason})
    approve = context.wait_for_external_event("approve")
    reject = context.wait_for_external_event("reject")
    deadline = context.current_utc_datetime + timedelta(seconds=plan.approval_timeout_seconds)
    timer = context.create_timer(deadline)
    winner = yield context.task_any([approve, reject, timer, *r.stops])
    if winner is not timer and not timer.is_completed:
        timer.cancel()
    answer = (
        "approve"
        if winner is approve
        else "reject"
        if winner is reject
        else "timeout"
        if winner is timer
        else r.stopped() or "stopped"
    )
    r.show(stage="ramp", waiting_for=None, approval=answer)
    yield r.record(entry_kind="decision", entry={"stage": "approval", "answer": answer})
    return answer


def _roll_back(
    r: _Rollout,
    endpoint: str,
    before: Split,
    green: str,
    stage: str,
    reason: str,
    status: str = "rolled_back",
):
    """Back to the exact pre-rollout split at once, then retire green."""
    split = rollback_split(before, green)
    r.show(stage="rollback", reason=reason)
    yield from _apply(r, endpoint, split, f"rollback: {reason}")
    yield r.call("rollout_delete_deployment", DeploymentRef(endpoint=endpoint, deployment=green))
    detail = {"stage": stage, "reason": reason, "restored": _split(before), "deleted": green}
    yield r.record(
        status=status, stage="done", entry_kind="decision", entry={"verdict": "rollback", **detail}
    )
    yield from r.publish("rolled_back" if status == "rolled_back" else status, detail)
    r.show(stage="done", status=status)
    return r.outcome(status, stage, [reason])


def _promote(r: _Rollout, endpoint: str, split: Split, green: str, blue: str | None, reasons: list[str]):
    """Green takes 100%, becomes the champion, and the retired deployment is deleted."""
    r.show(stage="promote")
    yield from _apply(r, endpoint, split, "promote")
    yield r.call("rollout_set_champion", ChampionMove(model=r.req.model, version=r.req.challenger_version))
    if blue is not None:
        yield r.call("rollout_delete_deployment", DeploymentRef(endpoint=endpoint, deployment=blue))
    detail = {"deployment": green, "retired": blue, "version": r.req.challenger_version, **_split(split)}
    yield r.record(
        status="promoted",
        stage="done",
        champion_version=r.req.challenger_version,
        entry_kind="decision",
        entry={"verdict": "promote", **detail},
    )
    yield from r.publish("promoted", detail)
    r.show(stage="done", status="promoted")
    return r.outcome("promoted", "promote", reasons)
