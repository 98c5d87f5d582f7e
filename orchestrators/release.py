"""Sharing a new champion into the shared registry: the step between "green took 100%" and the
`promoted` event, so that the event names the registry version another environment deploys.

A generator the rollout calls once (`yield from share_champion(...)`). Registries differ: the
local store copies at once, Azure ML imports in the background, so the share is asked again on a
durable timer until the copy is readable. The champion has moved by then: a share that fails is
recorded (ModelShared with `error`) and the event goes out without registry coordinates, which a
deploy-only environment refuses with reasons; it never rolls the champion back.
"""

from __future__ import annotations

from typing import Any

from core.environments.facts import ModelShared
from core.environments.payloads import SHARE, ShareInput
from core.kernel.policy import DeployOnlyPolicy, Policy
from orchestrators.run import RunContext, Step

SHARE_POLL_SECONDS = 10
SHARE_DEADLINE_SECONDS = 1800  # an Azure ML registry import of a model takes minutes


def share_champion(run: RunContext, policy: Policy | DeployOnlyPolicy, version: str) -> Step[dict[str, Any]]:
    """-> the `promoted` event's registry data ({} when the policy shares nothing or it failed)."""
    promotion = getattr(policy, "promotion", None)
    if promotion is None:
        return {}
    ask = ShareInput(run_id=run.run_id, model=run.model, version=version, registry=promotion.registry)
    try:
        polled = yield from run.poll(
            lambda: run.call(SHARE, ask),
            lambda shared: shared.state == "shared",
            every=SHARE_POLL_SECONDS,
            within=SHARE_DEADLINE_SECONDS,
        )
        shared = polled.last
        if polled.outcome == "deadline":
            raise TimeoutError(
                f"{shared.registry_model}:{shared.registry_version} is still being copied into "
                f"{promotion.registry} after {SHARE_DEADLINE_SECONDS}s"
            )
    except Exception as exc:
        error = f"{type(exc).__name__}: {str(exc)[:500]}"
        yield from run.record(ModelShared(registry=promotion.registry, version=version, error=error))
        return {}
    fact = ModelShared(
        registry=shared.registry,
        version=version,
        registry_model=shared.registry_model,
        registry_version=shared.registry_version,
    )
    yield from run.record(fact)
    data: dict[str, Any] = dict(shared.data)
    return data
