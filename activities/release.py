"""Activities of promotion across environments: dev shares its champion into the shared
registry; prod opens a deploy lifecycle's record. Thin: one core function each (core/environments/deploy.py)."""

from __future__ import annotations

from activities.blueprint import implements, serve
from core.environments.deploy import share_champion, start_deploy
from core.environments.payloads import (
    DEPLOY_START,
    SHARE,
    DeployStartInput,
    DeployStartResult,
    ShareInput,
    ShareResult,
)
from wiring import Ports


class ReleaseActivities:
    def __init__(self, ports: Ports) -> None:
        self.ports = ports

    @implements(SHARE)
    def share(self, req: ShareInput) -> ShareResult:
        return share_champion(self.ports.registry, self.ports.model_share, req)

    @implements(DEPLOY_START)
    def deploy_start(self, req: DeployStartInput) -> DeployStartResult:
        p = self.ports
        req = req.model_copy(update={"code_version": req.code_version or p.code_version})
        return start_deploy(p.ledger, p.policies.deploy_only(), p.model_share, req)


FUNCTIONS = serve(ReleaseActivities)
