"""A local Event Grid custom topic: POST /runtime/topics/{topic}?api-version=... with header aeg-sas-key.

The app's EventPublisher is the azure-eventgrid client in both modes; locally it publishes here, and devhost
records every event in SQLite so tests and the demo can read what the app announced
(GET /runtime/topics/{topic}/events, function key). Accepts CloudEvents (one or a batch) and the Event Grid
schema (a JSON array), and answers like Event Grid: 200 with an empty body, 401 without the key.

Event subscriptions (DEVHOST_TOPIC_SUBSCRIPTIONS, `topic:function[:type|type...]`, comma-separated) deliver
a topic's events to an Event Grid triggered function of the hosted app, as an Azure Function destination
would: after the publish is answered, one event per invocation, filtered by event type, and retried with
backoff when the function fails (at least once: a function sees a redelivery after a failure)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from devhost.eventgrid import DeliveryResult, MalformedEvents, parse_events
from devhost.keys import HostKeys, request_key, same_key

log = logging.getLogger("devhost")

# Event Grid retries failed deliveries with backoff for up to 24 hours; locally a few quick attempts
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0)


@dataclass(frozen=True)
class Subscription:
    """A topic's event subscription with an Event Grid triggered function as destination."""

    topic: str
    function: str
    event_types: tuple[str, ...] = ()  # empty: every type (includedEventTypes)

    def matches(self, topic: str, event: dict[str, Any]) -> bool:
        kind = str(event.get("type") or event.get("eventType") or "")
        return topic.lower() == self.topic.lower() and (not self.event_types or kind in self.event_types)


def parse_subscriptions(text: str) -> list[Subscription]:
    """`topic:function[:type|type]`, comma-separated, e.g. `lifecycle:on_model_promoted:mllifecycle.promoted`."""
    found = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        parts = item.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise ValueError(
                f"DEVHOST_TOPIC_SUBSCRIPTIONS entry {item!r} is not topic:function[:type|type], "
                "e.g. lifecycle:on_model_promoted:mllifecycle.promoted"
            )
        types = tuple(t for t in (parts[2].split("|") if len(parts) == 3 else []) if t)
        found.append(Subscription(parts[0], parts[1], types))
    return found


_SCHEMA = """
CREATE TABLE IF NOT EXISTS topic_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    schema TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    subject TEXT,
    received_at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS topic_events_topic ON topic_events(topic, seq);
"""


class TopicStore:
    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(_SCHEMA)

    def append(self, topic: str, schema: str, events: list[dict[str, Any]]) -> None:
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        rows = [
            (
                topic.lower(),
                schema,
                str(e.get("id")),
                str(e.get("type") or e.get("eventType")),
                e.get("subject"),
                now,
                json.dumps(e),
            )
            for e in events
        ]
        with self._lock:
            self._conn.execute("BEGIN")
            self._conn.executemany(
                "INSERT INTO topic_events(topic, schema, event_id, event_type, subject, received_at, body) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._conn.execute("COMMIT")

    def events(self, topic: str, *, event_type: str | None = None, after: int = 0) -> list[dict[str, Any]]:
        sql = "SELECT seq, body FROM topic_events WHERE topic = ? AND seq > ?"
        args: list[Any] = [topic.lower(), after]
        if event_type:
            sql += " AND event_type = ?"
            args.append(event_type)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY seq", args).fetchall()
        return [json.loads(body) for _, body in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


Deliver = Callable[[str, list[dict[str, Any]]], Awaitable[DeliveryResult]]


class Topics:
    def __init__(
        self,
        store: TopicStore,
        keys: HostKeys,
        subscriptions: list[Subscription] | None = None,
        deliver: Deliver | None = None,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        self.store = store
        self.keys = keys
        self.subscriptions = list(subscriptions or [])
        self._deliver = deliver
        self.retry_delays = retry_delays
        self._tasks: set[asyncio.Task[None]] = set()

    def fan_out(self, topic: str, events: list[dict[str, Any]]) -> None:
        """Schedule each subscription's deliveries (the publisher's answer does not wait for them)."""
        if self._deliver is None:
            return
        for sub in self.subscriptions:
            for event in (e for e in events if sub.matches(topic, e)):
                task = asyncio.get_running_loop().create_task(self._deliver_with_retries(sub, event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _deliver_with_retries(self, sub: Subscription, event: dict[str, Any]) -> None:
        assert self._deliver is not None
        for attempt, delay in enumerate((0.0, *self.retry_delays)):
            if delay:
                await asyncio.sleep(delay)
            try:
                result = await self._deliver(sub.function, [event])
                if not result.failed:
                    return
                problem = "the function failed"
            except Exception as exc:  # a malformed event or a missing function: retrying cannot help
                log.warning(
                    "topic %s: event %s not deliverable to %s: %s",
                    sub.topic,
                    event.get("id"),
                    sub.function,
                    exc,
                )
                return
            log.warning(
                "topic %s: delivery %d of event %s to %s failed (%s)",
                sub.topic,
                attempt + 1,
                event.get("id"),
                sub.function,
                problem,
            )
        log.error(
            "topic %s: event %s dead-lettered after %d attempts to %s",
            sub.topic,
            event.get("id"),
            len(self.retry_delays) + 1,
            sub.function,
        )

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def register(self, web_app: web.Application) -> None:
        web_app.router.add_post("/runtime/topics/{topic}", self.publish)
        web_app.router.add_post("/runtime/topics/{topic}/api/events", self.publish)  # Event Grid's path shape
        web_app.router.add_get("/runtime/topics/{topic}/events", self.list_events)

    async def publish(self, request: web.Request) -> web.Response:
        key = request.headers.get("aeg-sas-key")
        if not key or not same_key(key, self.keys.master):
            return web.json_response(
                {
                    "error": {
                        "code": "Unauthorized",
                        "message": "aeg-sas-key is missing or wrong (use the host master key).",
                    }
                },
                status=401,
            )
        try:
            schema, events = parse_events(await request.read(), request.headers.get("Content-Type", ""))
        except MalformedEvents as exc:
            return web.json_response({"error": {"code": "BadRequest", "message": str(exc)}}, status=400)
        self.store.append(request.match_info["topic"], schema, events)
        self.fan_out(request.match_info["topic"], events)
        return web.Response(status=200)

    async def list_events(self, request: web.Request) -> web.Response:
        if not self.keys.allows("function", request_key(request)):
            return web.Response(status=401)
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            return web.Response(status=400, text="after must be an integer")
        events = self.store.events(
            request.match_info["topic"], event_type=request.query.get("type"), after=after
        )
        return web.json_response(events)
