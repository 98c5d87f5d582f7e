"""Promotion across environments at the edge: a deploy-only environment (prod) receives another
environment's `promoted` CloudEvent through Event Grid and starts a deploy lifecycle of the
exact registry version it names.

Delivery is at least once: the deploy lifecycle's instance id is derived from the event
(core.environments.release.plan_deploy), so a redelivery finds it started and starts nothing. An
event no deploy-only policy accepts (another source, registry or model; a promotion that was not
shared) is recorded with the reasons, never raised: Event Grid would redeliver it for a day.
"""

from __future__ import annotations

import logging
from typing import Any

import azure.functions as func

import wiring
from core.environments.deploy import releases
from core.environments.payloads import DeployRunInput
from core.environments.release import DeployPlan, plan_deploy
from core.intake.facts import EventIgnored
from core.kernel.policy import DeployOnlyPolicy, Policy
from triggers.api_models import Promotion
from triggers.blob_events import event_document
from triggers.blueprint import bp
from triggers.edge import get_edge
from triggers.intake import exists_error

log = logging.getLogger("triggers.promotions")


def choose(
    event: dict[str, Any], policies: dict[str, DeployOnlyPolicy]
) -> tuple[DeployPlan | None, list[str]]:
    """The plan of the one deploy-only policy that accepts the event, or the reasons none did."""
    reasons: list[str] = []
    for model in sorted(policies):
        plan = plan_deploy(event, policies[model])
        if plan.verdict == "deploy":
            return plan, []
        reasons += [f"{model}: {r}" for r in plan.reasons]
    return None, reasons or ["this environment has no deploy-only policy"]


async def start_deploy(client: Any, plan: DeployPlan, event: dict[str, Any]) -> str:
    """-> started | duplicate."""
    if await client.get_status(plan.instance_id):
        return "duplicate"
    deploy = DeployRunInput(
        run_id=plan.instance_id,
        model=plan.model,
        event_id=plan.event_id,
        event_source=str(event.get("source", "")),
        registry=plan.registry,
        registry_model=plan.registry_model,
        registry_version=plan.registry_version,
        lineage=plan.lineage,
    )
    try:
        await client.start_new("deploy", instance_id=plan.instance_id, client_input=deploy.dump())
    except Exception as exc:
        if not exists_error(exc):
            raise  # a retry can fix it: Event Grid redelivers
        return "duplicate"
    return "started"


@bp.event_grid_trigger(arg_name="event")
@bp.durable_client_input(client_name="client")
async def on_model_promoted(event: func.EventGridEvent, client) -> None:
    doc = event_document(event)
    event_id = str(doc.get("id", ""))[:200]
    plan, reasons = choose(doc, wiring.deploy_only())
    if plan is None:
        log.info("promoted event %s starts nothing: %s", event_id, reasons)
        fact = EventIgnored(
            ignored="promoted event not accepted", event_id=event_id, error="; ".join(reasons)[:2000]
        )
        await get_edge().record_ignored(None, fact)
        return
    outcome = await start_deploy(client, plan, doc)
    if outcome == "duplicate":
        why = "duplicate delivery: its deploy lifecycle exists"
        await get_edge().record_ignored(
            plan.model, EventIgnored(ignored=why, event_id=event_id, run_id=plan.instance_id)
        )
    log.info("promoted event %s -> deploy %s (%s)", event_id, plan.instance_id, outcome)


def release_view(model: str, policy: Policy | DeployOnlyPolicy) -> dict[str, Any]:
    """The operator API's view of a model's shared registry and its latest promotions."""
    registry: str | None
    if isinstance(policy, DeployOnlyPolicy):
        kind, registry = "deploy_only", policy.source.registry
    else:
        kind, registry = "lifecycle", policy.promotion.registry if policy.promotion else None
    found = releases(wiring.ledger(), model, limit=20) if registry else []
    return {
        "kind": kind,
        "registry": registry,
        "promotions": [Promotion.model_validate(dict(p)) for p in found[:10]],
    }
