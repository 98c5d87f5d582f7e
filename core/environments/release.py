"""Promotion across environments, as pure functions: what dev's `promoted` event says about the
registry copy, and what a deploy-only (prod) environment does with such an event.

Dev shares its new champion into the registry and publishes `promoted` with the registry
coordinates (`released_registry_data`). Prod's Event Grid trigger hands the CloudEvent to
`plan_deploy`, which accepts it only from the expected source, for the expected registry and
model, and names the exact registry version to deploy; anything else is refused with reasons
(recorded, never deployed).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from core.kernel.policy import DeployOnlyPolicy
from core.kernel.ports import ModelVersion

# tags the registry copy carries besides the dev version's own lineage tags
SOURCE_TAGS = ("source_registry", "source_model", "source_version")


def event_source(model: str, environment: str | None = None) -> str:
    """The CloudEvent `source` of a model's lifecycle events: with the environment's name when
    it has one, so that prod, subscribed to dev's topic, tells dev's `promoted` from its own."""
    if environment:
        return f"/mllifecycle/envs/{environment}/models/{model}"
    return f"/mllifecycle/models/{model}"


def released_registry_data(registry: str, shared: ModelVersion, dev: ModelVersion) -> dict[str, Any]:
    """The `data` of dev's `promoted` CloudEvent that lets prod find the exact artifact."""
    return {
        "registry": registry,
        "registry_model": shared.name,
        "registry_version": shared.version,
        "version": dev.version,
        "lineage": {k: v for k, v in shared.tags.items() if k not in ("champion", "champion_since")},
    }


def deploy_run_id(model: str, promoted_at: datetime, registry: str, registry_model: str, version: str) -> str:
    """A deploy lifecycle's id, shaped like every lifecycle id ({model}-YYYYMMDDhhmmss-xxxxxx,
    so the operator API and console treat it as one), and derived from the event: a redelivery
    of the same `promoted` event maps to the same id, and so starts nothing new."""
    digest = hashlib.sha256(f"{registry}|{registry_model}|{version}".encode()).hexdigest()[:6]
    return f"{model}-{promoted_at:%Y%m%d%H%M%S}-{digest}"


@dataclass(frozen=True)
class DeployPlan:
    verdict: Literal["deploy", "refuse"]
    model: str
    event_id: str = ""
    registry: str = ""
    registry_model: str = ""
    registry_version: str = ""
    instance_id: str = ""  # the deploy lifecycle's orchestration id: one per registry version
    lineage: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)


def _get(event: dict[str, Any], key: str) -> Any:
    """CloudEvent attributes are lower case, but a hand-written or re-serialised event may not be."""
    for k, v in event.items():
        if k.lower() == key:
            return v
    return None


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


# A model version in an Azure ML registry or workspace, or an MLflow registry: a single name (MLflow
# numbers them; Azure ML also takes names such as `2024.05.1`). It is put into registry paths and
# URLs (.../models/{name}/versions/{version}), so a `/` or `..` could address another asset.
REGISTRY_VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def is_registry_version(value: object) -> bool:
    return (
        isinstance(value, str | int)
        and not isinstance(value, bool)
        and REGISTRY_VERSION_RE.fullmatch(str(value)) is not None
        and ".." not in str(value)
    )


def plan_deploy(event: dict[str, Any], policy: DeployOnlyPolicy) -> DeployPlan:
    """Accept a `promoted` CloudEvent (as a JSON dict) for a deploy-only policy, or refuse it.

    The orchestration id is derived from the event's time and registry version, so a redelivered
    event (Event Grid delivers at least once) starts one deploy, not two."""
    event_id = str(_get(event, "id") or "")
    source, kind = _get(event, "source"), _get(event, "type")
    data = _get(event, "data")
    refuse: list[str] = []
    if kind != policy.source.event_type:
        refuse.append(f"event type {kind!r} is not {policy.source.event_type!r}")
    if source not in policy.accepted_sources:
        refuse.append(f"source {source!r} is not one of the accepted sources {policy.accepted_sources}")
    if not isinstance(data, dict):
        refuse.append("the event has no JSON object data")
        data = {}
    registry, model, version = data.get("registry"), data.get("registry_model"), data.get("registry_version")
    if not data.get("registry") and not refuse:
        refuse.append(
            "the event names no registry: dev promoted without sharing (is promotion.registry set?)"
        )
    elif registry and registry != policy.source.registry:
        refuse.append(f"registry {registry!r} is not this policy's registry {policy.source.registry!r}")
    if model != policy.registry_model:
        refuse.append(f"registry model {model!r} is not {policy.registry_model!r}")
    if not version:
        refuse.append("the event names no registry_version")
    elif not is_registry_version(version):
        refuse.append(
            f"registry_version {str(version)[:80]!r} is not a registry version (1-64 letters, digits, '.', '_' "
            "or '-', starting with a letter or digit, no '..': one name, never a path)"
        )
    promoted_at = _time(_get(event, "time"))
    if promoted_at is None:
        refuse.append("the event has no valid `time` (ISO 8601): the deploy run id is made from it")
    if refuse:
        return DeployPlan("refuse", policy.model, event_id=event_id, reasons=refuse)
    lineage = data.get("lineage") if isinstance(data.get("lineage"), dict) else {}
    assert promoted_at is not None
    instance = deploy_run_id(policy.model, promoted_at, str(registry), str(model), str(version))
    return DeployPlan(
        "deploy",
        policy.model,
        event_id=event_id,
        registry=str(registry),
        registry_model=str(model),
        registry_version=str(version),
        instance_id=instance,
        lineage=dict(lineage or {}),
        reasons=[f"deploy {model}:{version} from registry {registry} (event {event_id} from {source})"],
    )
