"""The OpenAPI 3.0 document of the operator API and the alert webhook (GET /api/openapi.json).

The operator API has two doors to the same handlers: `/api/...` for automation (a function key)
and `/api/console/...` for people (anonymous at the host; an Entra bearer token that the app
validates, or locally the console's sign-in; 401 without one). The console paths
are the keyed ones, copied with their own security and a 401 for a missing principal.

The paths are written here; every body and response schema is generated from the pydantic
models the handlers use (triggers/api_models.py), so the document follows the code. Tests run
schemathesis against it.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic.json_schema import models_json_schema

from core.intake.events import MAX_PAYLOAD_BYTES
from core.intake.payloads import OPERATOR_EVENTS
from core.run.status import RUN_STATUSES
from triggers.api_models import BODIES, RESPONSES

MODEL_NAME = {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,30}[a-z0-9]$", "example": "churn"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "400": _json(_ref("Error"), "The input is invalid; `error` says what to change."),
    "401": {"description": "A function key is required (header x-functions-key or query code)."},
    "403": _json(_ref("Error"), "The caller's principal lacks the role (reader reads, operator acts)."),
    "413": _json(_ref("Error"), f"The body is over {MAX_PAYLOAD_BYTES} bytes (256 KB)."),
}
NOT_FOUND = {"404": _json(_ref("Error"), "No such model or lifecycle.")}
UNAVAILABLE = {"503": _json(_ref("Error"), "The lifecycle's durable status could not be read; try again.")}
# {model}-{claim time}-{6 hex}[-rollout]: the ids the coordinators make (core.intake.payloads)
RUN_ID = {
    "type": "string",
    "pattern": "^[a-z0-9][a-z0-9-]{0,30}[a-z0-9]-[0-9]{14}-[0-9a-f]{6}(-rollout)?$",
    "example": "churn-20240501120000-3f2a9c",
}


def document(server_url: str = "") -> dict[str, Any]:
    run_id = {"name": "id", "in": "path", "required": True, "schema": RUN_ID}
    model = {"name": "model", "in": "path", "required": True, "schema": MODEL_NAME}
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "ML lifecycle service",
            "version": "1.0.0",
            "description": (
                "Event-driven ML lifecycle on Azure Functions. Retrain requests from every source are "
                "deduplicated and coalesced per model; at most one lifecycle runs per model at a time."
            ),
        },
        "security": [{"functionKey": []}, {"functionKeyQuery": []}],
        "paths": {
            "/api/models/{model}/retrain": {
                "post": {
                    "operationId": "retrainModel",
                    "summary": "Ask for a retrain (coalesced with any other pending request of the model)",
                    "parameters": [
                        model,
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"},
                            "description": "Repeating a request with the same key records it once.",
                        },
                    ],
                    "requestBody": {
                        "required": False,
                        "content": {"application/json": {"schema": _ref("RetrainBody")}},
                    },
                    "responses": {
                        "202": _json(_ref("Accepted"), "Recorded; the coordinator will run it."),
                        "200": _json(_ref("Accepted"), "Seen before (same Idempotency-Key); nothing new."),
                        **ERRORS,
                        **NOT_FOUND,
                    },
                }
            },
            "/api/models": {
                "get": {
                    "operationId": "listModels",
                    "summary": "The models that have a lifecycle policy, and who is asking",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["models"],
                                "properties": {
                                    "models": {"type": "array", "items": {"type": "string"}},
                                    "caller": {"type": "object"},
                                },
                            },
                            "Model names, sorted.",
                        ),
                        **ERRORS,
                    },
                }
            },
            "/api/models/{model}": {
                "get": {
                    "operationId": "getModel",
                    "summary": "Champion with lineage, endpoint traffic, pending requests, recent lifecycles",
                    "parameters": [model],
                    "responses": {"200": _json(_ref("Model"), "The model."), **ERRORS, **NOT_FOUND},
                }
            },
            "/api/lifecycles": {
                "get": {
                    "operationId": "listLifecycles",
                    "parameters": [
                        {"name": "model", "in": "query", "required": False, "schema": MODEL_NAME},
                        {
                            "name": "status",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "enum": list(RUN_STATUSES)},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
                        },
                    ],
                    "responses": {
                        "200": _json(_ref("LifecycleList"), "Newest first."),
                        **ERRORS,
                        **NOT_FOUND,
                    },
                }
            },
            "/api/lifecycles/{id}": {
                "get": {
                    "operationId": "getLifecycle",
                    "summary": "Stage, steps, gate evaluations with their numbers, traffic, lineage, requests",
                    "parameters": [run_id],
                    "responses": {
                        "200": _json(_ref("Lifecycle"), "The lifecycle."),
                        **ERRORS,
                        **NOT_FOUND,
                        **UNAVAILABLE,
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
                "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code"},
            },
            "schemas": schemas(),
        },
    }
    doc["paths"]["/api/promotions"] = {
        "get": {
            "operationId": "listPromotions",
            "summary": "Promotions across environments (shared into / deployed from the registry), newest first",
            "parameters": [
                {"name": "model", "in": "query", "required": False, "schema": MODEL_NAME},
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
                },
            ],
            "responses": {
                "200": _json(_ref("PromotionList"), "The promotions of the latest lifecycles."),
                **ERRORS,
                **NOT_FOUND,
            },
        }
    }
    for action in OPERATOR_EVENTS:
        doc["paths"][f"/api/lifecycles/{{id}}/{action}"] = {
            "post": {
                "operationId": f"{action}Lifecycle",
                "summary": f"Raise `{action}` on a running lifecycle",
                "parameters": [run_id],
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": _ref("ActionBody")}},
                },
                "responses": {
                    "202": _json(_ref("ActionAccepted"), f"`{action}` was delivered."),
                    "409": _json(_ref("Error"), "The lifecycle is not running."),
                    **ERRORS,
                    **NOT_FOUND,
                    **UNAVAILABLE,
                },
            }
        }
    doc["paths"]["/api/alerts"] = {
        "post": {
            "operationId": "azureMonitorAlert",
            "summary": "Azure Monitor action-group webhook (common alert schema)",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "responses": {
                "202": _json({"type": "object"}, "A fired alert became a retrain request."),
                "200": _json(
                    {"type": "object"}, "Recorded without a retrain (resolved, duplicate, unmapped)."
                ),
                **ERRORS,
            },
        }
    }
    doc["paths"].update(_console_paths(doc["paths"]))
    doc["components"]["securitySchemes"]["entraBearer"] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": (
            "On Azure: an Entra v2 access token for the console's app registration; the app checks its "
            "signature against the tenant's keys, issuer, audience and expiry, and takes the person and "
            "their app roles (reader, operator) from it. Locally: the console server's sign-in "
            "(devstack/console.py)."
        ),
    }
    doc["paths"].update(_batch_paths(model))
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc


CONSOLE_401 = _json(
    _ref("Error"),
    "No trusted principal: people sign in (an Entra bearer token on Azure); automation uses /api/... with a key.",
)
PEOPLES_PREFIXES = ("/api/models", "/api/lifecycles")


def _console_paths(paths: dict[str, Any]) -> dict[str, Any]:
    """/api/console/... for every operator route: the same operations for people."""
    console: dict[str, Any] = {}
    for path, item in paths.items():
        if not path.startswith(PEOPLES_PREFIXES):
            continue
        ops = {}
        for method, op in item.items():
            ops[method] = {
                **op,
                "operationId": f"console{op['operationId'][0].upper()}{op['operationId'][1:]}",
                "security": [{"entraBearer": []}],
                "responses": {**op["responses"], "401": CONSOLE_401},
            }
        console[path.replace("/api/", "/api/console/", 1)] = ops
    return console


BATCH_RUN_ID = {
    "type": "string",
    "pattern": "^batch-[a-z0-9][a-z0-9-]{0,30}[a-z0-9]-[0-9a-f]{16}$",
    "example": "batch-churn-3f2a9c0d11e4b7a2",
}


def _batch_paths(model: dict[str, Any]) -> dict[str, Any]:
    limit = {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
    }
    return {
        "/api/models/{model}/batch": {
            "get": {
                "operationId": "getModelBatch",
                "summary": "The model's batch endpoint: default deployment, deployments, recent scoring runs",
                "parameters": [model],
                "responses": {
                    "200": _json(_ref("BatchEndpoint"), "The batch endpoint."),
                    **ERRORS,
                    "404": _json(_ref("Error"), "No such model, or its policy has no batch section."),
                },
            }
        },
        "/api/batch-runs": {
            "get": {
                "operationId": "listBatchRuns",
                "summary": "Scoring runs (of one model, or of every model with a batch section)",
                "parameters": [
                    {"name": "model", "in": "query", "required": False, "schema": MODEL_NAME},
                    limit,
                ],
                "responses": {"200": _json(_ref("BatchRunList"), "Newest first."), **ERRORS, **NOT_FOUND},
            }
        },
        "/api/batch-runs/{id}": {
            "get": {
                "operationId": "getBatchRun",
                "summary": "One scoring run: summary, every fact it recorded, orchestration status",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": BATCH_RUN_ID}],
                "responses": {
                    "200": _json(_ref("BatchRunDetail"), "The scoring run."),
                    **ERRORS,
                    **NOT_FOUND,
                    **UNAVAILABLE,
                },
            }
        },
    }


@functools.cache
def schemas() -> dict[str, Any]:
    """components.schemas from the models: request bodies as validated, responses as serialized,
    in OpenAPI 3.0 terms (nullable instead of a null type, enum instead of const)."""
    pairs = [(m, "validation") for m in BODIES] + [(m, "serialization") for m in RESPONSES]
    _, top = models_json_schema(pairs, ref_template="#/components/schemas/{model}")  # type: ignore[arg-type]
    return {name: _openapi30(schema) for name, schema in sorted(top["$defs"].items())}


def _openapi30(node: Any) -> Any:
    if isinstance(node, list):
        return [_openapi30(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _openapi30(v) for k, v in node.items() if k != "title"}
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if options and {"type": "null"} in options:
            rest = [o for o in options if o != {"type": "null"}]
            node.pop(key)
            if len(rest) == 1 and "$ref" not in rest[0]:
                node.update(rest[0])
            else:
                node[key if len(rest) > 1 else "allOf"] = rest
            node["nullable"] = True
    return node
