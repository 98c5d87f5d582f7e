"""A local Event Grid custom topic: POST /runtime/topics/{topic}?api-version=... with header aeg-sas-key.

The app's EventPublisher is the azure-eventgrid client in both modes; locally it publishes here, and devhost
records every event in SQLite so tests and the demo can read what the app announced
(GET /runtime/topics/{topic}/events, function key). Accepts CloudEvents (one or a batch) and the Event Grid
schema (a JSON array), and answers like Event Grid: 200 with an empty body, 401 without the key."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from devhost.eventgrid import MalformedEvents, parse_events
from devhost.keys import HostKeys, request_key, same_key

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


class Topics:
    def __init__(self, store: TopicStore, keys: HostKeys) -> None:
        self.store = store
        self.keys = keys

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
