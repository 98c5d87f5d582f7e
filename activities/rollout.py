"""Activities of the rollout sub-orchestration. `RolloutActivities` is built with its ports and
each method is one step (a core function, or one or two port calls); `serve` registers each method
under the reference it implements."""

from __future__ import annotations

from activities.blueprint import implements, serve
from core.rollout.evidence_payloads import (
    ONLINE_ACCURACY,
    SHADOW_GATE,
    OnlineAccuracyInput,
    OnlineAccuracyResult,
    ShadowGateInput,
    ShadowGateResult,
)
from core.rollout.online_features import feature_environment
from core.rollout.payloads import (
    BEGIN_DEPLOY,
    DELETE_DEPLOYMENT,
    DEPLOYMENT_STATE,
    ENSURE_ENDPOINT,
    GATE,
    SET_CHAMPION,
    SET_TRAFFIC,
    SMOKE,
    DeletedResult,
    DeploymentInput,
    DeploymentResult,
    EndpointInput,
    EndpointResult,
    GateInput,
    GateResult,
    GreenDeployInput,
    SetChampionInput,
    SetChampionResult,
    SmokeInput,
    SmokeResult,
    TrafficInput,
)
from core.rollout.prediction_evidence import judge_online_accuracy, judge_shadow
from core.rollout.smoke import smoke_test
from core.rollout.traffic_evidence import judge_window
from core.run.runs import run_rules
from wiring import Ports


class RolloutActivities:
    def __init__(self, ports: Ports) -> None:
        self.ports = ports

    @implements(ENSURE_ENDPOINT)
    def ensure_endpoint(self, req: EndpointInput) -> EndpointResult:
        return EndpointResult.of(self.ports.endpoints.ensure_endpoint(req.endpoint))

    @implements(BEGIN_DEPLOY)
    def begin_deploy(self, req: GreenDeployInput) -> DeploymentResult:
        """Create the challenger's deployment at 0% (returns at once; the orchestrator polls)."""
        model = self.ports.registry.get(req.model, req.version)
        info = self.ports.endpoints.begin_deploy(
            req.endpoint,
            req.deployment,
            model,
            instance_type=req.instance_type,
            instance_count=req.instance_count,
            # the feature set version the model was trained on (serving by entity id)
            environment_variables=feature_environment(model.tags),
        )
        return DeploymentResult.of(info)

    @implements(DEPLOYMENT_STATE)
    def deployment_state(self, req: DeploymentInput) -> DeploymentResult:
        return DeploymentResult.of(self.ports.endpoints.deployment(req.endpoint, req.deployment))

    @implements(SMOKE)
    def smoke(self, req: SmokeInput) -> SmokeResult:
        """Score sample rows of the evaluation split on the challenger alone (the run's contract
        says which columns are the label and id), or the model's input example without one."""
        p = self.ports
        # a deploy-only run has no evaluation split (nor contract): it smokes the model's input example
        contract = run_rules(p.ledger, req.run_id).contract if req.eval_ref is not None else None
        return smoke_test(p.data_lake, p.registry, p.endpoints, contract, req)

    @implements(SET_TRAFFIC)
    def set_traffic(self, req: TrafficInput) -> EndpointResult:
        return EndpointResult.of(self.ports.endpoints.set_traffic(req.endpoint, req.traffic, req.mirror))

    @implements(GATE)
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

    @implements(SHADOW_GATE)
    def shadow_gate(self, req: ShadowGateInput) -> ShadowGateResult:
        """Green's answers vs blue's on the same requests of the window; the ledger records it."""
        return judge_shadow(self.ports.prediction_log, self.ports.ledger, req)

    @implements(ONLINE_ACCURACY)
    def online_accuracy(self, req: OnlineAccuracyInput) -> OnlineAccuracyResult:
        """Live predictions joined to the labels landed so far (the run's contract names the label)."""
        p = self.ports
        label = run_rules(p.ledger, req.run_id).contract.label
        return judge_online_accuracy(p.prediction_log, p.data_lake, p.ledger, req, label)

    @implements(DELETE_DEPLOYMENT)
    def delete_deployment(self, req: DeploymentInput) -> DeletedResult:
        """Delete a retired deployment; the port refuses one that still has live traffic."""
        endpoints = self.ports.endpoints
        if req.deployment in endpoints.get(req.endpoint).deployments:
            endpoints.delete_deployment(req.endpoint, req.deployment)
        return DeletedResult(deleted=req.deployment)

    @implements(SET_CHAMPION)
    def set_champion(self, req: SetChampionInput) -> SetChampionResult:
        self.ports.registry.set_champion(req.model, req.version)
        return SetChampionResult(model=req.model, champion=req.version)


FUNCTIONS = serve(RolloutActivities)
