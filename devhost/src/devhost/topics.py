"""A local Event Grid custom topic: POST /runtime/topics/{topic}?api-version=... with header aeg-sas-key.

The app's EventPublisher is the azure-eventgrid client in both modes; locally it publishes here, and devhost
records every event in SQLite so tests and the demo can read what the app announced
(GET /runtime/topics/{topic}/events, function key). Accepts CloudEvents (one or a batch) and the Event Grid
schema (a JSON array), and answers like Event Grid: 200 with an empty body, 401 without the key.

Event subscriptions (DEVHOST_TOPIC_SUBSCRIPTIONS, `topic:function[:type|type...]`, comma-separated) deliver
a topic's events to an Event Grid triggered function of the hosted app, as an Azure Function destination
would: after the publish is answered, one event per invocation, filtered by event type, and retried with
backoff when the function fails (at least once: a function sees a redelivery after a failure).

Deliveries are persisted with the event, in the same transaction, and a dispatcher sends the due ones:
a host killed before or during a delivery sends it again after its restart. Like Event Grid's retry policy
(https://learn.microsoft.com/azure/event-grid/delivery-and-retry: 30 attempts, event time to live 1440
minutes by default, exponential backoff), a delivery is retried until the function succeeds, the attempts
run out or the event is older than its time to live; then it is dead-lettered (kept with its last error)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from devhost.eventgrid import DeliveryResult, MalformedEvents, parse_events
from devhost.keys import HostKeys, request_key, same_key

log = logging.getLogger("devhost")

# Backoff between attempts (the last one repeats); Event Grid's default limits: 30 attempts, 24 hours
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 60.0, 120.0, 300.0, 600.0)
MAX_ATTEMPTS = 30
EVENT_TTL_SECONDS = 24 * 3600.0
DISPATCH_POLL_SECONDS = 0.5


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
CREATE TABLE IF NOT EXISTS topic_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    function TEXT NOT NULL,
    event_id TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',  -- pending | delivered | dead
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    due_at REAL NOT NULL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS topic_deliveries_due ON topic_deliveries(state, due_at);
"""


@dataclass(frozen=True)
class Delivery:
    """One event on its way to one subscription's function (a row of topic_deliveries)."""

    id: int
    topic: str
    function: str
    event: dict[str, Any]
    attempts: int
    created_at: float


class TopicStore:
    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(_SCHEMA)

    def append(
        self,
        topic: str,
        schema: str,
        events: list[dict[str, Any]],
        deliveries: Sequence[tuple[str, dict[str, Any]]] = (),
    ) -> None:
        """Store the events and their subscriptions' deliveries (function, event) at once: an event
        the publisher was told is accepted always has its deliveries."""
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
        at = time.time()
        pending = [(topic.lower(), fn, str(e.get("id")), json.dumps(e), at, at) for fn, e in deliveries]
        with self._lock:
            self._conn.execute("BEGIN")
            self._conn.executemany(
                "INSERT INTO topic_events(topic, schema, event_id, event_type, subject, received_at, body) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._conn.executemany(
                "INSERT INTO topic_deliveries(topic, function, event_id, body, created_at, due_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                pending,
            )
            self._conn.execute("COMMIT")

    def due(self, now: float, limit: int = 50) -> list[Delivery]:
        """Pending deliveries whose time has come, oldest first (after a restart: also the ones
        that were in flight when the host died)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, topic, function, body, attempts, created_at FROM topic_deliveries "
                "WHERE state = 'pending' AND due_at <= ? ORDER BY due_at, id LIMIT ?",
                (now, limit),
            ).fetchall()
        return [Delivery(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5]) for r in rows]

    def begin_attempt(self, delivery_id: int) -> int:
        """Count an attempt before it is made (one cut short by a kill counts too) -> attempts."""
        with self._lock:
            self._conn.execute(
                "UPDATE topic_deliveries SET attempts = attempts + 1 WHERE id = ?", (delivery_id,)
            )
            row = self._conn.execute(
                "SELECT attempts FROM topic_deliveries WHERE id = ?", (delivery_id,)
            ).fetchone()
        return int(row[0])

    def settle(
        self, delivery_id: int, state: str, *, attempts: int, due_at: float, error: str | None
    ) -> None:
        """Record an attempt: delivered, dead-lettered, or pending again from `due_at`."""
        with self._lock:
            self._conn.execute(
                "UPDATE topic_deliveries SET state = ?, attempts = ?, due_at = ?, last_error = ? WHERE id = ?",
                (state, attempts, due_at, error, delivery_id),
            )

    def deliveries(self, topic: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT function, event_id, state, attempts, last_error FROM topic_deliveries "
                "WHERE topic = ? ORDER BY id",
                (topic.lower(),),
            ).fetchall()
        return [
            {"function": r[0], "event_id": r[1], "state": r[2], "attempts": r[3], "last_error": r[4]}
            for r in rows
        ]

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
        max_attempts: int = MAX_ATTEMPTS,
        ttl_seconds: float = EVENT_TTL_SECONDS,
    ) -> None:
        self.store = store
        self.keys = keys
        self.subscriptions = list(subscriptions or [])
        self._deliver = deliver
        self.retry_delays = retry_delays or (1.0,)
        self.max_attempts = max_attempts
        self.ttl_seconds = ttl_seconds
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: set[int] = set()
        self._wake: asyncio.Event | None = None
        self._dispatcher: asyncio.Task[None] | None = None

    def deliveries_for(self, topic: str, events: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
        """(function, event) for each subscription of `topic` that takes the event's type."""
        if self._deliver is None:
            return []
        return [(sub.function, e) for sub in self.subscriptions for e in events if sub.matches(topic, e)]

    async def start(self) -> None:
        """Start sending deliveries, first those a previous run of the host left pending."""
        if self._deliver is None or not self.subscriptions or self._dispatcher is not None:
            return
        self._wake = asyncio.Event()
        self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch())

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _dispatch(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            try:
                due = await asyncio.to_thread(self.store.due, time.time())
            except Exception as exc:  # the store is closing, or locked for a moment
                log.warning("topic deliveries unavailable: %s", exc)
                due = []
            for delivery in due:
                if delivery.id in self._in_flight:
                    continue
                self._in_flight.add(delivery.id)
                task = asyncio.get_running_loop().create_task(self._attempt(delivery))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), DISPATCH_POLL_SECONDS)

    def _delay(self, attempts: int) -> float:
        return self.retry_delays[min(attempts - 1, len(self.retry_delays) - 1)]

    async def _attempt(self, d: Delivery) -> None:
        assert self._deliver is not None
        try:
            attempts = self.store.begin_attempt(d.id)
            try:
                result = await self._deliver(d.function, [d.event])
            except Exception as exc:  # a malformed event or a missing function: retrying cannot help
                log.warning(
                    "topic %s: event %s not deliverable to %s: %s",
                    d.topic,
                    d.event.get("id"),
                    d.function,
                    exc,
                )
                self.store.settle(d.id, "dead", attempts=attempts, due_at=time.time(), error=str(exc)[:1000])
                return
            if not result.failed:
                self.store.settle(d.id, "delivered", attempts=attempts, due_at=time.time(), error=None)
                return
            now = time.time()
            expired = now - d.created_at >= self.ttl_seconds
            if attempts >= self.max_attempts or expired:
                log.error(
                    "topic %s: event %s dead-lettered after %d attempts to %s",
                    d.topic,
                    d.event.get("id"),
                    attempts,
                    d.function,
                )
                self.store.settle(d.id, "dead", attempts=attempts, due_at=now, error="the function failed")
                return
            log.warning(
                "topic %s: delivery %d of event %s to %s failed (the function failed)",
                d.topic,
                attempts,
                d.event.get("id"),
                d.function,
            )
            self.store.settle(
                d.id,
                "pending",
                attempts=attempts,
                due_at=now + self._delay(attempts),
                error="the function failed",
            )
        except Exception as exc:  # the store failed: the delivery stays pending, the dispatcher retries it
            log.warning("topic %s: delivery of event %s: %s", d.topic, d.event.get("id"), exc)
        finally:
            self._in_flight.discard(d.id)

    async def close(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._dispatcher
            self._dispatcher = None
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
        topic = request.match_info["topic"]
        self.store.append(topic, schema, events, self.deliveries_for(topic, events))
        self._poke()
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
