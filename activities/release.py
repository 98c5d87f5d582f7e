"""Activities of promotion across environments: dev shares its champion into the shared
registry; prod opens a deploy lifecycle's record. Thin: one core function each (core/environments/deploy.py)."""

from __future__ import annotations

import wiring
from activities.blueprint import bp
from core.environments.deploy import share_champion, start_deploy
from core.environments.payloads import DeployStartInput, DeployStartResult, ShareInput, ShareResult
from wiring import Ports


class ReleaseActivities:
    def __init__(self, ports: Ports) -> None:
        self.ports = ports

    def share(self, req: ShareInput) -> ShareResult:
        return share_champion(self.ports.registry, self.ports.model_share, req)

    def deploy_start(self, req: DeployStartInput) -> DeployStartResult:
        p = self.ports
        req = req.model_copy(update={"code_version": req.code_version or p.code_version})
        return start_deploy(p.ledger, p.policies.deploy_only(), p.model_share, req)


def _acts() -> ReleaseActivities:
    return ReleaseActivities(wiring.ports())


@bp.activity_trigger(input_name="payload")
def release_share(payload: dict) -> dict:
    return _acts().share(ShareInput.model_validate(payload)).dump()


@bp.activity_trigger(input_name="payload")
def deploy_start(payload: dict) -> dict:
    return _acts().deploy_start(DeployStartInput.model_validate(payload)).dump()
