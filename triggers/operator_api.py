"""The operator API: ask for a retrain, see a model and its lifecycles, steer a running lifecycle.

Two doors to the same handlers. `/api/...` is function-level: automation with a function key (a
principal next to the key is still attributed). `/api/console/...` is anonymous at the host, so a
browser with an Entra token can reach it on Flex Consumption, and *requires* a trusted principal
(on Azure a valid Entra bearer token, checked by the app; locally the emulator's principal with its
secret): 401 without one. Roles
come from the principal (core/kernel/authz.py: `reader` reads, `operator` also acts; every action is
attributed). Reads come from the ports (ledger, registry,
endpoints) and the durable status; writes are retrain requests (through the same intake as
every trigger) and external events raised on a running lifecycle. Every refusal is a 4xx with
{"error": "..."} saying what to change; an input is never half-applied.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

import azure.functions as func
from pydantic import BaseModel, ValidationError

import wiring
from core.environments.deploy import releases, run_releases
from core.intake.events import EventValidationError, load_json
from core.intake.payloads import OPERATOR_EVENTS, ROLLOUT_SUFFIX, coordinator_id, lifecycle_model
from core.kernel import authz
from core.kernel.blob_paths import has_lone_surrogate
from core.kernel.ports import LedgerEntry, LifecycleEvent, RunRecord
from core.run.facts import OperatorActed, read_fact
from core.run.status import FINAL_STATUSES, RUN_STATUSES, CoordinatorStatus, read_progress
from triggers.api_models import (
    ActionAccepted,
    ActionBody,
    Champion,
    Deployment,
    Endpoint,
    Entry,
    Error,
    Lifecycle,
    LifecycleList,
    LifecycleSummary,
    Model,
    OnlineFeatures,
    Orchestration,
    PendingApproval,
    Promotion,
    PromotionList,
    Request,
    RetrainBody,
    Unavailable,
)
from triggers.blueprint import bp
from triggers.drift_view import drift_view
from triggers.edge import get_edge
from triggers.intake import body_too_large, error, json_response, new_request
from triggers.openapi import document
from triggers.releases import release_view

log = logging.getLogger("triggers.operator_api")

ACTIVE_RUNTIME = {"Running", "Pending", "Suspended", "ContinuedAsNew"}
MAX_IDEMPOTENCY_KEY = 200


B = TypeVar("B", bound=BaseModel)


def _body(req: func.HttpRequest, model: type[B]) -> B | func.HttpResponse:
    """An optional JSON object body, validated; an empty body means all defaults."""
    raw = req.get_body() or b""
    if not raw.strip():
        return model()
    try:
        doc = load_json(raw, "request body")
    except EventValidationError as exc:
        return error(400, str(exc))
    if not isinstance(doc, dict):
        return error(400, f"the request body must be a JSON object with any of {sorted(model.model_fields)}")
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        return error(400, f"invalid request body: {problems}")


KEYED, CONSOLE = "key", "console"  # the door a request came through (see the module docstring)


def _caller(req: func.HttpRequest, action: str, door: str) -> authz.Caller | func.HttpResponse:
    """The caller if they may do `action`: 401 for a malformed principal (or none on the console
    door, which the host does not guard with a key), 403 for a missing role."""
    settings = wiring.settings()
    try:
        who = authz.caller(
            req.headers,
            mode=settings.mode,
            emulator_secret=settings.console_principal_secret,
            tokens=wiring.console_tokens(),
        )
    except authz.PrincipalError as exc:
        return error(401, str(exc))
    if door == CONSOLE and who.via != "principal":
        challenge = {"WWW-Authenticate": 'Bearer realm="console"'}
        return json_response(Error(error=authz.SIGN_IN_REQUIRED).dump(), 401, challenge)
    refused = authz.refusal(who, action)
    return error(403, refused) if refused else who


def _base_url(req: func.HttpRequest) -> str:
    url = req.url
    marker = url.find("/api/")
    return url[:marker] if marker >= 0 else url.rstrip("/")


def _model_names() -> list[str]:
    """Every model of this environment: those it trains and those it only deploys."""
    return sorted({*wiring.policies(), *wiring.deploy_only()})


def _known_model(model: str) -> bool:
    return model in _model_names()


def _deploys_only(model: str, registry: str) -> str:
    return (
        f"{model} is deploy-only in this environment: it trains nothing here and deploys the versions "
        f"another environment promotes into the registry {registry!r}; retrain it there"
    )


def _unknown_model(model: str) -> func.HttpResponse:
    known = ", ".join(_model_names()) or "none"
    return error(404, f"unknown model {model[:100]!r}: no lifecycle policy names it (known: {known})")


def _not_a_lifecycle(run_id: str) -> func.HttpResponse | None:
    """Only ids the coordinators make reach the ledger and the durable API: anything else (`..`,
    `coordinator-churn`, `%23x`, a lifecycle of a model no policy names) is not a lifecycle."""
    if lifecycle_model(run_id, _model_names()) is not None:
        return None
    return error(
        404,
        f"{run_id[:100]!r} is not a lifecycle id: lifecycles are named "
        f"{{model}}-YYYYMMDDhhmmss-xxxxxx (their rollouts add {ROLLOUT_SUFFIX!r}) for a known model; "
        "list them with GET /api/lifecycles",
    )


def _status_failed(instance_id: str, durable: Unavailable) -> func.HttpResponse:
    """The durable status could not be read: say so (503), never guess found or not found."""
    reason = f"the durable status of {instance_id} could not be read ({durable.unavailable}); try again"
    return json_response(Error(error=reason).dump(), 503, {"Retry-After": "5"})


def _entry(e: LedgerEntry) -> Entry:
    return Entry.of(e, read_fact(e.data))


def _guarded(what: str, read: Any) -> Any:
    """A part of a status view whose source is down reports that, instead of failing the view."""
    try:
        return read()
    except Exception as exc:
        log.warning("%s unavailable: %s", what, exc)
        return Unavailable(unavailable=f"{what}: {str(exc)[:300]}")


async def _durable(client: Any, instance_id: str) -> Orchestration | Unavailable | None:
    try:
        status = await client.get_status(instance_id)
    except Exception as exc:
        log.warning("durable status of %s unavailable: %s", instance_id, exc)
        return Unavailable(unavailable=str(exc)[:300])
    if not status:
        return None
    runtime = status.runtime_status
    custom = status.custom_status
    return Orchestration(
        runtime_status=getattr(runtime, "value", runtime),
        custom_status=CoordinatorStatus.read(custom)
        if _is_coordinator(instance_id)
        else read_progress(custom),
        created_time=status.created_time,
        last_updated_time=status.last_updated_time,
    )


def _is_coordinator(instance_id: str) -> bool:
    return instance_id.startswith(coordinator_id(""))


def _runtime(durable: Orchestration | Unavailable | None) -> str | None:
    return durable.runtime_status if isinstance(durable, Orchestration) else None


# --------------------------------------------------------------------------- models


async def _retrain(req: func.HttpRequest, client: Any, door: str) -> func.HttpResponse:
    model = req.route_params.get("model", "")
    if (too_large := body_too_large(req)) is not None:
        return too_large
    if isinstance(who := _caller(req, "retrain", door), func.HttpResponse):
        return who
    if not _known_model(model):
        return _unknown_model(model)
    if (deploy_only := wiring.deploy_only().get(model)) is not None:
        return error(409, _deploys_only(model, deploy_only.source.registry))
    body = _body(req, RetrainBody)
    if isinstance(body, func.HttpResponse):
        return body
    key = req.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key.strip()) <= MAX_IDEMPOTENCY_KEY):
        return error(400, f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} characters")
    if key is not None and has_lone_surrogate(key):
        return error(400, "Idempotency-Key contains a lone surrogate (not valid Unicode); send UTF-8 text")
    dedupe = f"operator:{key.strip()}" if key else f"operator:{uuid.uuid4()}"
    details = {**body.model_dump(), "idempotency_key": key, **who.record()}
    intake = await get_edge().submit(client, new_request(model, "operator", dedupe, details))
    base = _base_url(req)
    links = {
        "model": f"{base}/api/models/{quote(model)}",
        "lifecycles": f"{base}/api/lifecycles?model={quote(model)}",
        "coordinator": f"{base}/runtime/webhooks/durabletask/instances/{coordinator_id(model)}",
    }
    headers = {"Location": links["lifecycles"]}
    accepted = intake.accepted().model_copy(update={"links": links})
    return json_response(accepted.dump(), 200 if intake.duplicate else 202, headers)


def _models(req: func.HttpRequest, door: str) -> func.HttpResponse:
    """The models that have a lifecycle policy (the console's first page lists them)."""
    if isinstance(who := _caller(req, "read", door), func.HttpResponse):
        return who
    return json_response({"models": _model_names(), "caller": who.record()})


async def _model(req: func.HttpRequest, client: Any, door: str) -> func.HttpResponse:
    model = req.route_params.get("model", "")
    if isinstance(who := _caller(req, "read", door), func.HttpResponse):
        return who
    if not _known_model(model):
        return _unknown_model(model)
    deploy_only = wiring.deploy_only().get(model)
    policy = deploy_only or wiring.policy(model)
    ledger = wiring.ledger()

    def champion() -> Champion | None:
        found = wiring.registry().champion(model)
        if found is None:
            return None
        return Champion(
            version=found.version,
            source_uri=found.source_uri,
            created_at=found.created_at,
            lineage=found.tags,
        )

    def endpoint() -> Endpoint | None:
        name = policy.rollout.endpoint
        if not name:
            return None
        info = wiring.endpoints().get(name)
        return Endpoint(
            name=info.name,
            scoring_uri=info.scoring_uri,
            traffic=info.traffic,
            mirror_traffic=info.mirror_traffic,
            deployments={
                d.name: Deployment(model=d.model_name, version=d.model_version, state=d.state)
                for d in info.deployments.values()
            },
        )

    def online_features() -> OnlineFeatures | None:
        config = getattr(policy, "online_features", None)
        if config is None:
            return None
        name = config.name(model)
        versions = wiring.online_features().versions(name)
        serving = wiring.registry().champion(model)
        tags = serving.tags if serving else {}
        latest = versions[0] if versions else None
        now = datetime.now(UTC)
        return OnlineFeatures(
            feature_set=name,
            serving_version=tags.get("feature_set_version"),
            latest_version=latest.version if latest else None,
            latest_entities=latest.entities if latest else None,
            materialized_at=latest.materialized_at if latest else None,
            freshness_seconds=(now - latest.materialized_at).total_seconds() if latest else None,
            serving_is_latest=bool(latest and tags.get("feature_set_version") == latest.version),
        )

    held = [e for e in ledger.entries(coordinator_id(model), "request") if "held" in e.data]
    recent, pending = ledger.list_runs(model=model, limit=10), ledger.pending_requests(model)
    body = Model(
        model=model,
        policy_hash=policy.hash,
        champion=_guarded("model registry", champion),
        endpoint=_guarded("online endpoint", endpoint),
        pending_requests=[Request.of(r) for r in pending],
        last_hold=_entry(held[-1]) if held else None,
        recent_lifecycles=[LifecycleSummary.of(r) for r in recent],
        drift=_guarded("run ledger", lambda: drift_view(ledger, policy, recent, pending)),
        coordinator=await _durable(client, coordinator_id(model)),
        online_features=_guarded("online feature store", online_features),
        **release_view(model, policy),
    )
    return json_response(body.dump())


# --------------------------------------------------------------------------- lifecycles


def _lifecycles(req: func.HttpRequest, door: str) -> func.HttpResponse:
    if isinstance(who := _caller(req, "read", door), func.HttpResponse):
        return who
    model = req.params.get("model")
    status = req.params.get("status")
    raw_limit = req.params.get("limit", "50")
    if model is not None and not _known_model(model):
        return _unknown_model(model)
    if status is not None and status not in RUN_STATUSES:
        return error(400, f"status={status[:50]!r} is not one of {', '.join(RUN_STATUSES)}")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 500:
        return error(400, f"limit={raw_limit[:20]!r} must be a whole number from 1 to 500")
    runs = wiring.ledger().list_runs(model=model or None, status=status, limit=int(raw_limit))
    return json_response(LifecycleList(lifecycles=[LifecycleSummary.of(r) for r in runs]).dump())


def _lifecycle(run: RunRecord | None, run_id: str, durable: Orchestration | Unavailable | None) -> Lifecycle:
    ledger = wiring.ledger()
    entries = ledger.entries(run_id)

    def of(kind: str) -> list[Entry]:
        return [_entry(e) for e in entries if e.kind == kind]

    record: dict[str, Any] = {}
    if run is not None:
        record = {
            **dict(LifecycleSummary.of(run)),
            "trigger": run.trigger,
            "data_version": run.data_version,
            "job_name": run.job_name,
            "metrics": run.metrics,
            "decision": run.decision,
            "lineage": run.lineage,
        }
    return Lifecycle(
        **{"id": run_id, **record},
        steps=of("step"),
        gates=of("gate"),
        traffic=of("traffic"),
        decisions=of("decision"),
        events=of("event"),
        errors=of("error"),
        requests=[Request.of(r) for r in ledger.requests_for_run(run_id)],
        approval=_pending_approval(run, entries),
        orchestration=durable,
        promotions=[Promotion.model_validate(dict(p)) for p in run_releases(ledger, run)] if run else [],
    )


def _pending_approval(run: RunRecord | None, entries: list[LedgerEntry]) -> PendingApproval | None:
    """The approval the rollout waits for, with its deadline (the run's policy timeout rejects then)."""
    asked = [e for e in entries if e.data.get("kind") == "approval_asked"]
    answered = [e for e in entries if e.data.get("kind") == "approval_answered"]
    if run is None or run.status in FINAL_STATUSES or not asked or len(answered) >= len(asked):
        return None
    snapshot = (run.lineage.get("rules") or {}).get("policy") or {}
    approval = (snapshot.get("rollout") or {}).get("approval") or {}
    timeout = int(approval.get("timeout_seconds") or 86400)
    since = asked[-1].at
    return PendingApproval(
        since=since,
        deadline=since + timedelta(seconds=timeout),
        timeout_seconds=timeout,
        reason=str(asked[-1].data.get("reason", "")),
    )


async def _lifecycle_view(req: func.HttpRequest, client: Any, door: str) -> func.HttpResponse:
    run_id = req.route_params.get("id", "")
    if (refused := _not_a_lifecycle(run_id)) is not None:
        return refused
    if isinstance(who := _caller(req, "read", door), func.HttpResponse):
        return who
    run = wiring.ledger().get_run(run_id)
    durable = await _durable(client, run_id)
    if run is None and isinstance(durable, Unavailable):  # found or not: unknown
        return _status_failed(run_id, durable)
    if run is None and durable is None:
        return error(404, f"unknown lifecycle {run_id[:100]!r}; list them with GET /api/lifecycles")
    return json_response(_lifecycle(run, run_id, durable).dump())


async def _lifecycle_action(req: func.HttpRequest, client: Any, door: str) -> func.HttpResponse:
    run_id = req.route_params.get("id", "")
    action = req.route_params.get("action", "")
    if action not in OPERATOR_EVENTS:
        return error(404, f"unknown action {action[:50]!r}; use one of {', '.join(OPERATOR_EVENTS)}")
    if (refused := _not_a_lifecycle(run_id)) is not None:
        return refused
    if (too_large := body_too_large(req)) is not None:
        return too_large
    if isinstance(who := _caller(req, action, door), func.HttpResponse):
        return who
    ledger = wiring.ledger()
    run = ledger.get_run(run_id)
    durable = await _durable(client, run_id)
    if isinstance(durable, Unavailable):  # running or not: unknown, so nothing is raised
        return _status_failed(run_id, durable)
    if run is None and durable is None:
        return error(404, f"unknown lifecycle {run_id[:100]!r}; list them with GET /api/lifecycles")
    body = _body(req, ActionBody)
    if isinstance(body, func.HttpResponse):
        return body
    runtime = _runtime(durable)
    if runtime not in ACTIVE_RUNTIME:
        state = runtime or (run.status if run else "unknown")
        return error(
            409, f"lifecycle {run_id} is not running ({state}); {action} applies only to a running one"
        )
    data = {"action": action, **body.model_dump(), "actor": who.actor}
    # The lifecycle waits for `abort`; its rollout sub-orchestration (`{id}-rollout`) for the
    # approval and rollback events: deliver to each of them that is still running.
    targets = [run_id]
    rollout_id = f"{run_id}{ROLLOUT_SUFFIX}"
    rollout = await _durable(client, rollout_id)
    if isinstance(rollout, Unavailable):  # an approval must not reach only half of the run
        return _status_failed(rollout_id, rollout)
    if _runtime(rollout) in ACTIVE_RUNTIME:
        targets.append(rollout_id)
    for target in targets:
        await client.raise_event(target, action, data)
    fact = OperatorActed(operator=action, reason=body.reason, by=body.by, to=targets, **who.record())
    ledger.append(run_id, fact.ledger_kind, fact.dump())
    # in a thread: the publisher is synchronous, and locally its topic is served by this same host
    await asyncio.to_thread(_publish_action, run, run_id, action, body.reason, who)
    return json_response(ActionAccepted(id=run_id, action=action, delivered_to=targets).dump(), 202)


def _publish_action(run: RunRecord | None, run_id: str, action: str, reason: str, who: authz.Caller) -> None:
    """`mllifecycle.operator_action`, so subscribers learn who steered the run (best effort: the
    action itself was delivered and recorded)."""
    event = LifecycleEvent(
        id=str(uuid.uuid4()),
        type="mllifecycle.operator_action",
        model=run.model if run else "",
        run_id=run_id,
        time=datetime.now(UTC),
        data={"action": action, "reason": reason, **who.record()},
    )
    try:
        wiring.events().publish([event])
    except Exception as exc:
        log.warning("operator_action event for %s not published: %s", run_id, exc)


# --------------------------------------------------------------------------- the two doors
# The same handlers under /api/... (function key: automation) and /api/console/... (anonymous at the
# host, a principal required by _caller: people, with an Entra token on Azure).


@bp.route(route="models/{model}/retrain", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def operator_retrain(req: func.HttpRequest, client) -> func.HttpResponse:
    return await _retrain(req, client, KEYED)


@bp.route(route="console/models/{model}/retrain", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def console_retrain(req: func.HttpRequest, client) -> func.HttpResponse:
    return await _retrain(req, client, CONSOLE)


@bp.route(route="models", methods=["GET"])
def operator_models(req: func.HttpRequest) -> func.HttpResponse:
    return _models(req, KEYED)


@bp.route(route="console/models", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def console_models(req: func.HttpRequest) -> func.HttpResponse:
    return _models(req, CONSOLE)


@bp.route(route="models/{model}", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def operator_model(req: func.HttpRequest, client) -> func.HttpResponse:
    return await _model(req, client, KEYED)


@bp.route(route="console/models/{model}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def console_model(req: func.HttpRequest, client) -> func.HttpResponse:
    return await _model(req, client, CONSOLE)


@bp.route(route="lifecycles", methods=["GET"])
def operator_lifecycles(req: func.HttpRequest) -> func.HttpResponse:
    return _lifecycles(req, KEYED)


@bp.route(route="console/lifecycles", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def console_lifecycles(req: func.HttpRequest) -> func.HttpResponse:
    return _lifecycles(req, CONSOLE)


@bp.route(route="lifecycles/{id}", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def operator_lifecycle(req: func.HttpRequest, client) -> func.HttpResponse:
    return await _lifecycle_view(req, client, KEYED)


@bp.route(route="console/lifecycles/{id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def console_lifecycle(req: func.HttpRequest, client) -> func.HttpResponse:
    return await _lifecycle_view(req, client, CONSOLE)


@bp.route(route="lifecycles/{id}/{action}", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def operator_lifecycle_action(req: func.HttpRequest, client) -> func.HttpResponse:
    return await _lifecycle_action(req, client, KEYED)


@bp.route(route="console/lifecycles/{id}/{action}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def console_lifecycle_action(req: func.HttpRequest, client) -> func.HttpResponse:
    return await _lifecycle_action(req, client, CONSOLE)


@bp.route(route="promotions", methods=["GET"])
def operator_promotions(req: func.HttpRequest) -> func.HttpResponse:
    """Promotions across environments, newest first: champions this environment shared into the
    registry, and registry versions its deploy lifecycles took from another environment."""
    if isinstance(who := _caller(req, "read", KEYED), func.HttpResponse):
        return who
    model = req.params.get("model")
    raw_limit = req.params.get("limit", "50")
    if model is not None and not _known_model(model):
        return _unknown_model(model)
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 500:
        return error(400, f"limit={raw_limit[:20]!r} must be a whole number from 1 to 500")
    found = releases(wiring.ledger(), model or None, limit=int(raw_limit))
    body = PromotionList(promotions=[Promotion.model_validate(dict(p)) for p in found[: int(raw_limit)]])
    return json_response(body.dump())


# --------------------------------------------------------------------------- OpenAPI


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def openapi_document(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(document(_base_url(req))), mimetype="application/json")
