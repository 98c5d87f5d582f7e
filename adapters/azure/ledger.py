"""RunLedger on azure-cosmos (one container, partition key /model).

Layout: runs, entries and requests share ONE container, told apart by a `type` field, so a model's
whole history lives in one logical partition (single-partition queries, no cross-partition fan-out
for the hot paths) and serverless Cosmos bills one container. Item ids:

    run:{run_id}                        type=run      (etag-guarded read-modify-write)
    entry:{run_id}:{seq:010d}           type=entry    (create_item; 409 means seq taken -> next)
    request:{sha256(dedupe_key)}        type=request  (create_item; 409 means duplicate delivery)

Requests are deduplicated per model (ids are unique within a partition), which is what a trigger
wants: one blob may legitimately start the lifecycles of two models.

Every query names `c.model` in its WHERE clause. Cosmos only needs the partition_key argument, but
the @vercel/cosmosdb-server stand-in checks the query text, and naming it costs nothing. Missing
items are found with queries rather than point reads, because that stand-in answers a missing
point read with 500 instead of 404 and we must not treat a 500 as "absent" in production.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.cosmos import ContainerProxy, CosmosClient, PartitionKey
from azure.cosmos.exceptions import CosmosAccessConditionFailedError, CosmosResourceExistsError

from core.kernel.ports import (
    ConcurrencyConflict,
    LedgerEntry,
    RequestRecorded,
    RetrainRequest,
    RunRecord,
    merge_run_changes,
)

DEFAULT_CONTAINER = "ledger"
PARTITION_PATH = "/model"
_RUN_FIELDS = {f.name for f in dataclasses.fields(RunRecord)}
_MUTABLE_RUN_FIELDS = _RUN_FIELDS - {"run_id", "model", "created_at", "updated_at", "etag"}
_SYSTEM_KEYS = ("_rid", "_self", "_ts", "_attachments", "_etag", "_lsn")
MAX_RETRIES = 8


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"ledger timestamps must be timezone-aware UTC, got naive {value!r}")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CosmosRunLedger:
    def __init__(self, container: ContainerProxy, *, clock: Callable[[], datetime] = _utcnow):
        self._c = container
        self._clock = clock
        # run_id -> model, so entries and updates go straight to the run's partition
        self._model_of: dict[str, str] = {}

    # ------------------------------------------------------------------ construction

    @classmethod
    def connect(
        cls,
        endpoint: str,
        credential: Any,
        database: str,
        container: str = DEFAULT_CONTAINER,
        **client_kwargs: Any,
    ) -> CosmosRunLedger:
        """Azure: `credential` is a DefaultAzureCredential with the data-plane role
        "Cosmos DB Built-in Data Contributor". Data-plane RBAC cannot create databases or
        containers, so infra/ creates them and this only opens them."""
        client = CosmosClient(endpoint, credential=credential, **client_kwargs)
        return cls(client.get_database_client(database).get_container_client(container))

    @staticmethod
    def ensure_container(
        client: CosmosClient, database: str, container: str = DEFAULT_CONTAINER
    ) -> ContainerProxy:
        """Create the database and container if missing (stand-ins and key-authenticated accounts)."""
        db = client.create_database_if_not_exists(database)
        return db.create_container_if_not_exists(container, partition_key=PartitionKey(PARTITION_PATH))

    # ------------------------------------------------------------------ helpers

    def _query(self, query: str, params: dict[str, Any], model: str | None) -> list[dict[str, Any]]:
        parameters = [{"name": k, "value": v} for k, v in params.items()]
        if model is not None:
            items = self._c.query_items(query, parameters=parameters, partition_key=model)
        else:
            items = self._c.query_items(query, parameters=parameters, enable_cross_partition_query=True)
        return list(items)

    def _find_model(self, run_id: str) -> str | None:
        if run_id in self._model_of:
            return self._model_of[run_id]
        rows = self._query(
            "SELECT c.model FROM c WHERE c.type = 'run' AND c.run_id = @run_id", {"@run_id": run_id}, None
        )
        if rows:
            self._model_of[run_id] = rows[0]["model"]
            return rows[0]["model"]
        return None

    def _run_doc(self, run_id: str) -> dict[str, Any] | None:
        model = self._find_model(run_id)
        if model is None:
            return None
        rows = self._query(
            "SELECT * FROM c WHERE c.model = @model AND c.type = 'run' AND c.run_id = @run_id",
            {"@model": model, "@run_id": run_id},
            model,
        )
        return rows[0] if rows else None

    @staticmethod
    def _run_to_doc(record: RunRecord) -> dict[str, Any]:
        doc = dataclasses.asdict(record)
        doc.pop("etag")
        doc["created_at"] = _iso(record.created_at)
        doc["updated_at"] = _iso(record.updated_at)
        return {"id": f"run:{record.run_id}", "type": "run", **doc}

    @staticmethod
    def _doc_to_run(doc: dict[str, Any]) -> RunRecord:
        fields = {k: v for k, v in doc.items() if k in _RUN_FIELDS}
        fields["created_at"] = _dt(doc.get("created_at"))
        fields["updated_at"] = _dt(doc.get("updated_at"))
        fields["etag"] = doc.get("_etag")
        return RunRecord(**fields)

    # ------------------------------------------------------------------ runs

    def put_run(self, record: RunRecord) -> RunRecord:
        now = self._clock()
        existing = self._run_doc(record.run_id)
        if existing is not None and existing["model"] != record.model:
            raise ValueError(
                f"run {record.run_id} belongs to model {existing['model']!r}, not {record.model!r}: "
                "a run cannot move between models"
            )
        created = record.created_at or (_dt(existing.get("created_at")) if existing else None) or now
        doc = self._run_to_doc(dataclasses.replace(record, created_at=created, updated_at=now))
        if record.etag is None:
            saved = self._c.upsert_item(doc)
        elif existing is None:
            raise ConcurrencyConflict(
                f"run {record.run_id} was written with etag {record.etag} but no longer exists: re-read it"
            )
        else:
            try:
                saved = self._c.replace_item(
                    doc["id"], doc, etag=record.etag, match_condition=MatchConditions.IfNotModified
                )
            except CosmosAccessConditionFailedError:
                raise ConcurrencyConflict(
                    f"run {record.run_id} changed since it was read (etag {record.etag}): re-read and retry"
                ) from None
        self._model_of[record.run_id] = record.model
        return self._doc_to_run(saved)

    def get_run(self, run_id: str) -> RunRecord | None:
        doc = self._run_doc(run_id)
        return self._doc_to_run(doc) if doc else None

    def update_run(self, run_id: str, **changes: Any) -> RunRecord:
        unknown = set(changes) - _MUTABLE_RUN_FIELDS
        if unknown:
            raise ValueError(
                f"cannot update run field(s) {sorted(unknown)}; updatable: {sorted(_MUTABLE_RUN_FIELDS)}"
            )
        for _ in range(MAX_RETRIES):
            current = self.get_run(run_id)
            if current is None:
                raise KeyError(f"no run {run_id!r} in the ledger: put_run it first")
            try:
                return self.put_run(merge_run_changes(current, changes))
            except ConcurrencyConflict:
                continue
        raise ConcurrencyConflict(f"run {run_id} kept changing under {MAX_RETRIES} attempts to update it")

    def list_runs(
        self, model: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[RunRecord]:
        where = ["c.type = 'run'"]
        params: dict[str, Any] = {"@limit": int(limit)}
        if model is not None:
            where.append("c.model = @model")
            params["@model"] = model
        if status is not None:
            where.append("c.status = @status")
            params["@status"] = status
        query = f"SELECT TOP @limit * FROM c WHERE {' AND '.join(where)} ORDER BY c.created_at DESC"
        return [self._doc_to_run(d) for d in self._query(query, params, model)]

    # ------------------------------------------------------------------ entries

    def _entries_docs(self, run_id: str, kind: str | None) -> list[dict[str, Any]]:
        model = self._find_model(run_id)
        where = ["c.type = 'entry'", "c.run_id = @run_id"]
        params: dict[str, Any] = {"@run_id": run_id}
        if model is not None:
            where.insert(0, "c.model = @model")
            params["@model"] = model
        if kind is not None:
            where.append("c.kind = @kind")
            params["@kind"] = kind
        query = f"SELECT * FROM c WHERE {' AND '.join(where)} ORDER BY c.seq ASC"
        return self._query(query, params, model)

    def append(self, run_id: str, kind: str, data: dict[str, Any]) -> LedgerEntry:
        """Entries of a run that is not (yet) in the ledger go to the partition "_unowned"."""
        model = self._find_model(run_id) or "_unowned"
        at = self._clock()
        seq = len(self._entries_docs(run_id, None)) + 1
        for _ in range(MAX_RETRIES * 4):
            doc = {
                "id": f"entry:{run_id}:{seq:010d}",
                "type": "entry",
                "model": model,
                "run_id": run_id,
                "kind": kind,
                "data": data,
                "at": _iso(at),
                "seq": seq,
            }
            try:
                self._c.create_item(doc)
            except CosmosResourceExistsError:
                seq += 1  # a concurrent writer took this seq
                continue
            return LedgerEntry(run_id=run_id, kind=kind, data=data, at=at, seq=seq)
        raise ConcurrencyConflict(f"could not append to run {run_id}: too many concurrent writers")

    def entries(self, run_id: str, kind: str | None = None) -> list[LedgerEntry]:
        return [
            LedgerEntry(run_id=d["run_id"], kind=d["kind"], data=d["data"], at=_dt(d["at"]), seq=d["seq"])  # type: ignore[arg-type]
            for d in self._entries_docs(run_id, kind)
        ]

    # ------------------------------------------------------------------ requests

    @staticmethod
    def _request_id(dedupe_key: str) -> str:
        return "request:" + hashlib.sha256(dedupe_key.encode()).hexdigest()

    @staticmethod
    def _doc_to_request(doc: dict[str, Any]) -> RetrainRequest:
        return RetrainRequest(
            request_id=doc["request_id"],
            model=doc["model"],
            source=doc["source"],
            dedupe_key=doc["dedupe_key"],
            received_at=_dt(doc["received_at"]),  # type: ignore[arg-type]
            details=doc.get("details") or {},
            consumed_by=doc.get("consumed_by"),
            held_reason=doc.get("held_reason"),
        )

    def add_request(self, request: RetrainRequest) -> bool:
        doc = {
            "id": self._request_id(request.dedupe_key),
            "type": "request",
            **dataclasses.asdict(request),
            "received_at": _iso(request.received_at),
        }
        try:
            self._c.create_item(doc)
        except CosmosResourceExistsError:
            return False
        return True

    def record_requests(self, requests: list[RetrainRequest]) -> list[RequestRecorded]:
        """Cosmos has no transaction across partitions. A model's requests are written in order (a
        second delivery of the same blob in one call is the one refused), then each asks whether another
        of its model waits, as the SQLite ledger answers after its one transaction; different models
        (partitions) run concurrently, so a mixed batch takes about as long as its largest model."""
        by_model: dict[str, list[int]] = {}
        for i, request in enumerate(requests):
            by_model.setdefault(request.model, []).append(i)
        answers: dict[int, RequestRecorded] = {}

        def record_model(indexes: list[int]) -> None:
            accepted = [self.add_request(requests[i]) for i in indexes]
            for i, new in zip(indexes, accepted, strict=True):
                request = requests[i]
                answers[i] = RequestRecorded(new, self.pending_besides(request.model, request.request_id))

        if len(by_model) == 1:
            record_model(next(iter(by_model.values())))
        else:
            with ThreadPoolExecutor(max_workers=min(len(by_model), 16)) as pool:
                list(pool.map(record_model, by_model.values()))
        return [answers[i] for i in range(len(requests))]

    def pending_requests(self, model: str) -> list[RetrainRequest]:
        rows = self._query(
            "SELECT * FROM c WHERE c.model = @model AND c.type = 'request' AND IS_NULL(c.consumed_by) "
            "ORDER BY c.received_at ASC",
            {"@model": model},
            model,
        )
        return [self._doc_to_request(d) for d in rows]

    def pending_besides(self, model: str, request_id: str) -> bool:
        rows = self._query(
            "SELECT TOP 1 c.id FROM c WHERE c.model = @model AND c.type = 'request' "
            "AND IS_NULL(c.consumed_by) AND c.request_id != @request_id",
            {"@model": model, "@request_id": request_id},
            model,
        )
        return bool(rows)

    def consume_requests(self, model: str, request_ids: list[str], run_id: str) -> None:
        if not request_ids:
            return
        rows = self._query(
            "SELECT * FROM c WHERE c.model = @model AND c.type = 'request' AND ARRAY_CONTAINS(@ids, c.request_id)",
            {"@model": model, "@ids": list(request_ids)},
            model,
        )
        for doc in rows:
            if doc.get("consumed_by") == run_id:
                continue  # replayed activity
            if doc.get("consumed_by"):
                raise ConcurrencyConflict(
                    f"request {doc['request_id']} of {model} was already consumed by run {doc['consumed_by']}"
                )
            etag = doc["_etag"]
            body = {k: v for k, v in doc.items() if k not in _SYSTEM_KEYS}
            body["consumed_by"] = run_id
            body["held_reason"] = None
            try:
                self._c.replace_item(
                    doc["id"], body, etag=etag, match_condition=MatchConditions.IfNotModified
                )
            except CosmosAccessConditionFailedError:
                raise ConcurrencyConflict(
                    f"request {doc['request_id']} of {model} changed while run {run_id} consumed it: retry"
                ) from None

    def requests_for_run(self, run_id: str) -> list[RetrainRequest]:
        model = self._find_model(run_id)
        where = ["c.type = 'request'", "c.consumed_by = @run_id"]
        params: dict[str, Any] = {"@run_id": run_id}
        if model is not None:
            where.insert(0, "c.model = @model")
            params["@model"] = model
        query = f"SELECT * FROM c WHERE {' AND '.join(where)} ORDER BY c.received_at ASC"
        return [self._doc_to_request(d) for d in self._query(query, params, model)]
