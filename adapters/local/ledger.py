"""SqliteRunLedger: the RunLedger port on SQLite (the local stand-in for Cosmos DB).

Several processes share the file (devhost's worker threads, the CLI, tests), so each thread keeps
its own connection, writes inside BEGIN IMMEDIATE, and WAL lets readers run alongside.
Runs carry an etag that changes on every write; a conditional put with a stale etag raises
ConcurrencyConflict exactly as Cosmos's if-match would.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.kernel.ports import (
    ConcurrencyConflict,
    LedgerEntry,
    RequestRecorded,
    RetrainRequest,
    RunRecord,
    merge_run_changes,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    status TEXT NOT NULL,
    stage TEXT NOT NULL,
    doc TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    etag TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_model ON runs (model, created_at);
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_by_run ON entries (run_id, seq);
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    source TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    received_at TEXT NOT NULL,
    details TEXT NOT NULL,
    consumed_by TEXT,
    held_reason TEXT
);
CREATE INDEX IF NOT EXISTS requests_pending ON requests (model, consumed_by, received_at);
"""

_DOC_FIELDS = (
    "trigger",
    "data_version",
    "job_name",
    "metrics",
    "decision",
    "lineage",
    "challenger_version",
    "champion_version",
)


def _param(value: Any) -> Any:
    """A str with a lone surrogate (JSON allows "\\ud800", UTF-8 does not) cannot be bound as
    TEXT; it is stored as its surrogatepass bytes, a BLOB that compares equal only to itself,
    so such keys still dedupe and are found, and read back exactly (see _row)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogatepass")
    return value


def _row(cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> dict[str, Any]:
    # no column holds real bytes: a BLOB is a str that _param had to store that way
    return {
        d[0]: v.decode("utf-8", "surrogatepass") if isinstance(v, bytes) else v
        for d, v in zip(cursor.description, values, strict=True)
    }


class _Connection(sqlite3.Connection):
    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        return super().execute(sql, tuple(_param(v) for v in parameters))

    def executemany(self, sql: str, seq: Any, /) -> sqlite3.Cursor:
        return super().executemany(sql, [tuple(_param(v) for v in params) for params in seq])


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


_ROWS_PER_INSERT = 500  # 8 parameters a row, well under SQLite's 32,766 per statement
_write_locks: dict[Path, threading.RLock] = {}
_write_locks_guard = threading.Lock()


def _write_lock(path: Path) -> threading.RLock:
    """One lock per ledger file in this process (several SqliteRunLedger objects may share one)."""
    with _write_locks_guard:
        return _write_locks.setdefault(path.resolve(), threading.RLock())


class SqliteRunLedger:
    def __init__(self, path: Path | str, *, timeout: float = 30.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._timeout = timeout
        self._write_lock = _write_lock(self.path)
        self._local = threading.local()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
        # Held open for the ledger's lifetime so closing a per-call connection is never the
        # last close, which would checkpoint the WAL with an fsync on every write.
        self._keeper = sqlite3.connect(self.path, timeout=self._timeout, check_same_thread=False)
        self._keeper.execute("SELECT count(*) FROM sqlite_master").fetchall()  # opens the WAL index

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection to the file, opened on first use and kept: opening one per call
        cost a storm of events more than its writes (issue 17). Kept per process too (a forked
        child opens its own)."""
        held = getattr(self._local, "db", None)
        if held is not None and held[0] == os.getpid():
            return held[1]
        db = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None, factory=_Connection)
        # WAL + NORMAL (as devhost's task hub and the traffic log): a commit survives the process
        # being killed; without it every write waits for an fsync (~30 ms on a VM disk).
        db.execute("PRAGMA synchronous=NORMAL")
        db.row_factory = _row
        self._local.db = (os.getpid(), db)
        return db

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        yield self._connection()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # Writers of this process take turns on a lock before SQLite's: the triggers record off
        # the event loop on several threads, and SQLite's busy handler makes a waiting writer
        # sleep 1-100 ms per retry, which cost a storm of events most of its latency (issue 17).
        # Other processes still wait on SQLite's lock (busy timeout).
        with self._write_lock, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    # ------------------------------------------------------------------ runs

    @staticmethod
    def _record(row: dict[str, Any]) -> RunRecord:
        doc = json.loads(row["doc"])
        return RunRecord(
            run_id=row["run_id"],
            model=row["model"],
            status=row["status"],
            stage=row["stage"],
            **{
                k: doc.get(k, {} if k in ("trigger", "metrics", "decision", "lineage") else None)
                for k in _DOC_FIELDS
            },
            created_at=_dt(row["created_at"]),
            updated_at=_dt(row["updated_at"]),
            etag=row["etag"],
        )

    def put_run(self, record: RunRecord) -> RunRecord:
        now = _iso(datetime.now(UTC))
        doc = json.dumps({k: getattr(record, k) for k in _DOC_FIELDS}, sort_keys=True, default=str)
        etag = uuid.uuid4().hex
        with self._write() as db:
            current = db.execute(
                "SELECT etag, created_at FROM runs WHERE run_id = ?", (record.run_id,)
            ).fetchone()
            if record.etag is not None and (current is None or current["etag"] != record.etag):
                raise ConcurrencyConflict(
                    f"run {record.run_id} changed since it was read (etag {record.etag} is stale): re-read and retry"
                )
            created = current["created_at"] if current else _iso(record.created_at or datetime.now(UTC))
            db.execute(
                "INSERT OR REPLACE INTO runs (run_id, model, status, stage, doc, created_at, updated_at, etag)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (record.run_id, record.model, record.status, record.stage, doc, created, now, etag),
            )
        return dataclasses.replace(record, created_at=_dt(created), updated_at=_dt(now), etag=etag)

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return self._record(row) if row else None

    def update_run(self, run_id: str, **changes: Any) -> RunRecord:
        unknown = set(changes) - {f.name for f in dataclasses.fields(RunRecord)} | (
            {"run_id", "etag"} & set(changes)
        )
        if unknown:
            raise TypeError(f"update_run: cannot change {sorted(unknown)}")
        for attempt in range(20):
            current = self.get_run(run_id)
            if current is None:
                raise KeyError(f"run {run_id} not found in the ledger")
            try:
                return self.put_run(merge_run_changes(current, changes))
            except ConcurrencyConflict:
                time.sleep(0.005 * (attempt + 1))
        raise ConcurrencyConflict(f"run {run_id}: gave up after 20 conflicting updates")

    def list_runs(
        self, model: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[RunRecord]:
        sql, args = "SELECT * FROM runs WHERE 1=1", list[Any]()
        if model is not None:
            sql += " AND model = ?"
            args.append(model)
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        sql += " ORDER BY created_at DESC, run_id LIMIT ?"
        args.append(limit)
        with self._connect() as db:
            return [self._record(r) for r in db.execute(sql, args).fetchall()]

    # ------------------------------------------------------------------ entries

    def append(self, run_id: str, kind: str, data: dict[str, Any]) -> LedgerEntry:
        at = datetime.now(UTC)
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO entries (run_id, kind, data, at) VALUES (?, ?, ?, ?)",
                (run_id, kind, json.dumps(data, sort_keys=True, default=str), _iso(at)),
            )
            seq = int(cur.lastrowid or 0)
        return LedgerEntry(run_id, kind, json.loads(json.dumps(data, default=str)), at, seq)

    def entries(self, run_id: str, kind: str | None = None) -> list[LedgerEntry]:
        sql, args = "SELECT * FROM entries WHERE run_id = ?", list[Any]([run_id])
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        with self._connect() as db:
            rows = db.execute(sql + " ORDER BY seq", args).fetchall()
        return [
            LedgerEntry(
                r["run_id"], r["kind"], json.loads(r["data"]), datetime.fromisoformat(r["at"]), r["seq"]
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ requests

    @staticmethod
    def _request(row: dict[str, Any]) -> RetrainRequest:
        return RetrainRequest(
            request_id=row["request_id"],
            model=row["model"],
            source=row["source"],
            dedupe_key=row["dedupe_key"],
            received_at=datetime.fromisoformat(row["received_at"]),
            details=json.loads(row["details"]),
            consumed_by=row["consumed_by"],
            held_reason=row["held_reason"],
        )

    def add_request(self, request: RetrainRequest) -> bool:
        with self._write() as db:
            return self._insert_request(db, request)

    @staticmethod
    def _request_row(request: RetrainRequest) -> tuple[Any, ...]:
        return (
            request.request_id,
            request.model,
            request.source,
            request.dedupe_key,
            _iso(request.received_at),
            json.dumps(request.details, sort_keys=True, default=str),
            request.consumed_by,
            request.held_reason,
        )

    def _insert_request(self, db: sqlite3.Connection, request: RetrainRequest) -> bool:
        cur = db.execute(
            "INSERT OR IGNORE INTO requests"
            " (request_id, model, source, dedupe_key, received_at, details, consumed_by, held_reason)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            self._request_row(request),
        )
        return cur.rowcount == 1

    def record_requests(self, requests: list[RetrainRequest]) -> list[RequestRecorded]:
        """One transaction for them all, and few statements: a storm's requests, each in its own
        transaction, spent most of the edge's time on BEGIN/COMMIT and the write lock, and every
        statement hands the GIL back and waits to take it again (issue 17)."""
        inserted: set[str] = set()
        with self._write() as db:
            for at in range(0, len(requests), _ROWS_PER_INSERT):
                chunk = requests[at : at + _ROWS_PER_INSERT]
                rows = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
                cur = db.execute(
                    "INSERT OR IGNORE INTO requests"
                    " (request_id, model, source, dedupe_key, received_at, details, consumed_by, held_reason)"
                    f" VALUES {rows} RETURNING request_id",
                    [v for r in chunk for v in self._request_row(r)],
                )
                inserted.update(row["request_id"] for row in cur.fetchall())
        waiting = {model: self._pending_ids(model) for model in {r.model for r in requests}}
        out = []
        for r in requests:
            accepted = r.request_id in inserted  # rows go in in order: the first of a repeated id
            inserted.discard(r.request_id)
            out.append(RequestRecorded(accepted, any(i != r.request_id for i in waiting[r.model])))
        return out

    def _pending_ids(self, model: str) -> list[str]:
        """Two ids of the model's pending requests are enough to say, of any one, whether another waits."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT request_id FROM requests WHERE model = ? AND consumed_by IS NULL LIMIT 2", (model,)
            ).fetchall()
        return [r["request_id"] for r in rows]

    def pending_requests(self, model: str) -> list[RetrainRequest]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM requests WHERE model = ? AND consumed_by IS NULL ORDER BY received_at, request_id",
                (model,),
            ).fetchall()
        return [self._request(r) for r in rows]

    def pending_besides(self, model: str, request_id: str) -> bool:
        with self._connect() as db:
            row = db.execute(
                "SELECT 1 FROM requests WHERE model = ? AND consumed_by IS NULL AND request_id != ? LIMIT 1",
                (model, request_id),
            ).fetchone()
        return row is not None

    def consume_requests(self, model: str, request_ids: list[str], run_id: str) -> None:
        with self._write() as db:
            db.executemany(
                "UPDATE requests SET consumed_by = ? WHERE request_id = ? AND model = ? AND consumed_by IS NULL",
                [(run_id, rid, model) for rid in request_ids],
            )

    def requests_for_run(self, run_id: str) -> list[RetrainRequest]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM requests WHERE consumed_by = ? ORDER BY received_at, request_id", (run_id,)
            ).fetchall()
        return [self._request(r) for r in rows]
