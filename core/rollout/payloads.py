"""Payloads of the rollout sub-orchestration (deploy, smoke, traffic, gates, promote)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from core.kernel.activity import Activity
from core.kernel.payload import BlobRef, Payload
from core.kernel.policy import DeployOnlyPolicy, Policy
from core.kernel.ports import DeploymentInfo, EndpointInfo
from core.rollout.verdicts import GateConfig

__all__ = [
    "BEGIN_DEPLOY",
    "DELETE_DEPLOYMENT",
    "DEPLOYMENT_STATE",
    "ENSURE_ENDPOINT",
    "GATE",
    "SET_CHAMPION",
    "SET_TRAFFIC",
    "SMOKE",
    "DeletedResult",
    "DeploymentInput",
    "DeploymentResult",
    "EndpointInput",
    "EndpointResult",
    "GateInput",
    "GateResult",
    "GreenDeployInput",
    "RolloutInput",
    "SetChampionInput",
    "SetChampionResult",
    "SmokeInput",
    "SmokeResult",
    "TrafficInput",
]


class RolloutInput(Payload):
    """What the lifecycle hands over after register (orchestrators/lifecycle.py, the seam), or a
    deploy lifecycle after it accepted a registry version (orchestrators/deploy.py)."""

    run_id: str
    model: str
    challenger_version: str
    champion_version: str | None = None
    policy: Policy | DeployOnlyPolicy  # the run's snapshot (the rollout reads its `rollout`)
    policy_hash: str
    eval_ref: BlobRef | None = None  # the evaluation split: smoke-test rows come from here


class EndpointInput(Payload):
    endpoint: str


class DeploymentResult(Payload):
    name: str
    model_name: str
    model_version: str
    state: Literal["creating", "succeeded", "failed", "deleting", "missing"]
    message: str = ""

    @classmethod
    def of(cls, info: DeploymentInfo) -> DeploymentResult:
        return cls(
            name=info.name,
            model_name=info.model_name,
            model_version=info.model_version,
            state=info.state,
            message=info.message[-2000:],
        )


class EndpointResult(Payload):
    name: str
    scoring_uri: str
    traffic: dict[str, int]
    mirror_traffic: dict[str, int]
    deployments: dict[str, DeploymentResult] = Field(default_factory=dict)

    @classmethod
    def of(cls, info: EndpointInfo) -> EndpointResult:
        return cls(
            name=info.name,
            scoring_uri=info.scoring_uri,
            traffic=dict(info.traffic),
            mirror_traffic=dict(info.mirror_traffic),
            deployments={k: DeploymentResult.of(v) for k, v in info.deployments.items()},
        )


class GreenDeployInput(Payload):
    endpoint: str
    deployment: str
    model: str
    version: str
    instance_type: str = "Standard_DS3_v2"
    instance_count: int = 1


class DeploymentInput(Payload):
    endpoint: str
    deployment: str


class SmokeInput(Payload):
    run_id: str  # the smoke test reads the run's data contract from its policy snapshot
    model: str
    endpoint: str
    deployment: str
    eval_ref: BlobRef | None
    rows: int = 20


class SmokeResult(Payload):
    ok: bool
    rows: int
    error: str = ""


class TrafficInput(Payload):
    endpoint: str
    traffic: dict[str, int]
    mirror: dict[str, int] = Field(default_factory=dict)


class GateInput(Payload):
    run_id: str
    endpoint: str
    green: str
    blue: str
    phase: int
    percent: int
    start: datetime
    end: datetime
    gate: GateConfig


class GateResult(Payload):
    verdict: Literal["pass", "fail", "need_more_data", "unavailable"]
    reasons: list[str]
    green_requests: int
    blue_requests: int
    min_samples: int


class SetChampionInput(Payload):
    model: str
    version: str


class DeletedResult(Payload):
    deleted: str  # the deployment, gone (or never there)


class SetChampionResult(Payload):
    model: str
    champion: str  # the version that now carries the champion mark


# --------------------------------------------------------------------------- activities

ENSURE_ENDPOINT = Activity("rollout_ensure_endpoint", EndpointInput, EndpointResult)
BEGIN_DEPLOY = Activity("rollout_begin_deploy", GreenDeployInput, DeploymentResult)
DEPLOYMENT_STATE = Activity("rollout_deployment_state", DeploymentInput, DeploymentResult)
SMOKE = Activity("rollout_smoke", SmokeInput, SmokeResult)
SET_TRAFFIC = Activity("rollout_set_traffic", TrafficInput, EndpointResult)
GATE = Activity("rollout_gate", GateInput, GateResult)
DELETE_DEPLOYMENT = Activity("rollout_delete_deployment", DeploymentInput, DeletedResult)
SET_CHAMPION = Activity("rollout_set_champion", SetChampionInput, SetChampionResult)
