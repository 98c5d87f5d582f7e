"""Blob-created events for Azurite, which has no Event Grid: poll the watched containers about once a second
and, for each new blob (or new eTag), deliver a Microsoft.Storage.BlobCreated event in Azure's exact Event
Grid schema to an Event Grid triggered function, through the same code path as the webhook.

What was announced is kept in SQLite in the state dir, so a restart does not announce a blob twice. A
delivery that fails (the function raised) is retried with back-off, like Event Grid's retry policy, and
given up after MAX_ATTEMPTS with an error in the log (Event Grid would dead-letter it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from devhost.discovery import EVENTGRID_TRIGGER, AppLoadError, LoadedApp
from devhost.eventgrid import EventGridTriggers, MalformedEvents
from devhost.procs import AZURITE_ACCOUNT, azurite_connection_string

log = logging.getLogger("devhost")

MAX_ATTEMPTS = 8
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS announced_blobs (
    container TEXT NOT NULL,
    name TEXT NOT NULL,
    etag TEXT NOT NULL,
    event_id TEXT NOT NULL,
    outcome TEXT NOT NULL,          -- delivered | dead-lettered
    announced_at TEXT NOT NULL,
    PRIMARY KEY (container, name, etag)
);
CREATE TABLE IF NOT EXISTS blob_sequencer (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
"""


@dataclass
class BlobWatchConfig:
    connection: str  # a connection string, or the name of an app setting holding one
    containers: list[str]
    function: str
    interval: float = 1.0
    optional: bool = False  # a missing target function disables the watcher instead of failing the host

    def connection_string(self) -> str:
        value = self.connection
        if "=" not in value:  # an app setting name
            setting = os.environ.get(value)
            if not setting:
                raise AppLoadError(f"--watch-blobs names app setting {value!r}, which is not set.")
            value = setting
        if value.strip().lower().rstrip(";") == "usedevelopmentstorage=true":
            return azurite_connection_string(10000)
        return value


def _account_name(connection_string: str) -> str:
    parts = dict(p.split("=", 1) for p in connection_string.split(";") if "=" in p)
    return parts.get("AccountName", AZURITE_ACCOUNT)


def _event_time(moment: datetime | None) -> str:
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def blob_created_event(
    *,
    account: str,
    container: str,
    name: str,
    etag: str,
    url: str,
    content_type: str | None,
    content_length: int,
    last_modified: datetime | None,
    sequencer: int,
) -> dict[str, Any]:
    """The BlobCreated event Azure Storage publishes for a PutBlob, field for field."""
    return {
        "topic": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/devhost/providers/Microsoft.Storage/storageAccounts/{account}",
        "subject": f"/blobServices/default/containers/{container}/blobs/{name}",
        "eventType": "Microsoft.Storage.BlobCreated",
        "id": str(uuid.uuid4()),
        "data": {
            "api": "PutBlob",
            "clientRequestId": str(uuid.uuid4()),
            "requestId": str(uuid.uuid4()),
            "eTag": etag,
            "contentType": content_type or "application/octet-stream",
            "contentLength": content_length,
            "blobType": "BlockBlob",
            "url": url,
            "sequencer": f"{sequencer:032X}",
            "storageDiagnostics": {"batchId": str(uuid.uuid4())},
        },
        "dataVersion": "",
        "metadataVersion": "1",
        "eventTime": _event_time(last_modified),
    }


class AnnouncedStore:
    def __init__(self, db_path: Path) -> None:
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(_SCHEMA)

    def known(self) -> set[tuple[str, str, str]]:
        with self._lock:
            rows = self._conn.execute("SELECT container, name, etag FROM announced_blobs").fetchall()
            return {(str(c), str(n), str(e)) for c, n, e in rows}

    def next_sequencer(self) -> int:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            row = self._conn.execute("SELECT value FROM blob_sequencer WHERE id = 1").fetchone()
            value = (row[0] if row else 0) + 1
            self._conn.execute("INSERT OR REPLACE INTO blob_sequencer(id, value) VALUES (1, ?)", (value,))
            self._conn.execute("COMMIT")
            return value

    def record(self, container: str, name: str, etag: str, event_id: str, outcome: str) -> None:
        now = datetime.now(UTC).isoformat()
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO announced_blobs VALUES (?, ?, ?, ?, ?, ?)",
                (container, name, etag, event_id, outcome, now),
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class BlobWatcher:
    def __init__(
        self, config: BlobWatchConfig, app: LoadedApp, eventgrid: EventGridTriggers, db_path: Path
    ) -> None:
        spec = app.get(config.function)
        if spec is None or spec.trigger_type != EVENTGRID_TRIGGER:
            raise AppLoadError(
                f"The blob watcher's target function {config.function!r} is not an Event Grid triggered function "
                f"of this app (Event Grid functions: {', '.join(f.name for f in app.by_trigger(EVENTGRID_TRIGGER)) or 'none'})."
            )
        if not config.containers:
            raise AppLoadError("The blob watcher needs at least one container (--watch-containers raw,...).")

        self.config = config
        self.spec = spec
        self.eventgrid = eventgrid
        connection_string = config.connection_string()
        self.account = _account_name(connection_string)
        self.client = BlobServiceClient.from_connection_string(connection_string)
        self.store = AnnouncedStore(db_path)
        self.task: asyncio.Task[None] | None = None
        self._failures: dict[tuple[str, str, str], tuple[int, float]] = {}  # key -> (attempts, retry at)

    def describe(self) -> str:
        return (
            f"blob watcher: {self.account} containers {', '.join(self.config.containers)} -> "
            f"Microsoft.Storage.BlobCreated to '{self.spec.name}'"
        )

    async def start(self) -> None:
        self.task = asyncio.create_task(self._loop(), name="blob-watcher")

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        self.store.close()
        with contextlib.suppress(Exception):
            self.client.close()

    def _list(self) -> list[tuple[str, Any]]:
        found: list[tuple[str, Any]] = []
        for container in self.config.containers:
            container_client = self.client.get_container_client(container)
            try:
                blobs = list(container_client.list_blobs())
            except ResourceNotFoundError:  # the container is not created yet
                continue
            found.extend((container, b) for b in blobs)
        found.sort(
            key=lambda cb: (cb[1].last_modified or datetime.min.replace(tzinfo=UTC), cb[0], cb[1].name)
        )
        return found

    async def poll_once(self) -> int:
        """Announce every blob not announced yet; returns how many were delivered."""
        blobs = await asyncio.to_thread(self._list)
        known = self.store.known()
        delivered = 0
        for container, blob in blobs:
            etag = str(blob.etag or "").strip('"')
            key = (container, blob.name, etag)
            if key in known:
                continue
            attempts, retry_at = self._failures.get(key, (0, 0.0))
            if time.monotonic() < retry_at:
                continue
            event = blob_created_event(
                account=self.account,
                container=container,
                name=blob.name,
                etag=etag,
                url=f"{self.client.url.rstrip('/')}/{container}/{quote(blob.name)}",
                content_type=blob.content_settings.content_type if blob.content_settings else None,
                content_length=int(blob.size or 0),
                last_modified=blob.last_modified,
                sequencer=self.store.next_sequencer(),
            )
            try:
                result = await self.eventgrid.deliver(self.spec, [event])
                ok = not result.failed
            except MalformedEvents as exc:
                log.error("blob watcher: event for %s/%s could not be decoded: %s", container, blob.name, exc)
                ok = False
            if ok:
                self.store.record(container, blob.name, etag, event["id"], "delivered")
                self._failures.pop(key, None)
                delivered += 1
                continue
            attempts += 1
            if attempts >= MAX_ATTEMPTS:
                log.error(
                    "blob watcher: giving up on %s/%s after %d failed deliveries (Event Grid would dead-letter it)",
                    container,
                    blob.name,
                    attempts,
                )
                self.store.record(container, blob.name, etag, event["id"], "dead-lettered")
                self._failures.pop(key, None)
            else:
                delay = min(60.0, 2.0 ** (attempts - 1))
                log.warning(
                    "blob watcher: delivery for %s/%s failed; retry %d in %.0fs",
                    container,
                    blob.name,
                    attempts,
                    delay,
                )
                self._failures[key] = (attempts, time.monotonic() + delay)
        return delivered

    async def _loop(self) -> None:
        healthy = True
        while True:
            try:
                await self.poll_once()
                if not healthy:
                    log.info("blob watcher: storage reachable again")
                healthy = True
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Azurite down for a moment: keep watching, say so once
                if healthy:
                    log.warning("blob watcher: cannot poll %s (will keep trying): %s", self.client.url, exc)
                healthy = False
            await asyncio.sleep(self.config.interval)
