"""PredictionLog on Azure: what AML model data collection writes for managed online endpoints, read back.

The mechanism (Microsoft's documentation, 2025-12):

* A deployment created with `data_collector` (REST: `properties.dataCollector`, api-version
  2025-12-01; azure-ai-ml `DataCollector`) logs inference data to blob storage
  (https://learn.microsoft.com/azure/machine-learning/how-to-collect-production-data).
  Two modes: *payload logging*, the reserved collections `request` and `response`, records the HTTP
  request and response bodies with no change to the scoring script - the only mode a no-code MLflow
  deployment fills by itself; *custom logging*, any other collection name (by convention
  `model_inputs` / `model_outputs`), needs `azureml-ai-monitoring`'s `Collector` in a scoring
  script. For MLflow models, studio's "Data collection: Enabled" switch auto-instruments the
  generated scoring script with `model_inputs` / `model_outputs` ("Collect data for MLflow models");
  the SDK path has no documented equivalent. `AzureMLEndpoints` therefore enables all four
  collections, and this reader takes whichever pair has the request.
* Layout: `azureml://datastores/workspaceblobstore/paths/modelDataCollector/` +
  `{endpoint}/{deployment}/{collection}/{yyyy}/{MM}/{dd}/{HH}/{instance_id}.jsonl` (rolling rate Hour,
  the default). One JSON object a line (a CloudEvent: `type` azureml.inference.request|response|
  model_inputs|model_outputs, `time`, `data`, `correlationid`, `xrequestid`, for custom logging also
  `modelversion`). Requests close in time may be batched into one object (`data` then holds the
  rows of several requests under one correlation id).
* Pairing inputs with outputs: the request and response of one call share `correlationid`
  (= the `x-request-id` AML assigns). A mirrored request is a copy of the original sent to the
  shadow deployment; whether the copy keeps the original's x-request-id is NOT documented. So the
  deployment also captures the client's `x-ms-client-request-id` header
  (`requestLogging.captureHeaders`; "the backend will collect those headers along with payload") and
  `AzureMLEndpoints.invoke` sets that header on every request: a captured client request id is the
  pairing key when present, the correlation id otherwise.
* Limits: payload bodies over 4 MB are not inline (the line points at a raw blob: skipped here);
  `samplingRate` < 1 drops requests independently per deployment, so paired requests thin out
  quadratically (keep 1.0 for shadow gates); blobs land with a delay (no figure is documented: the
  collector buffers and flushes), hence `ingested_until` = now - a configurable delay; mirroring is
  capped at 50% and only for requests that name no deployment
  (https://learn.microsoft.com/azure/machine-learning/how-to-safely-rollout-online-endpoints).

Which record of a pair is the mirror copy is not written by Azure either. A deployment receives live
or mirrored traffic, never both, and mirroring is capped at 50%, so the shadow is the deployment whose
answers in the window are (nearly) all copies of another deployment's requests: in each pair, the
record of the deployment with the larger share of paired answers is marked mirrored.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient

from core.kernel.ports import PredictionLog, PredictionWindow
from core.kernel.records import PredictionRecord
from core.kernel.settings import Settings

log = logging.getLogger(__name__)

INPUT_COLLECTIONS = ("model_inputs", "request")
OUTPUT_COLLECTIONS = ("model_outputs", "response")
CLIENT_REQUEST_ID = "x-ms-client-request-id"
_SCORE_KEYS = ("probability", "score", "proba", "prediction", "predictions")


@dataclass
class _Event:
    correlation_id: str
    client_id: str | None
    time: datetime
    data: Any
    model_version: str


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _header(event: dict[str, Any], name: str) -> str | None:
    """A captured header. Where captureHeaders puts headers in the line is undocumented: accept a
    top-level key or a `headers` object, case-insensitively."""
    for source in (event, event.get("headers") or {}):
        if isinstance(source, dict):
            for key, value in source.items():
                if str(key).lower() == name and value:
                    return str(value)
    return None


def _rows(data: Any, entity_column: str) -> list[str | None]:
    """The entity id of each input row, from the payload shapes an MLflow deployment accepts
    (input_data split/records, dataframe_split, dataframe_records) or custom logging's records."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError:
            return []
    if isinstance(data, dict):
        if "columns" in data and isinstance(data.get("data"), list):
            return _split_rows(data, entity_column)
        for key in ("input_data", "dataframe_split", "dataframe_records", "inputs", "data"):
            if key in data:
                return _rows(data[key], entity_column)
        if entity_column in data:
            return [None if data[entity_column] is None else str(data[entity_column])]
        return [None]
    if isinstance(data, list):
        if data and all(isinstance(row, dict) for row in data):
            return [None if row.get(entity_column) is None else str(row[entity_column]) for row in data]
        return [None for _ in data]
    return []


def _input_rows(data: Any) -> list[dict[str, Any] | None]:
    """Each input row as column -> value (the payload shapes `_rows` reads); None where a row has
    no column names (a bare list of values)."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError:
            return []
    if isinstance(data, dict):
        if "columns" in data and isinstance(data.get("data"), list):
            columns = [str(c) for c in data.get("columns") or []]
            return [
                dict(zip(columns, row, strict=False)) if isinstance(row, list) else None
                for row in data["data"]
            ]
        for key in ("input_data", "dataframe_split", "dataframe_records", "inputs", "data"):
            if key in data:
                return _input_rows(data[key])
        return [dict(data)]
    if isinstance(data, list):
        return [dict(row) if isinstance(row, dict) else None for row in data]
    return []


def _split_rows(split: dict[str, Any], entity_column: str) -> list[str | None]:
    columns = list(split.get("columns") or [])
    rows = split.get("data") or []
    if entity_column not in columns:
        return [None for _ in rows]
    at = columns.index(entity_column)
    return [None if row[at] is None else str(row[at]) for row in rows]


def _score(value: Any) -> float | None:
    """The positive class's probability of one output row: a number, [p0, p1], or a record."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int | float) for v in value):
        return float(value[1])
    if isinstance(value, dict):
        for key in _SCORE_KEYS:
            if key in value:
                return _score(value[key])
        numbers = [v for v in value.values() if isinstance(v, int | float) and not isinstance(v, bool)]
        return float(numbers[-1]) if numbers else None
    return None


def _outputs(data: Any) -> list[Any]:
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError:
            return []
    if isinstance(data, dict):
        for key in ("predictions", "outputs", "data"):
            if isinstance(data.get(key), list):
                return list(data[key])
        return [data]
    return list(data) if isinstance(data, list) else [data]


class AzureMLPredictionLog(PredictionLog):
    """Reads the JSONL that model data collection writes, one hour folder at a time."""

    def __init__(
        self,
        container: ContainerClient,
        *,
        prefix: str = "modelDataCollector",
        entity_column: str = "customer_id",
        delay: timedelta = timedelta(minutes=10),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._container = container
        self._prefix = prefix.strip("/")
        self._entity_column = entity_column
        self._delay = delay
        self._clock = clock

    @classmethod
    def connect(cls, credential: Any, settings: Settings) -> AzureMLPredictionLog:
        settings.require("prediction_log_account_url", "prediction_log_container")
        container = ContainerClient(
            str(settings.prediction_log_account_url),
            str(settings.prediction_log_container),
            credential=credential,
        )
        return cls(
            container,
            prefix=settings.prediction_log_prefix,
            entity_column=settings.prediction_entity_column,
            delay=timedelta(seconds=settings.prediction_log_delay_seconds),
        )

    # ------------------------------------------------------------------ reading

    def _hours(self, start: datetime, end: datetime) -> Iterator[datetime]:
        hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        while hour < end:
            yield hour
            hour += timedelta(hours=1)

    def _events(
        self, endpoint: str, deployment: str, collection: str, start: datetime, end: datetime
    ) -> Iterator[_Event]:
        for hour in self._hours(start, end):
            folder = f"{self._prefix}/{endpoint}/{deployment}/{collection}/{hour:%Y/%m/%d/%H}/"
            try:
                blobs = [b.name for b in self._container.list_blobs(name_starts_with=folder)]
            except ResourceNotFoundError:
                return  # no container yet: nothing was collected
            for name in sorted(blobs):
                if not name.endswith(".jsonl"):
                    continue
                text = self._container.download_blob(name).readall().decode("utf-8", "replace")
                yield from self._parse(text, name)

    def _parse(self, text: str, name: str) -> Iterator[_Event]:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
                correlation = str(event.get("correlationid") or event.get("xrequestid") or "")
                when = _parse_time(str(event["time"]))
            except (json.JSONDecodeError, KeyError, ValueError, TypeError, AttributeError):
                log.warning("skipping an unreadable line %d of %s", number, name)
                continue
            if str(event.get("datainblob", "")).lower() == "true":
                log.warning("skipping a payload stored apart (over 4 MB) at line %d of %s", number, name)
                continue
            if not correlation:
                continue
            yield _Event(
                correlation,
                _header(event, CLIENT_REQUEST_ID),
                when,
                event.get("data"),
                "" if event.get("modelversion") in (None, "default") else str(event["modelversion"]),
            )

    def _deployment_records(
        self, endpoint: str, deployment: str, start: datetime, end: datetime
    ) -> list[PredictionRecord]:
        # the hour folder of a late request may hold answers from just before `start`: read the
        # neighbouring hour too, and filter on the response's own time
        lo, hi = start - timedelta(hours=1), end + timedelta(hours=1)
        records: dict[str, PredictionRecord] = {}
        for inputs_name, outputs_name in zip(INPUT_COLLECTIONS, OUTPUT_COLLECTIONS, strict=True):
            inputs = {e.correlation_id: e for e in self._events(endpoint, deployment, inputs_name, lo, hi)}
            for out in self._events(endpoint, deployment, outputs_name, lo, hi):
                if not start <= out.time < end:
                    continue
                request = inputs.get(out.correlation_id)
                if request is None:
                    continue  # its input is not there (yet): not a usable prediction
                key = request.client_id or out.client_id or out.correlation_id
                entities = _rows(request.data, self._entity_column)
                rows = _input_rows(request.data)
                if len(rows) != len(entities):
                    rows = [None] * len(entities)
                scores = [_score(v) for v in _outputs(out.data)]
                if len(entities) != len(scores):
                    log.warning(
                        "%s/%s request %s: %d input rows but %d outputs; skipped",
                        endpoint, deployment, out.correlation_id, len(entities), len(scores),
                    )  # fmt: skip
                    continue
                for i, (entity, score, row) in enumerate(zip(entities, scores, rows, strict=True)):
                    if score is None:
                        continue
                    request_id = key if len(scores) == 1 else f"{key}#{i}"
                    records.setdefault(
                        request_id,
                        PredictionRecord(
                            request_id=request_id,
                            deployment=deployment,
                            model_version=out.model_version or request.model_version,
                            entity_id=entity,
                            score=score,
                            time=out.time.isoformat(),
                            inputs=row,
                        ),
                    )
        return list(records.values())

    def window(
        self, endpoint: str, deployments: list[str], start: datetime, end: datetime
    ) -> PredictionWindow:
        by_deployment = {d: self._deployment_records(endpoint, d, start, end) for d in deployments}
        records = _mark_mirrored(by_deployment)
        records.sort(key=lambda r: (r.time, r.request_id, r.deployment))
        return PredictionWindow(records=records, ingested_until=self._clock() - self._delay)


def _mark_mirrored(by_deployment: dict[str, list[PredictionRecord]]) -> list[PredictionRecord]:
    """Mark the shadow's copy in each pair (see the module docstring)."""
    seen: dict[str, set[str]] = {}
    for deployment, records in by_deployment.items():
        for record in records:
            seen.setdefault(record.request_id, set()).add(deployment)
    share = {
        d: (sum(len(seen[r.request_id]) > 1 for r in rs) / len(rs)) if rs else 0.0
        for d, rs in by_deployment.items()
    }
    out: list[PredictionRecord] = []
    for deployment, records in by_deployment.items():
        for record in records:
            others = seen[record.request_id] - {deployment}
            # equal shares (both all copies, or a sampled-out trickle) say nothing: neither is marked
            shadow = bool(others) and all(share[deployment] > share[o] for o in others)
            out.append(_with_mirrored(record, shadow))
    return out


def _with_mirrored(record: PredictionRecord, mirrored: bool) -> PredictionRecord:
    if record.mirrored == mirrored:
        return record
    return PredictionRecord(
        record.request_id,
        record.deployment,
        record.model_version,
        record.entity_id,
        record.score,
        record.time,
        mirrored,
        record.inputs,
    )


def collected_lines(events: Iterable[dict[str, Any]]) -> bytes:
    """JSONL as the collector writes it (no line breaks inside an object); for tests and tools."""
    return b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in events)
