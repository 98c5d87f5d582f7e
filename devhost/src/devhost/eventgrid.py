"""Event Grid triggers at /runtime/webhooks/eventgrid?functionName=NAME, as the Event Grid extension serves them.

Event Grid delivers a JSON array (Event Grid schema) or CloudEvents 1.0 (one event or a batch); the host
invokes the function once per event, handing the worker the event's JSON, which azure.functions'
EventGridEventInConverter turns into func.EventGridEvent (or func.CloudEvent when `specversion` is present).
devhost does exactly that, so a function sees the same object it would on Azure. Any failed invocation
answers 500 so the sender (Event Grid, or devhost's blob watcher) retries."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter

from devhost.discovery import EVENTGRID_TRIGGER, FunctionSpec, LoadedApp
from devhost.invoke import InvocationFailed, Invoker
from devhost.keys import HostKeys, request_key

log = logging.getLogger("devhost")

VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"
WEBHOOK_PATH = "/runtime/webhooks/eventgrid"


class MalformedEvents(ValueError):
    """The body is not a valid Event Grid or CloudEvents delivery; the message says why (sent as 400)."""


@dataclass
class DeliveryResult:
    delivered: int
    failed: list[str]  # event ids whose invocation raised


def _require(event: dict[str, Any], fields: tuple[str, ...], index: int, schema: str) -> None:
    # subject may be empty (the validation event's is), but must be there
    missing = [
        f for f in fields if not isinstance(event.get(f), str) or (not event.get(f) and f != "subject")
    ]
    if missing:
        raise MalformedEvents(f"event {index} is not a valid {schema} event: missing {', '.join(missing)}")


def parse_events(body: bytes, content_type: str) -> tuple[str, list[dict[str, Any]]]:
    """-> (schema, events) where schema is 'eventgrid' or 'cloudevents'; raises MalformedEvents."""
    try:
        payload = json.loads(body.decode("utf-8") if body else "")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedEvents(f"body is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # a 500 would make Event Grid redeliver it for 24 hours
        raise MalformedEvents("body nests JSON too deeply") from exc
    content_type = content_type.lower()
    if isinstance(payload, dict):
        if "specversion" not in payload and "cloudevents" not in content_type:
            raise MalformedEvents("an Event Grid schema delivery must be a JSON array of events")
        events = [payload]
    elif isinstance(payload, list):
        events = payload
    else:
        raise MalformedEvents("body must be a JSON array of events (or one CloudEvent object)")
    if not events:
        raise MalformedEvents("the delivery holds no events")
    if not all(isinstance(e, dict) for e in events):
        raise MalformedEvents("every event must be a JSON object")
    cloud = [("specversion" in e) for e in events]
    if any(cloud) and not all(cloud):
        raise MalformedEvents("a delivery cannot mix CloudEvents and Event Grid schema events")
    if all(cloud) or "cloudevents" in content_type:
        for i, event in enumerate(events):
            _require(event, ("specversion", "id", "source", "type"), i, "CloudEvents 1.0")
            if event["specversion"] != "1.0":
                raise MalformedEvents(f"event {i}: specversion must be '1.0', got {event['specversion']!r}")
        return "cloudevents", events
    for i, event in enumerate(events):
        _require(event, ("id", "eventType", "subject", "eventTime"), i, "Event Grid schema")
    return "eventgrid", events


def to_trigger_value(event: dict[str, Any]) -> Any:
    """Exactly what the Python worker does with the JSON the host sends it."""
    datum = meta.Datum(value=json.dumps(event), type="json")
    return EventGridEventInConverter.decode(datum, trigger_metadata={})


class EventGridTriggers:
    def __init__(self, app: LoadedApp, keys: HostKeys, invoker: Invoker) -> None:
        self.app = app
        self.keys = keys
        self.invoker = invoker

    def register(self, web_app: web.Application) -> None:
        web_app.router.add_route("POST", WEBHOOK_PATH, self.handle)
        web_app.router.add_route("OPTIONS", WEBHOOK_PATH, self.handle_options)

    def function(self, name: str | None) -> FunctionSpec | None:
        spec = self.app.get(name) if name else None
        return spec if spec and spec.trigger_type == EVENTGRID_TRIGGER else None

    async def deliver(self, spec: FunctionSpec, events: list[dict[str, Any]]) -> DeliveryResult:
        """Invoke the function once per event, in order; shared by the webhook and the blob watcher."""
        failed = []
        for event in events:
            try:
                value = to_trigger_value(event)
            except Exception as exc:
                raise MalformedEvents(f"event {event.get('id')!r} cannot be decoded: {exc}") from exc
            try:
                await self.invoker.invoke(spec, value, f"EventGrid trigger fired for event {event.get('id')}")
            except InvocationFailed:
                failed.append(str(event.get("id")))
        return DeliveryResult(len(events) - len(failed), failed)

    def _authorize(self, request: web.Request) -> web.Response | FunctionSpec:
        if not self.keys.allows_system(request_key(request)):
            return web.Response(status=401, text="a valid system key (code=) is required")
        name = request.query.get("functionName")
        if not name:
            return web.Response(status=400, text="the functionName query parameter is required")
        spec = self.function(name)
        if spec is None:
            return web.Response(status=404, text=f"no Event Grid triggered function named {name!r}")
        return spec

    async def handle_options(self, request: web.Request) -> web.Response:
        """CloudEvents abuse-protection handshake (webhook validation for the CloudEvents schema)."""
        found = self._authorize(request)
        if isinstance(found, web.Response):
            return found
        origin = request.headers.get("WebHook-Request-Origin")
        if not origin:
            return web.Response(status=400, text="WebHook-Request-Origin header is required")
        headers = {"WebHook-Allowed-Origin": origin, "Allow": "POST, OPTIONS"}
        if "WebHook-Request-Rate" in request.headers:
            headers["WebHook-Allowed-Rate"] = "*"
        return web.Response(status=200, headers=headers)

    async def handle(self, request: web.Request) -> web.Response:
        found = self._authorize(request)
        if isinstance(found, web.Response):
            return found
        spec = found
        body = await request.read()
        kind = request.headers.get("aeg-event-type", "")
        content_type = request.headers.get("Content-Type", "")
        if not kind and "cloudevents" in content_type.lower():
            kind = "Notification"
        try:
            schema, events = parse_events(body, content_type)
            if kind == "SubscriptionValidation":
                return self._validate(events)
            if kind == "Unsubscribe":
                return web.Response(status=202)
            if kind != "Notification":
                raise MalformedEvents(
                    "the aeg-event-type header must be SubscriptionValidation or Notification "
                    f"(got {kind or 'nothing'})"
                )
            result = await self.deliver(spec, events)
        except MalformedEvents as exc:
            log.warning("Event Grid delivery to '%s' rejected: %s", spec.name, exc)
            return web.Response(status=400, text=str(exc))
        if result.failed:
            return web.Response(
                status=500,
                text=f"{len(result.failed)} of {len(events)} {schema} events failed: {', '.join(result.failed)}",
            )
        return web.Response(status=202)

    @staticmethod
    def _validate(events: list[dict[str, Any]]) -> web.Response:
        event = events[0]
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        code = data.get("validationCode") if data else None
        if event.get("eventType") != VALIDATION_EVENT or not code:
            raise MalformedEvents(
                f"a SubscriptionValidation delivery must hold a {VALIDATION_EVENT} with data.validationCode"
            )
        log.info("Event Grid subscription validated (code %s)", code)
        return web.json_response({"validationResponse": code})
