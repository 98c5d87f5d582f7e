"""The `deploy` orchestration: a deploy-only environment (prod) deploys the exact registry version
another environment (dev) trained, evaluated and promoted.

No ingest, no training, no evaluation: start (snapshot the deploy-only policy, record the source
event and registry version, check the registry holds it) -> the same `rollout` sub-orchestration
a lifecycle hands over to, on this environment's endpoint, with its own smoke test (the model's
input example), approval, gated ramp and rollback. The instance id is the run id, derived from the
`promoted` event (core.environments.release.plan_deploy), so a redelivered event starts nothing new.
"""

from __future__ import annotations

import contextlib
from typing import Any

import azure.durable_functions as df

from core.environments.payloads import DEPLOY_START, DeployRunInput, DeployStartInput, DeployStartResult
from core.intake.payloads import ROLLOUT_SUFFIX
from core.rollout.payloads import RolloutInput
from core.run.facts import RunFailed, StepEntered
from core.run.payloads import LifecycleResult
from orchestrators.blueprint import bp
from orchestrators.run import End, RunContext, Step


@bp.orchestration_trigger(context_name="context")
def deploy(context: df.DurableOrchestrationContext):
    run = Deploy(context, DeployRunInput.model_validate(context.get_input()))
    try:
        yield from run.start()
        return (yield from run.rollout())
    except End as end:
        return (yield from run.end(end))
    except Exception as exc:
        yield from run.fail(exc)
        raise


class Deploy(RunContext):
    """One deploy lifecycle: the accepted registry version and the rollout of it."""

    plan: DeployStartResult

    def __init__(self, context: df.DurableOrchestrationContext, trigger: DeployRunInput) -> None:
        super().__init__(context, context.instance_id, trigger.model, status="running")
        self.trigger = trigger
        self.show(challenger_version=trigger.registry_version)

    def start(self):
        """Snapshot the policy, record where the version came from; a missing version ends it."""
        t = self.trigger
        ask = DeployStartInput(run_id=self.run_id, trigger=t, started_at=self.context.current_utc_datetime)
        self.plan = plan = yield from self.call(DEPLOY_START, ask)
        self.show(policy_hash=plan.policy_hash, champion_version=plan.champion_version)
        registry = {
            "registry": t.registry,
            "registry_model": t.registry_model,
            "registry_version": t.registry_version,
        }
        if not plan.found:
            why = f"the shared registry has no {t.registry_model}:{t.registry_version}: {plan.reason}"
            raise End("failed", "start", [why], RunFailed(stage="start", reason=why), show={"reason": why})
        yield from self.publish(
            "started",
            {
                "trigger": {"source": "registry", "event_id": t.event_id, "event_source": t.event_source},
                **registry,
            },
        )

    def rollout(self):
        """The rollout sub-orchestration, handed the registry version as the challenger."""
        self.show(stage="deploy")
        yield from self.record(
            StepEntered(stage="deploy", version=self.trigger.registry_version), stage="deploy"
        )
        handover = RolloutInput(
            run_id=self.run_id,
            model=self.model,
            challenger_version=self.trigger.registry_version,
            champion_version=self.plan.champion_version,
            policy=self.plan.policy,
            policy_hash=self.plan.policy_hash,
            eval_ref=None,  # nothing was ingested here: the smoke test scores the model's input example
        )
        rolled = yield self.context.call_sub_orchestrator(
            "rollout", handover.dump(), f"{self.run_id}{ROLLOUT_SUFFIX}"
        )
        self.show(stage="done", rollout=rolled)
        return rolled

    def fail(self, exc: Exception) -> Step[None]:
        """An unexpected error: show and record it, publish `failed`; the caller re-raises."""
        reason = f"{type(exc).__name__}: {str(exc)[:1000]}"
        self.show(status="failed", error=reason)
        stage = self.status.stage
        with contextlib.suppress(Exception):  # the ledger may be what failed
            yield from self.record(RunFailed(stage=stage, error=reason), status="failed")
        yield from self.publish("failed", {"stage": stage, "error": reason})

    def outcome(self, end: End) -> dict[str, Any]:
        return LifecycleResult(
            run_id=self.run_id,
            model=self.model,
            status=end.status,
            stage=end.stage,
            challenger_version=self.trigger.registry_version,
            reasons=end.reasons,
        ).dump()
