"""Sharing a new champion into the shared registry: the step between "green took 100%" and the
`promoted` event, so that the event names the registry version another environment deploys.

A generator the rollout calls once (`yield from share_champion(...)`). Registries differ: the
local store copies at once, Azure ML imports in the background, so the share is asked again on a
durable timer until the copy is readable. The champion has moved by then: a share that fails is
recorded (ModelShared with `error`) and the event goes out without registry coordinates, which a
deploy-only environment refuses with reasons; it never rolls the champion back.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.environments.facts import ModelShared
from core.environments.payloads import ShareInput, ShareResult
from core.kernel.policy import DeployOnlyPolicy, Policy
from orchestrators.run import RunContext

SHARE_POLL_SECONDS = 10
SHARE_DEADLINE_SECONDS = 1800  # an Azure ML registry import of a model takes minutes


def share_champion(run: RunContext, policy: Policy | DeployOnlyPolicy, version: str):
    """-> the `promoted` event's registry data ({} when the policy shares nothing or it failed)."""
    promotion = getattr(policy, "promotion", None)
    if promotion is None:
        return {}
    context = run.context
    ask = ShareInput(run_id=run.run_id, model=run.model, version=version, registry=promotion.registry)
    deadline = context.current_utc_datetime + timedelta(seconds=SHARE_DEADLINE_SECONDS)
    try:
        while True:
            shared = ShareResult.model_validate((yield run.call("release_share", ask)))
            if shared.state == "shared":
                break
            now = context.current_utc_datetime
            if now >= deadline:
                raise TimeoutError(
                    f"{shared.registry_model}:{shared.registry_version} is still being copied into "
                    f"{promotion.registry} after {SHARE_DEADLINE_SECONDS}s"
                )
            yield context.create_timer(now + timedelta(seconds=SHARE_POLL_SECONDS))
    except Exception as exc:
        error = f"{type(exc).__name__}: {str(exc)[:500]}"
        yield run.record(ModelShared(registry=promotion.registry, version=version, error=error))
        return {}
    fact = ModelShared(
        registry=shared.registry,
        version=version,
        registry_model=shared.registry_model,
        registry_version=shared.registry_version,
    )
    yield run.record(fact)
    data: dict[str, Any] = dict(shared.data)
    return data
