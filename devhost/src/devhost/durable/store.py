"""SQLite task hub: instances, their history, their inbox and the activity work queue.

One connection, used only from the engine's event loop. The engine groups the writes of one
episode (history appended, inbox rows consumed, new work and timers, child instances, the
parent's completion message) into one transaction, so a host killed at any moment restarts
from a consistent state: every message is either still in the inbox or already in history,
and every scheduled activity is either in `work` (it will run again) or has its result in
the inbox or history (it will not).

WAL with synchronous=NORMAL: a commit survives the process being killed (SIGKILL) since the
OS has the pages; only a power loss may drop the last few commits.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    created_time TEXT NOT NULL,
    last_updated_time TEXT NOT NULL,
    parent_instance_id TEXT,
    parent_execution_id TEXT,
    parent_task_id INTEGER
);
CREATE INDEX IF NOT EXISTS instances_status ON instances(status);
CREATE INDEX IF NOT EXISTS instances_created ON instances(created_time, instance_id);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    execution_id TEXT NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT,
    event TEXT NOT NULL,
    visible_at REAL
);
CREATE INDEX IF NOT EXISTS inbox_instance ON inbox(instance_id);
CREATE TABLE IF NOT EXISTS work (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    input TEXT
);
CREATE INDEX IF NOT EXISTS work_instance ON work(instance_id);
"""

INSTANCE_COLUMNS = (
    "instance_id, name, execution_id, status, input, output, custom_status, created_time, "
    "last_updated_time, parent_instance_id, parent_execution_id, parent_task_id"
)


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    # -- transactions -------------------------------------------------------------------------
    def begin(self) -> None:
        if not self.db.in_transaction:
            self.db.execute("BEGIN")

    def commit(self) -> None:
        if self.db.in_transaction:
            self.db.execute("COMMIT")

    def rollback(self) -> None:
        """Drop uncommitted writes (a crash, or an episode that failed half-way)."""
        with contextlib.suppress(sqlite3.Error):
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")

    def close(self) -> None:
        self.commit()
        self.db.close()

    def write(self, sql: str, params: tuple | list = ()) -> sqlite3.Cursor:
        self.begin()
        return self.db.execute(sql, params)

    def write_many(self, sql: str, rows: list[tuple]) -> None:
        if rows:
            self.begin()
            self.db.executemany(sql, rows)

    # -- instances ----------------------------------------------------------------------------
    def get_instance(self, instance_id: str) -> sqlite3.Row | None:
        return self.db.execute(
            f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE instance_id = ?", (instance_id,)
        ).fetchone()

    def active_instances(self) -> list[sqlite3.Row]:
        return self.db.execute(
            f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE status IN ('Pending', 'Running', 'Suspended')"
        ).fetchall()

    def put_instance(self, row: dict[str, Any]) -> None:
        cols = list(row)
        self.write(
            f"INSERT OR REPLACE INTO instances ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
            [row[c] for c in cols],
        )

    def update_instance(self, instance_id: str, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.write(f"UPDATE instances SET {sets} WHERE instance_id = ?", [*fields.values(), instance_id])

    def delete_instance_state(self, instance_id: str, *, keep_instance: bool = False) -> None:
        """Drop history, inbox and work (and the instance row unless kept)."""
        self.write("DELETE FROM history WHERE instance_id = ?", (instance_id,))
        self.write("DELETE FROM inbox WHERE instance_id = ?", (instance_id,))
        self.write("DELETE FROM work WHERE instance_id = ?", (instance_id,))
        if not keep_instance:
            self.write("DELETE FROM instances WHERE instance_id = ?", (instance_id,))

    def query_instances(
        self,
        *,
        statuses: list[str] | None = None,
        created_from: str | None = None,
        created_to: str | None = None,
        prefix: str | None = None,
        after: tuple[str, str] | None = None,
        limit: int | None = None,
    ) -> list[sqlite3.Row]:
        where, params = self._filters(statuses, created_from, created_to, prefix)
        if after is not None:
            where.append("(created_time, instance_id) > (?, ?)")
            params.extend(after)
        sql = f"SELECT {INSTANCE_COLUMNS} FROM instances"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_time, instance_id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self.db.execute(sql, params).fetchall()

    @staticmethod
    def _filters(
        statuses: list[str] | None, created_from: str | None, created_to: str | None, prefix: str | None
    ) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if statuses:
            where.append(f"status IN ({', '.join('?' for _ in statuses)})")
            params.extend(statuses)
        if created_from:
            where.append("created_time >= ?")
            params.append(created_from)
        if created_to:
            where.append("created_time <= ?")
            params.append(created_to)
        if prefix:
            where.append("substr(instance_id, 1, ?) = ?")
            params.extend([len(prefix), prefix])
        return where, params

    # -- history ------------------------------------------------------------------------------
    def load_history(self, instance_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT event FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,)
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def append_history(self, instance_id: str, execution_id: str, start_seq: int, events: list[dict]) -> None:
        self.write_many(
            "INSERT INTO history (instance_id, seq, execution_id, event) VALUES (?, ?, ?, ?)",
            [(instance_id, start_seq + i, execution_id, json.dumps(e)) for i, e in enumerate(events)],
        )

    # -- inbox and work -----------------------------------------------------------------------
    def add_message(
        self, instance_id: str, execution_id: str | None, event: dict, visible_at: float | None = None
    ) -> int:
        cur = self.write(
            "INSERT INTO inbox (instance_id, execution_id, event, visible_at) VALUES (?, ?, ?, ?)",
            (instance_id, execution_id, json.dumps(event), visible_at),
        )
        return int(cur.lastrowid or 0)

    def delete_messages(self, ids: list[int]) -> None:
        self.write_many("DELETE FROM inbox WHERE id = ?", [(i,) for i in ids])

    def all_messages(self) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT id, instance_id, execution_id, event, visible_at FROM inbox ORDER BY id"
        ).fetchall()

    def add_work(
        self, instance_id: str, execution_id: str, task_id: int, name: str, input_json: str | None
    ) -> int:
        cur = self.write(
            "INSERT INTO work (instance_id, execution_id, task_id, name, input) VALUES (?, ?, ?, ?, ?)",
            (instance_id, execution_id, task_id, name, input_json),
        )
        return int(cur.lastrowid or 0)

    def all_work(self) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT id, instance_id, execution_id, task_id, name, input FROM work ORDER BY id"
        ).fetchall()
