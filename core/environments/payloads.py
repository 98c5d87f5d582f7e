"""Payloads of promotion across environments: dev sharing its champion into the shared registry,
and prod's deploy lifecycle (a `promoted` CloudEvent in, the exact registry version deployed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from core.kernel.activity import Activity
from core.kernel.payload import Payload
from core.kernel.policy import DeployOnlyPolicy

__all__ = [
    "DEPLOY_START",
    "SHARE",
    "DeployRunInput",
    "DeployStartInput",
    "DeployStartResult",
    "ShareInput",
    "ShareResult",
]


class ShareInput(Payload):
    """Share this environment's champion `model:version` into `registry` (the policy's)."""

    run_id: str
    model: str
    version: str
    registry: str


class ShareResult(Payload):
    # copying: Azure ML imports in the background; the orchestrator asks again on a durable timer
    state: Literal["shared", "copying"]
    registry: str
    registry_model: str
    registry_version: str
    data: dict[str, Any] = Field(default_factory=dict)  # the `promoted` event's registry part


class DeployRunInput(Payload):
    """What starts a deploy lifecycle: the accepted `promoted` event and the version it names."""

    run_id: str
    model: str  # this environment's (deploy-only) model
    event_id: str
    event_source: str
    registry: str
    registry_model: str
    registry_version: str
    lineage: dict[str, Any] = Field(default_factory=dict)


class DeployStartInput(Payload):
    run_id: str
    trigger: DeployRunInput
    started_at: datetime
    code_version: str = ""


class DeployStartResult(Payload):
    run_id: str
    model: str
    policy: DeployOnlyPolicy
    policy_hash: str
    champion_version: str | None = None
    found: bool  # False: the registry has no such version (the run ends failed, with `reason`)
    source_uri: str = ""
    reason: str = ""


# --------------------------------------------------------------------------- activities

SHARE = Activity("release_share", ShareInput, ShareResult)
DEPLOY_START = Activity("deploy_start", DeployStartInput, DeployStartResult)
