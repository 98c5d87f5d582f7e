"""Request helpers the control API and the scoring path share: key auth and JSON bodies."""

from __future__ import annotations

import hmac
import json
from typing import Any

from aiohttp import web

from standins.endpoint.state import ApiError

UNAUTHORISED = "missing or wrong key: send 'Authorization: Bearer <key>'"


def authorised(request: web.Request, key: str) -> bool:
    supplied = request.headers.get("api-key", "")
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        supplied = auth[7:].strip()
    # bytes, so that a non-ASCII or non-UTF-8 key is a 401 rather than a 500
    return bool(supplied) and hmac.compare_digest(
        supplied.encode("utf-8", "surrogatepass"), key.encode("utf-8")
    )


def require_key(request: web.Request, key: str) -> None:
    if not authorised(request, key):
        raise ApiError(401, "Unauthorized", UNAUTHORISED)


async def read_json(request: web.Request, default: Any = None) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        if default is not None:
            return default
        raise ApiError(400, "InvalidRequest", "a JSON body is required")
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ApiError(400, "InvalidRequest", f"body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidRequest", "body must be a JSON object")
    return body
