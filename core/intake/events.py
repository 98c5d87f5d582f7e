"""Parsers for everything that arrives from outside: Event Grid (both schemas), CloudEvents,
Azure Monitor's common alert schema and Azure ML's RunStatusChanged.

Pure functions with no I/O. The inputs are untrusted (at-least-once delivery, hand-made test
posts, hostile senders), so each parser either returns a typed value or raises
`EventValidationError` with a message that says what is wrong; nothing else escapes. The
routing helpers map a parsed event to the model whose policy claims it.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from urllib.parse import unquote, urlsplit

from core.kernel.blob_paths import BlobPathError, check_blob_path, has_lone_surrogate, within_prefix

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_JSON_DEPTH = 64

BLOB_CREATED = "Microsoft.Storage.BlobCreated"
AML_RUN_STATUS_CHANGED = "Microsoft.MachineLearningServices.RunStatusChanged"
SUBSCRIPTION_VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"
# Only these storage APIs mean "a complete blob is now readable"; e.g. PutBlock, a non-closing
# Flush, ADLS CreateFile or SftpCreate (the empty blob SFTP makes when a file is opened) are
# partial writes that a later event completes. SftpCommit is SFTP's close: the upload is in.
COMMITTED_BLOB_APIS = frozenset({"PutBlob", "PutBlockList", "FlushWithClose", "CopyBlob", "SftpCommit"})
ALERT_SCHEMA_ID = "azuremonitorcommonalertschema"
MONITOR_BREACH_TAG = "azureml_modelmonitor_threshold_breached"
# Azure ML model monitoring writes a message into the tag, e.g. "The signal 'churn-monitor_drift'
# has failed due to one or more features violating metric thresholds.\n..."; Microsoft's docs
# subscribe with a StringContains filter on this phrase. "true" is kept for hand-made events.
MONITOR_BREACH_PHRASE = "has failed due to one or more features violating metric thresholds"
_SIGNAL_RE = re.compile(r"signal '([^']{1,256})' has failed", re.IGNORECASE)

Schema = Literal["eventgrid", "cloudevents"]


class EventValidationError(ValueError):
    """The input is not an event we accept; the message says what is wrong with it."""


# --------------------------------------------------------------------------- parsed values


@dataclass(frozen=True)
class BlobCreated:
    event_id: str
    schema: Schema
    source: str  # Event Grid `topic` or CloudEvents `source`: the storage account's resource id
    subject: str
    container: str
    path: str
    api: str
    url: str
    etag: str
    content_length: int | None = None
    sequencer: str | None = None
    event_time: datetime | None = None

    @property
    def committed(self) -> bool:
        return self.api in COMMITTED_BLOB_APIS

    @property
    def dedupe_keys(self) -> tuple[str, ...]:
        """Both identities of one blob write: a redelivery repeats the event id, a second
        subscription (or the other schema) repeats the url and eTag under a new id."""
        keys = [f"blob:{self.url}#{self.etag}"] if self.etag else []
        return (*keys, f"eventgrid:{self.event_id}")


@dataclass(frozen=True)
class AmlRunStatusChanged:
    event_id: str
    schema: Schema
    source: str
    subject: str
    run_id: str
    run_status: str
    experiment_name: str = ""
    run_type: str = ""
    run_tags: dict[str, str] = field(default_factory=dict)
    event_time: datetime | None = None

    @property
    def threshold_breached(self) -> bool:
        value = _ci_get(self.run_tags, MONITOR_BREACH_TAG)
        if value is None:
            return False
        text = str(value).strip().lower()
        return MONITOR_BREACH_PHRASE in text or text in {"true", "1", "yes"}

    @property
    def breached_signal(self) -> str:
        """The signal named in the breach message ("The signal 'monitor_signal' has failed...")."""
        value = str(_ci_get(self.run_tags, MONITOR_BREACH_TAG) or "")
        match = _SIGNAL_RE.search(value)
        return match.group(1) if match else ""

    @property
    def dedupe_key(self) -> str:
        return f"amlrun:{self.run_id}:{self.run_status.lower()}"

    @property
    def monitor_breach(self) -> bool:
        """A model monitor run that failed because a threshold was breached (a drift signal)."""
        return self.run_status.strip().lower() == "failed" and self.threshold_breached


@dataclass(frozen=True)
class OtherEvent:
    """A well-formed event of a type we do not act on (BlobDeleted, a validation handshake...)."""

    event_id: str
    schema: Schema
    event_type: str
    subject: str = ""


InboundEvent = BlobCreated | AmlRunStatusChanged | OtherEvent


@dataclass(frozen=True)
class MonitorAlert:
    alert_id: str
    alert_rule: str
    monitor_condition: Literal["Fired", "Resolved"]
    severity: str = ""
    signal_type: str = ""
    monitoring_service: str = ""
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    target_ids: tuple[str, ...] = ()
    configuration_items: tuple[str, ...] = ()
    custom_properties: dict[str, str] = field(default_factory=dict)

    @property
    def dedupe_key(self) -> str:
        return f"alert:{self.alert_id}:{self.monitor_condition.lower()}"

    @property
    def fired(self) -> bool:
        return self.monitor_condition == "Fired"


# --------------------------------------------------------------------------- helpers


def _ci_get(mapping: Mapping[str, Any], *names: str) -> Any:
    """Case-insensitive lookup: Azure's docs, SDKs and real payloads disagree on casing."""
    wanted = {n.lower() for n in names}
    for key, value in mapping.items():
        if isinstance(key, str) and key.lower() in wanted:
            return value
    return None


def _depth_ok(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def load_json(body: bytes | str, what: str = "body") -> Any:
    """Decode a JSON body within our size and nesting limits."""
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    if len(body) > MAX_PAYLOAD_BYTES:
        raise EventValidationError(f"{what} is {len(body)} bytes; the limit is {MAX_PAYLOAD_BYTES} (256 KB)")
    if not body.strip():
        raise EventValidationError(f"{what} is empty; send a JSON document")
    try:
        text = body.decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise EventValidationError(f"{what} is not UTF-8 text; send UTF-8 encoded JSON") from None
    except (ValueError, RecursionError) as exc:
        raise EventValidationError(f"{what} is not valid JSON: {str(exc)[:200]}") from None
    if not _depth_ok(value):
        raise EventValidationError(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _str(obj: Mapping[str, Any], name: str, where: str, *, required: bool = True, max_len: int = 4096) -> str:
    value = _ci_get(obj, name)
    if value is None or value == "":
        if required:
            raise EventValidationError(f"{where}.{name} is missing; it must be a non-empty string")
        return ""
    if not isinstance(value, str):
        raise EventValidationError(f"{where}.{name} must be a string, got {type(value).__name__}")
    if len(value) > max_len:
        raise EventValidationError(f"{where}.{name} is longer than {max_len} characters")
    if "\x00" in value:
        raise EventValidationError(f"{where}.{name} contains a NUL character")
    if has_lone_surrogate(value):
        raise EventValidationError(
            f"{where}.{name} contains a lone surrogate (\\ud800-\\udfff); send valid Unicode"
        )
    return value


def _mapping(obj: Mapping[str, Any], name: str, where: str, *, required: bool = True) -> Mapping[str, Any]:
    value = _ci_get(obj, name)
    if value is None and not required:
        return {}
    if not isinstance(value, Mapping):
        got = "nothing" if value is None else type(value).__name__
        raise EventValidationError(f"{where}.{name} must be a JSON object, got {got}")
    return value


def _time(obj: Mapping[str, Any], name: str, where: str) -> datetime | None:
    raw = _ci_get(obj, name)
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise EventValidationError(f"{where}.{name} must be an ISO-8601 string, got {type(raw).__name__}")
    try:
        text = raw.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        # Azure sends 7 fractional digits; Python takes at most 6.
        if "." in text:
            head, _, rest = text.partition(".")
            digits = "".join(c for c in rest if c.isdigit())
            tail = rest[len(digits) :]
            text = f"{head}.{digits[:6]}{tail}" if digits else head + tail
        value = datetime.fromisoformat(text)
    except ValueError:
        raise EventValidationError(
            f"{where}.{name}={raw[:64]!r} is not an ISO-8601 time, e.g. 2024-05-01T12:00:00Z"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise EventValidationError(f"{where} must be a list of strings")
    return tuple(value)


def _str_dict(value: Any, where: str) -> dict[str, str]:
    """Tags and custom properties: keep scalar values as strings, refuse nested objects."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise EventValidationError(f"{where} must be a JSON object of strings")
    out: dict[str, str] = {}
    for key, item in value.items():
        if has_lone_surrogate(str(key)) or (isinstance(item, str) and has_lone_surrogate(item)):
            raise EventValidationError(
                f"{where} contains a lone surrogate (\\ud800-\\udfff); send valid Unicode"
            )
        if isinstance(item, bool):
            out[str(key)] = "true" if item else "false"
        elif isinstance(item, int | str) or (isinstance(item, float) and math.isfinite(item)):
            out[str(key)] = str(item)
        elif item is None:
            out[str(key)] = ""
        else:
            raise EventValidationError(f"{where}.{key} must be a string, number or boolean")
    return out


# --------------------------------------------------------------------------- blob URLs


@dataclass(frozen=True)
class BlobAddress:
    scheme: str
    host: str  # lowercase host[:port]
    account: str
    container: str
    path: str


@functools.lru_cache(maxsize=256)  # URLs are at most 8 KB: at most 2 MB kept
def blob_address(url: str) -> BlobAddress:
    """Split a blob URL in either style: https://{account}.blob.core.windows.net/{container}/{path}
    (also dfs.) or path style http://127.0.0.1:10000/{account}/{container}/{path} (Azurite).
    Kept per URL (a pure function; refusals are not kept): the edge splits an event's URL when it
    parses the event and again when it compares it with the lake's URL of the same blob."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise EventValidationError(f"data.url={url[:200]!r} is not a valid URL") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise EventValidationError(f"data.url={url[:200]!r} must be an http(s) blob URL")
    if parts.username or parts.password:
        raise EventValidationError("data.url must not carry credentials")
    host = parts.hostname.lower()
    segments = [unquote(s) for s in parts.path.split("/")[1:]]
    if ".blob." in host or ".dfs." in host:
        account = host.split(".", 1)[0]
    else:
        if not segments:
            raise EventValidationError(f"data.url={url[:200]!r} names no storage account")
        account, segments = segments[0], segments[1:]
    if len(segments) < 2 or not segments[0] or not segments[-1]:
        raise EventValidationError(f"data.url={url[:200]!r} must name a container and a blob")
    path = "/".join(segments[1:])
    try:
        check_blob_path(path, what="data.url's blob name")
        # the raw path too: `%2F..%2F` decodes into segments the split above did not see
        check_blob_path(unquote(parts.path).lstrip("/"), what="data.url's path")
    except BlobPathError as exc:
        raise EventValidationError(str(exc)) from None
    netloc = host if port is None else f"{host}:{port}"
    return BlobAddress(parts.scheme, netloc, account, segments[0], path)


def _service_host(host: str) -> str:
    """One storage account serves blobs at {account}.blob.{suffix} and, with a hierarchical
    namespace, the same data at {account}.dfs.{suffix} (ADLS Gen2 events carry the dfs URL)."""
    account, _, rest = host.partition(".")
    if rest.startswith("dfs."):
        return f"{account}.blob.{rest[len('dfs.') :]}"
    return host


def same_blob_location(url: str, expected_url: str) -> bool:
    """True when `url` points at the same account, container and blob as `expected_url`
    (our own DataLake's URL for that blob); the blob and dfs endpoints of one account are the
    same account. Anything else is refused and never fetched."""
    try:
        got, want = blob_address(url), blob_address(expected_url)
    except EventValidationError:
        return False
    return (got.scheme, _service_host(got.host), got.account, got.container, got.path) == (
        want.scheme,
        _service_host(want.host),
        want.account,
        want.container,
        want.path,
    )


# --------------------------------------------------------------------------- Event Grid / CloudEvents


def _subject_blob(subject: str, where: str) -> tuple[str, str]:
    marker = "/blobServices/default/containers/"
    if not subject.startswith(marker) or "/blobs/" not in subject:
        raise EventValidationError(
            f"{where}.subject={subject[:200]!r} must look like "
            "/blobServices/default/containers/{container}/blobs/{path}"
        )
    container, _, path = subject[len(marker) :].partition("/blobs/")
    if not container or "/" in container or not path:
        raise EventValidationError(f"{where}.subject={subject[:200]!r} names no container or blob path")
    try:
        check_blob_path(path, what=f"{where}.subject's blob name")
    except BlobPathError as exc:
        raise EventValidationError(str(exc)) from None
    return container, path


def parse_event(obj: Any) -> InboundEvent:
    """One event, in the Event Grid schema or as a CloudEvent 1.0 (told apart by `specversion`)."""
    if not isinstance(obj, Mapping):
        raise EventValidationError(f"an event must be a JSON object, got {type(obj).__name__}")
    if _ci_get(obj, "specversion") is not None:
        spec = _str(obj, "specversion", "event")
        if spec != "1.0":
            raise EventValidationError(f"event.specversion={spec!r} is not supported; send CloudEvents 1.0")
        schema: Schema = "cloudevents"
        event_id = _str(obj, "id", "event", max_len=512)
        event_type = _str(obj, "type", "event", max_len=512)
        source = _str(obj, "source", "event")
        when = _time(obj, "time", "event")
    else:
        schema = "eventgrid"
        event_id = _str(obj, "id", "event", max_len=512)
        event_type = _str(obj, "eventType", "event", max_len=512)
        source = _str(obj, "topic", "event", required=False)
        when = _time(obj, "eventTime", "event")
    subject = _str(obj, "subject", "event", required=event_type == BLOB_CREATED)

    if event_type == BLOB_CREATED:
        data = _mapping(obj, "data", "event")
        container, path = _subject_blob(subject, "event")
        url = _str(data, "url", "data", max_len=8192)
        address = blob_address(url)
        if (address.container, address.path) != (container, path):
            raise EventValidationError(
                f"data.url names {address.container}/{address.path[:200]} but the subject names "
                f"{container}/{path[:200]}; they must agree"
            )
        length = _ci_get(data, "contentLength")
        if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 0):
            raise EventValidationError("data.contentLength must be a non-negative integer")
        return BlobCreated(
            event_id=event_id,
            schema=schema,
            source=source,
            subject=subject,
            container=container,
            path=path,
            api=_str(data, "api", "data", max_len=128),
            url=url,
            etag=_str(data, "eTag", "data", required=False, max_len=256),
            content_length=length,
            sequencer=_str(data, "sequencer", "data", required=False, max_len=256) or None,
            event_time=when,
        )

    if event_type == AML_RUN_STATUS_CHANGED:
        data = _mapping(obj, "data", "event")
        return AmlRunStatusChanged(
            event_id=event_id,
            schema=schema,
            source=source,
            subject=subject,
            run_id=_str(data, "runId", "data", max_len=512),
            run_status=_str(data, "runStatus", "data", max_len=64),
            experiment_name=_str(data, "experimentName", "data", required=False, max_len=512),
            run_type=_str(data, "runType", "data", required=False, max_len=256),
            run_tags=_str_dict(_ci_get(data, "runTags"), "data.runTags"),
            event_time=when,
        )

    return OtherEvent(event_id=event_id, schema=schema, event_type=event_type, subject=subject)


def parse_events(body: bytes | str | Any) -> list[InboundEvent]:
    """A webhook body: an Event Grid array, a CloudEvents batch, or one event object."""
    value = load_json(body, "event body") if isinstance(body, bytes | str) else body
    items = value if isinstance(value, list) else [value]
    if not items:
        raise EventValidationError("the event batch is empty")
    out = []
    for index, item in enumerate(items):
        try:
            out.append(parse_event(item))
        except EventValidationError as exc:
            raise EventValidationError(f"event [{index}]: {exc}") from None
    return out


# --------------------------------------------------------------------------- Azure Monitor alerts


def parse_alert(body: bytes | str | Any) -> MonitorAlert:
    """Azure Monitor's common alert schema (metric, log and activity-log alerts alike)."""
    doc = load_json(body, "alert body") if isinstance(body, bytes | str) else body
    if not isinstance(doc, Mapping):
        raise EventValidationError("an alert must be a JSON object with schemaId and data")
    schema_id = _str(doc, "schemaId", "alert")
    if schema_id.lower() != ALERT_SCHEMA_ID:
        raise EventValidationError(
            f"alert.schemaId={schema_id[:100]!r}: only the common alert schema (azureMonitorCommonAlertSchema) "
            "is accepted; enable it on the action group's webhook"
        )
    data = _mapping(doc, "data", "alert")
    essentials = _mapping(data, "essentials", "data")
    condition = _str(essentials, "monitorCondition", "data.essentials", max_len=32)
    normalised = {"fired": "Fired", "resolved": "Resolved"}.get(condition.strip().lower())
    if normalised is None:
        raise EventValidationError(
            f"data.essentials.monitorCondition={condition[:32]!r} must be Fired or Resolved"
        )
    return MonitorAlert(
        alert_id=_str(essentials, "alertId", "data.essentials", max_len=1024),
        alert_rule=_str(essentials, "alertRule", "data.essentials", max_len=512),
        monitor_condition=normalised,  # type: ignore[arg-type]
        severity=_str(essentials, "severity", "data.essentials", required=False, max_len=32),
        signal_type=_str(essentials, "signalType", "data.essentials", required=False, max_len=64),
        monitoring_service=_str(
            essentials, "monitoringService", "data.essentials", required=False, max_len=128
        ),
        fired_at=_time(essentials, "firedDateTime", "data.essentials"),
        resolved_at=_time(essentials, "resolvedDateTime", "data.essentials"),
        target_ids=_str_list(_ci_get(essentials, "alertTargetIDs"), "data.essentials.alertTargetIDs"),
        configuration_items=_str_list(
            _ci_get(essentials, "configurationItems"), "data.essentials.configurationItems"
        ),
        custom_properties=_str_dict(_ci_get(data, "customProperties"), "data.customProperties"),
    )


# --------------------------------------------------------------------------- routing to a model


class _TriggersView(Protocol):
    blob_prefixes: list[str]
    alert_rules: list[str]


class _DataView(Protocol):
    container: str
    prefix: str


class PolicyView(Protocol):
    """What routing needs from a lifecycle Policy (core.kernel.policy.Policy satisfies it)."""

    @property
    def model(self) -> str: ...

    @property
    def data(self) -> _DataView: ...

    @property
    def triggers(self) -> _TriggersView: ...


def route_blob(policies: Iterable[PolicyView], container: str, path: str) -> str | None:
    """The model whose policy claims container/path; the longest matching prefix wins, so a
    model under `raw/churn/eu/` is not also retrained for `raw/churn/`."""
    best: tuple[int, str] | None = None
    for policy in policies:
        if policy.data.container != container:
            continue
        for prefix in policy.triggers.blob_prefixes or [policy.data.prefix]:
            if within_prefix(path, prefix) and (best is None or (len(prefix), policy.model) > best):
                best = (len(prefix), policy.model)
    return best[1] if best else None


def route_alert(policies: Iterable[PolicyView], alert: MonitorAlert) -> str | None:
    """A `model` custom property names the model outright; otherwise the rule name must be
    listed under a policy's triggers.alert_rules (compared case-insensitively, as Azure does)."""
    policies = list(policies)
    named = _ci_get(alert.custom_properties, "model")
    if named:
        return next((p.model for p in policies if p.model == named.strip()), None)
    rule = alert.alert_rule.strip().lower()
    for policy in sorted(policies, key=lambda p: p.model):
        if rule in {r.strip().lower() for r in policy.triggers.alert_rules}:
            return policy.model
    return None


def route_aml_run(policies: Iterable[PolicyView], event: AmlRunStatusChanged) -> str | None:
    """A failed model-monitor run: a `model` run tag names the model, else the monitor or
    experiment name must be listed as an alert rule (or be the model's name)."""
    policies = list(policies)
    named = _ci_get(event.run_tags, "model") or _ci_get(event.run_tags, "model_name")
    if named:
        return next((p.model for p in policies if p.model == named.strip()), None)
    candidates = {
        c.strip().lower()
        for c in (
            _ci_get(event.run_tags, "azureml_modelmonitor_name") or "",
            event.experiment_name,
        )
        if c and c.strip()
    }
    signal = event.breached_signal.lower()
    for policy in sorted(policies, key=lambda p: p.model):
        names = {r.strip().lower() for r in policy.triggers.alert_rules if r.strip()} | {policy.model}
        if candidates & names:
            return policy.model
        # the tag names the signal as {monitor}_{signal}; a policy may list the monitor
        if signal and any(signal == n or signal.startswith(n + "_") for n in names):
            return policy.model
    return None
