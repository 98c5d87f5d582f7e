"""The OpenAPI 3.0 document of the operator API and the alert webhook (GET /api/openapi.json).

Written as data next to the handlers it describes; tests run schemathesis against it, so a
handler that drifts from this document fails the build.
"""

from __future__ import annotations

from typing import Any

from core.events_in import MAX_PAYLOAD_BYTES
from core.payloads.triggers import OPERATOR_EVENTS
from triggers.operator_api import RUN_STATUSES

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


def document(server_url: str = "") -> dict[str, Any]:
    run_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
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
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["lifecycles"],
                                "properties": {
                                    "lifecycles": {"type": "array", "items": _ref("LifecycleSummary")}
                                },
                            },
                            "Newest first.",
                        ),
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
                    "responses": {"200": _json(_ref("Lifecycle"), "The lifecycle."), **ERRORS, **NOT_FOUND},
                }
            },
        },
        "components": {
            "securitySchemes": {
                "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
                "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
                "RetrainBody": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "reason": {"type": "string", "maxLength": 1000},
                        "requested_by": {"type": "string", "maxLength": 200},
                    },
                },
                "ActionBody": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "reason": {"type": "string", "maxLength": 1000},
                        "by": {"type": "string", "maxLength": 200},
                    },
                },
                "Accepted": {
                    "type": "object",
                    "required": ["status", "model", "request_id", "coordinator"],
                    "properties": {
                        "status": {"type": "string", "enum": ["accepted", "duplicate"]},
                        "model": {"type": "string"},
                        "request_id": {"type": "string"},
                        "dedupe_key": {"type": "string"},
                        "coordinator": {"type": "string"},
                        "links": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                },
                "Request": {
                    "type": "object",
                    "required": ["request_id", "source", "received_at"],
                    "properties": {
                        "request_id": {"type": "string"},
                        "source": {"type": "string"},
                        "dedupe_key": {"type": "string"},
                        "received_at": {"type": "string", "format": "date-time"},
                        "consumed_by": {"type": "string", "nullable": True},
                        "held_reason": {"type": "string", "nullable": True},
                        "details": {"type": "object"},
                    },
                },
                "LifecycleSummary": {
                    "type": "object",
                    "required": ["id", "model", "status", "stage"],
                    "properties": {
                        "id": {"type": "string"},
                        "model": {"type": "string"},
                        "status": {"type": "string"},
                        "stage": {"type": "string"},
                        "created_at": {"type": "string", "nullable": True},
                        "updated_at": {"type": "string", "nullable": True},
                        "challenger_version": {"type": "string", "nullable": True},
                        "champion_version": {"type": "string", "nullable": True},
                    },
                },
                "Lifecycle": {
                    "type": "object",
                    "required": ["id", "steps", "gates", "traffic", "requests"],
                    "properties": {
                        "id": {"type": "string"},
                        "status": {"type": "string"},
                        "stage": {"type": "string"},
                        "lineage": {"type": "object"},
                        "decision": {"type": "object"},
                        "steps": {"type": "array", "items": {"type": "object"}},
                        "gates": {"type": "array", "items": {"type": "object"}},
                        "traffic": {"type": "array", "items": {"type": "object"}},
                        "decisions": {"type": "array", "items": {"type": "object"}},
                        "requests": {"type": "array", "items": _ref("Request")},
                        "approval": {"type": "object", "nullable": True},
                        "orchestration": {"type": "object", "nullable": True},
                    },
                },
                "Model": {
                    "type": "object",
                    "required": ["model", "champion", "endpoint", "pending_requests", "recent_lifecycles"],
                    "properties": {
                        "model": {"type": "string"},
                        "policy_hash": {"type": "string"},
                        "champion": {"type": "object", "nullable": True},
                        "endpoint": {"type": "object", "nullable": True},
                        "pending_requests": {"type": "array", "items": _ref("Request")},
                        "last_hold": {"type": "object", "nullable": True},
                        "recent_lifecycles": {"type": "array", "items": _ref("LifecycleSummary")},
                        "coordinator": {"type": "object", "nullable": True},
                    },
                },
            },
        },
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
                    "202": _json(
                        {"type": "object", "required": ["status", "id", "action"]},
                        f"`{action}` was delivered.",
                    ),
                    "409": _json(_ref("Error"), "The lifecycle is not running."),
                    **ERRORS,
                    **NOT_FOUND,
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
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc
