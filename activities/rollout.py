"""Activities of the rollout sub-orchestration. `RolloutActivities` is built with its ports and
each method is one step (a core function, or one or two port calls); the registered functions
below only parse and serialise."""

from __future__ import annotations

import wiring
from activities.blueprint import bp
from core.rollout.evidence_payloads import (
    OnlineAccuracyInput,
    OnlineAccuracyResult,
    ShadowGateInput,
    ShadowGateResult,
)
from core.rollout.payloads import (
    DeploymentInput,
    DeploymentResult,
    EndpointInput,
    EndpointResult,
    GateInput,
    GateResult,
    GreenDeployInput,
    SetChampionInput,
    SmokeInput,
    SmokeResult,
    TrafficInput,
)
from core.rollout.prediction_evidence import judge_online_accuracy, judge_shadow, label_domain
from core.rollout.smoke import smoke_test
from core.rollout.traffic_evidence import judge_window
from core.run.runs import run_rules
from wiring import Ports


class RolloutActivities:
    def __init__(self, ports: Ports) -> None:
        self.ports = ports

    def ensure_endpoint(self, req: EndpointInput) -> EndpointResult:
        return EndpointResult.of(self.ports.endpoints.ensure_endpoint(req.endpoint))

    def begin_deploy(self, req: GreenDeployInput) -> DeploymentResult:
        """Create the challenger's deployment at 0% (returns at once; the orchestrator polls)."""
        model = self.ports.registry.get(req.model, req.version)
        info = self.ports.endpoints.begin_deploy(
            req.endpoint,
            req.deployment,
            model,
            instance_type=req.instance_type,
            instance_count=req.instance_count,
        )
        return DeploymentResult.of(info)

    def deployment_state(self, req: DeploymentInput) -> DeploymentResult:
        return DeploymentResult.of(self.ports.endpoints.deployment(req.endpoint, req.deployment))

    def smoke(self, req: SmokeInput) -> SmokeResult:
        """Score sample rows of the evaluation split on the challenger alone (the run's contract
        says which columns are the label and id), or the model's input example without one."""
        p = self.ports
        # a deploy-only run has no evaluation split (nor contract): it smokes the model's input example
        contract = run_rules(p.ledger, req.run_id).contract if req.eval_ref is not None else None
        return smoke_test(p.data_lake, p.registry, p.endpoints, contract, req)

    def set_traffic(self, req: TrafficInput) -> EndpointResult:
        return EndpointResult.of(self.ports.endpoints.set_traffic(req.endpoint, req.traffic, req.mirror))

    def gate(self, req: GateInput) -> GateResult:
        """Judge green vs blue over the ingested part of the window; the ledger records it."""
        verdict = judge_window(self.ports.traffic_stats, self.ports.ledger, req)
        return GateResult(
            verdict=verdict.verdict,
            reasons=verdict.reasons[:10],
            green_requests=verdict.green_requests,
            blue_requests=verdict.blue_requests,
            min_samples=verdict.min_samples,
        )

    def shadow_gate(self, req: ShadowGateInput) -> ShadowGateResult:
        """Green's answers vs blue's on the same requests of the window; the ledger records it."""
        return judge_shadow(self.ports.prediction_log, self.ports.ledger, req)

    def online_accuracy(self, req: OnlineAccuracyInput) -> OnlineAccuracyResult:
        """Live predictions joined to the labels landed so far (the run's contract names the label)."""
        p = self.ports
        contract = run_rules(p.ledger, req.run_id).contract
        rule = next((c for c in contract.columns if c.name == contract.label), None)
        domain = label_domain(rule.allowed if rule else None)
        return judge_online_accuracy(p.prediction_log, p.data_lake, p.ledger, req, contract.label, domain)

    def delete_deployment(self, req: DeploymentInput) -> dict:
        """Delete a retired deployment; the port refuses one that still has live traffic."""
        endpoints = self.ports.endpoints
        if req.deployment in endpoints.get(req.endpoint).deployments:
            endpoints.delete_deployment(req.endpoint, req.deployment)
        return {"deleted": req.deployment}

    def set_champion(self, req: SetChampionInput) -> dict:
        self.ports.registry.set_champion(req.model, req.version)
        return {"model": req.model, "champion": req.version}


def _acts() -> RolloutActivities:
    return RolloutActivities(wiring.ports())


@bp.activity_trigger(input_name="payload")
def rollout_ensure_endpoint(payload: dict) -> dict:
    return _acts().ensure_endpoint(EndpointInput.model_validate(payload)).dump()


@bp.activity_trigger(input_name="payload")
def rollout_begin_deploy(payload: dict) -> dict:
    return _acts().begin_deploy(GreenDeployInput.model_validate(payload)).dump()


@bp.activity_trigger(input_name="payload")
def rollout_deployment_state(payload: dict) -> dict:
    return _acts().deployment_state(DeploymentInput.model_validate(payload)).dump()


@bp.activity_trigger(input_name="payload")
def rollout_smoke(payload: dict) -> dict:
    return _acts().smoke(SmokeInput.model_validate(payload)).dump()


@bp.activity_trigger(input_name="payload")
def rollout_set_traffic(payload: dict) -> dict:
    return _acts().set_traffic(TrafficInput.model_validate(payload)).dump()


@bp.activity_trigger(input_name="payload")
def rollout_gate(payload: dict) -> dict:
    return _acts().gate(GateInput.model_validate(payload)).dump()


@bp.activity_trigger(input_name="payload")
def rollout_shadow_gate(payload: dict) -> dict:
    return _acts().shadow_gate(ShadowGateInput.model_validate(payload)).dump()


@bp.activity_trigger(input_name="payload")
def rollout_online_accuracy(payload: dict) -> dict:
    return _acts().online_accuracy(OnlineAccuracyInput.model_validate(payload)).dump()


@bp.activity_trigger(input_name="payload")
def rollout_delete_deployment(payload: dict) -> dict:
    return _acts().delete_deployment(DeploymentInput.model_validate(payload))


@bp.activity_trigger(input_name="payload")
def rollout_set_champion(payload: dict) -> dict:
    return _acts().set_champion(SetChampionInput.model_validate(payload))
