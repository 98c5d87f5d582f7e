"""Inbound event parsers: valid events round-trip, anything else is an EventValidationError."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.intake.events import (
    COMMITTED_BLOB_APIS,
    MAX_PAYLOAD_BYTES,
    AmlRunStatusChanged,
    BlobCreated,
    EventValidationError,
    MonitorAlert,
    OtherEvent,
    blob_address,
    parse_alert,
    parse_event,
    parse_events,
    route_alert,
    route_aml_run,
    route_blob,
    same_blob_location,
)

ACCOUNT_URL = "http://127.0.0.1:10000/devstoreaccount1"


def blob_event(
    path: str = "churn/2024-05-01.csv",
    *,
    container: str = "raw",
    api: str = "PutBlob",
    event_id: str = "evt-1",
    etag: str = "0x8DC1",
    base: str = ACCOUNT_URL,
) -> dict:
    """A `Microsoft.Storage.BlobCreated` event in the Event Grid schema, shaped after the sample in
    learn.microsoft.com event-grid/event-schema-blob-storage.md (test_event_shapes.py parses the sample itself)."""
    return {
        "id": event_id,
        "topic": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/devstoreaccount1",
        "subject": f"/blobServices/default/containers/{container}/blobs/{path}",
        "eventType": "Microsoft.Storage.BlobCreated",
        "eventTime": "2024-05-01T12:00:00.1234567Z",
        "dataVersion": "",
        "data": {
            "api": api,
            "url": f"{base}/{container}/{path}",
            "eTag": etag,
            "contentLength": 1024,
            "contentType": "text/csv",
            "blobType": "BlockBlob",
            "sequencer": "00000000000004420000000000028963",
        },
    }


def as_cloud_event(event: dict) -> dict:
    """The same event in the CloudEvents 1.0 schema, as Event Grid delivers it with `cloudeventschemav1_0`
    (event-grid/cloud-event-schema.md: `source` is the topic, `subject` and `type` carried over)."""
    return {
        "specversion": "1.0",
        "id": event["id"],
        "source": event["topic"],
        "subject": event["subject"],
        "type": event["eventType"],
        "time": event["eventTime"],
        "data": event["data"],
    }


def alert(condition: str = "Fired", *, rule: str = "churn-drift", custom: dict | None = None) -> dict:
    """An Azure Monitor alert in the common alert schema (azure-monitor/alerts/alerts-common-schema.md:
    `schemaId`, `data.essentials`, `data.alertContext`, `data.customProperties`)."""
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": {
                "alertId": "/subscriptions/x/providers/Microsoft.AlertsManagement/alerts/b9569717",
                "alertRule": rule,
                "severity": "Sev3",
                "signalType": "Log",
                "monitorCondition": condition,
                "monitoringService": "Log Alerts V2",
                "alertTargetIDs": [
                    "/subscriptions/x/resourcegroups/rg/providers/microsoft.operationalinsights/workspaces/w"
                ],
                "configurationItems": ["churn-endpoint"],
                "firedDateTime": "2024-05-01T12:00:00.000Z",
            },
            "alertContext": {"condition": {"allOf": [{"metricValue": 0.31, "threshold": "0.2"}]}},
            "customProperties": custom,
        },
    }


def aml_event(breached: str = "true", status: str = "Failed", tags: dict | None = None) -> dict:
    """`Microsoft.MachineLearningServices.RunStatusChanged` as a model monitor's failed run emits it
    (event-grid/event-schema-machine-learning.md; the monitor's tag as in how-to-monitor-model-performance.md)."""
    return {
        "id": "aml-1",
        "topic": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w",
        "subject": "experiments/e/runs/run-42",
        "eventType": "Microsoft.MachineLearningServices.RunStatusChanged",
        "eventTime": "2024-05-01T12:00:00Z",
        "data": {
            "experimentId": "e",
            "experimentName": "churn-monitor",
            "runId": "run-42",
            "runType": "azureml.scheduled",
            "RunTags": {"azureml_modelmonitor_threshold_breached": breached, **(tags or {})},
            "RunStatus": status,
        },
    }


def policy(model: str, prefix: str, *, container: str = "raw", prefixes=(), rules=()):
    return SimpleNamespace(
        model=model,
        data=SimpleNamespace(container=container, prefix=prefix),
        triggers=SimpleNamespace(blob_prefixes=list(prefixes), alert_rules=list(rules)),
    )


# --------------------------------------------------------------------------- blob events


def test_a_blob_created_event_in_the_event_grid_schema_names_its_blob():
    event = parse_event(blob_event("churn/a b.csv"))
    assert isinstance(event, BlobCreated)
    assert (event.container, event.path, event.etag, event.api) == (
        "raw",
        "churn/a b.csv",
        "0x8DC1",
        "PutBlob",
    )
    assert event.committed
    assert event.event_time == datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_the_same_blob_event_as_a_cloud_event_parses_to_the_same_blob_and_dedupe_keys():
    grid = parse_event(blob_event())
    cloud = parse_event(as_cloud_event(blob_event()))
    assert isinstance(cloud, BlobCreated) and cloud.schema == "cloudevents"
    assert (cloud.container, cloud.path, cloud.url, cloud.etag) == (
        grid.container,
        grid.path,
        grid.url,
        grid.etag,
    )
    assert cloud.dedupe_keys == grid.dedupe_keys


@pytest.mark.parametrize("api", ["PutBlock", "Flush", "SetBlobMetadata", "PutPage"])
def test_partial_or_metadata_writes_are_not_committed(api):
    assert not parse_event(blob_event(api=api)).committed


def test_committed_apis_are_exactly_the_five_complete_writes():
    assert {"PutBlob", "PutBlockList", "FlushWithClose", "CopyBlob", "SftpCommit"} == COMMITTED_BLOB_APIS


def test_a_url_that_disagrees_with_the_subject_is_refused():
    event = blob_event()
    event["data"]["url"] = f"{ACCOUNT_URL}/raw/other/file.csv"
    with pytest.raises(EventValidationError, match="must agree"):
        parse_event(event)


def test_field_names_are_read_case_insensitively():
    event = blob_event()
    event["data"] = {k.upper(): v for k, v in event["data"].items()}
    assert parse_event(event).etag == "0x8DC1"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://acct.blob.core.windows.net/raw/a/b.csv", ("acct", "raw", "a/b.csv")),
        ("https://acct.dfs.core.windows.net/raw/a/b.csv", ("acct", "raw", "a/b.csv")),
        ("http://127.0.0.1:10000/devstoreaccount1/raw/a%20b.csv", ("devstoreaccount1", "raw", "a b.csv")),
    ],
)
def test_blob_urls_in_both_styles_split_into_account_container_and_path(url, expected):
    address = blob_address(url)
    assert (address.account, address.container, address.path) == expected


def test_only_urls_in_our_account_and_container_match_our_own_blob_url():
    ours = f"{ACCOUNT_URL}/raw/churn/x.csv"
    assert same_blob_location(ours, ours)
    assert not same_blob_location("http://127.0.0.1:10000/otheraccount/raw/churn/x.csv", ours)
    assert not same_blob_location("http://evil.example:10000/devstoreaccount1/raw/churn/x.csv", ours)
    assert not same_blob_location(f"{ACCOUNT_URL}/features/churn/x.csv", ours)
    assert not same_blob_location("file:///etc/passwd", ours)


def test_an_event_grid_array_and_a_cloud_event_batch_both_parse():
    body = json.dumps([blob_event(event_id="a"), blob_event(event_id="b")])
    assert [e.event_id for e in parse_events(body)] == ["a", "b"]
    assert parse_events(json.dumps(as_cloud_event(blob_event())))[0].schema == "cloudevents"


def test_other_event_types_are_recognised_but_not_acted_on():
    event = blob_event()
    event["eventType"] = "Microsoft.Storage.BlobDeleted"
    assert isinstance(parse_event(event), OtherEvent)


def test_a_body_over_256_kb_is_refused_before_parsing():
    with pytest.raises(EventValidationError, match="256 KB"):
        parse_events(b"[" + b" " * MAX_PAYLOAD_BYTES + b"]")


# --------------------------------------------------------------------------- alerts


def test_a_fired_common_schema_alert_parses_with_its_dedupe_key():
    parsed = parse_alert(json.dumps(alert()))
    assert parsed.fired and parsed.alert_rule == "churn-drift"
    assert parsed.dedupe_key.endswith(":fired")
    assert parsed.configuration_items == ("churn-endpoint",)


def test_alert_field_names_and_condition_are_case_insensitive():
    doc = alert("resolved")
    doc["data"]["essentials"] = {k.lower(): v for k, v in doc["data"]["essentials"].items()}
    doc["SCHEMAID"] = doc.pop("schemaId")
    parsed = parse_alert(doc)
    assert parsed.monitor_condition == "Resolved" and not parsed.fired


def test_fired_and_resolved_of_one_alert_are_different_deliveries():
    assert parse_alert(alert("Fired")).dedupe_key != parse_alert(alert("Resolved")).dedupe_key


def test_other_alert_schemas_are_refused_with_how_to_fix():
    doc = alert()
    doc["schemaId"] = "Microsoft.Insights/activityLogs"
    with pytest.raises(EventValidationError, match="common alert schema"):
        parse_alert(doc)


@pytest.mark.parametrize("condition", ["", "Active", None, 3])
def test_an_unknown_monitor_condition_is_refused(condition):
    doc = alert()
    doc["data"]["essentials"]["monitorCondition"] = condition
    with pytest.raises(EventValidationError, match="monitorCondition"):
        parse_alert(doc)


# --------------------------------------------------------------------------- AML monitor


def test_a_failed_model_monitor_run_with_a_breached_threshold_is_a_monitor_breach():
    event = parse_event(aml_event())
    assert isinstance(event, AmlRunStatusChanged)
    assert event.monitor_breach and event.run_id == "run-42"


@pytest.mark.parametrize(("breached", "status"), [("false", "Failed"), ("true", "Completed"), ("", "Failed")])
def test_other_run_status_changes_are_not_breaches(breached, status):
    assert not parse_event(aml_event(breached, status)).monitor_breach


# --------------------------------------------------------------------------- routing


def test_a_blob_routes_to_the_policy_with_the_longest_matching_prefix():
    policies = [policy("churn", "churn/"), policy("churn-eu", "churn/eu/"), policy("fraud", "fraud/")]
    assert route_blob(policies, "raw", "churn/eu/x.csv") == "churn-eu"
    assert route_blob(policies, "raw", "churn/us/x.csv") == "churn"
    assert route_blob(policies, "features", "churn/x.csv") is None
    assert route_blob(policies, "raw", "other/x.csv") is None


def test_blob_prefixes_replace_the_data_prefix_when_given():
    policies = [policy("churn", "churn/", prefixes=["uploads/churn/"])]
    assert route_blob(policies, "raw", "uploads/churn/x.csv") == "churn"
    assert route_blob(policies, "raw", "churn/x.csv") is None


def test_an_alert_routes_by_model_custom_property_or_by_rule_name():
    policies = [policy("churn", "churn/", rules=["Churn-Drift"]), policy("fraud", "fraud/")]
    assert route_alert(policies, parse_alert(alert(rule="churn-drift"))) == "churn"
    assert route_alert(policies, parse_alert(alert(rule="x", custom={"Model": "fraud"}))) == "fraud"
    assert route_alert(policies, parse_alert(alert(rule="x", custom={"model": "nope"}))) is None
    assert route_alert(policies, parse_alert(alert(rule="unknown"))) is None


def test_an_aml_monitor_routes_by_tag_or_by_its_experiment_as_an_alert_rule():
    policies = [policy("churn", "churn/", rules=["churn-monitor"]), policy("fraud", "fraud/")]
    assert route_aml_run(policies, parse_event(aml_event())) == "churn"
    assert route_aml_run(policies, parse_event(aml_event(tags={"model": "fraud"}))) == "fraud"


# --------------------------------------------------------------------------- properties

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
field_names = st.sampled_from(
    [
        "id",
        "topic",
        "subject",
        "eventType",
        "eventTime",
        "data",
        "specversion",
        "type",
        "source",
        "time",
        "api",
        "url",
        "eTag",
        "contentLength",
        "schemaId",
        "essentials",
        "monitorCondition",
        "alertId",
        "alertRule",
        "customProperties",
        "runId",
        "runStatus",
        "runTags",
    ]
)
eventish = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(field_names | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=30,
)


def _mutations(doc: dict) -> st.SearchStrategy[dict]:
    """A valid document with one field (anywhere) replaced by an arbitrary JSON value or removed."""

    def paths(value, prefix=()):
        if isinstance(value, dict):
            for key, item in value.items():
                yield (*prefix, key)
                yield from paths(item, (*prefix, key))

    all_paths = list(paths(doc))

    @st.composite
    def mutate(draw):
        target = draw(st.sampled_from(all_paths))
        copy = json.loads(json.dumps(doc))
        node = copy
        for key in target[:-1]:
            node = node[key]
        if draw(st.booleans()):
            node.pop(target[-1])
        else:
            node[target[-1]] = draw(json_values)
        return copy

    return mutate()


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_arbitrary_bytes_never_raise_anything_but_a_validation_error(body):
    for parser in (parse_events, parse_alert):
        with contextlib.suppress(EventValidationError):
            parser(body)


@FUZZ
@given(eventish)
def test_arbitrary_json_never_raises_anything_but_a_validation_error(doc):
    for parser in (parse_events, parse_alert, parse_event):
        with contextlib.suppress(EventValidationError):
            parser(doc)


@FUZZ
@given(st.one_of(_mutations(blob_event()), _mutations(as_cloud_event(blob_event())), _mutations(aml_event())))
def test_a_mutated_event_parses_or_is_refused_with_a_validation_error(doc):
    try:
        parse_event(doc)
    except EventValidationError as exc:
        assert str(exc)


@FUZZ
@given(_mutations(alert()))
def test_a_mutated_alert_parses_or_is_refused_with_a_validation_error(doc):
    try:
        parse_alert(doc)
    except EventValidationError as exc:
        assert str(exc)


# a valid blob name: no control characters, backslashes or dot segments (core.kernel.blob_paths)
safe_segment = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc",), exclude_characters="/?#%\\"),
    min_size=1,
    max_size=20,
).filter(lambda s: s not in (".", ".."))


@FUZZ
@given(
    path=st.lists(safe_segment, min_size=1, max_size=4).map("/".join),
    container=st.from_regex(r"[a-z0-9]{3,12}", fullmatch=True),
    event_id=st.uuids().map(str),
    etag=st.from_regex(r"0x[0-9A-F]{8,16}", fullmatch=True),
    api=st.sampled_from(sorted(COMMITTED_BLOB_APIS | {"PutBlock", "Flush"})),
    cloud=st.booleans(),
)
def test_valid_blob_events_round_trip(path, container, event_id, etag, api, cloud):
    from urllib.parse import quote

    raw = blob_event(quote(path), container=container, api=api, event_id=event_id, etag=etag)
    raw["subject"] = f"/blobServices/default/containers/{container}/blobs/{path}"
    doc = as_cloud_event(raw) if cloud else raw
    event = parse_event(json.loads(json.dumps(doc)))
    assert isinstance(event, BlobCreated)
    assert (event.container, event.path, event.event_id, event.etag) == (container, path, event_id, etag)
    assert event.committed == (api in COMMITTED_BLOB_APIS)
    assert same_blob_location(event.url, f"{ACCOUNT_URL}/{container}/{quote(path)}")


@FUZZ
@given(
    alert_id=st.text(min_size=1, max_size=60).filter(lambda s: "\x00" not in s),
    rule=st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s),
    condition=st.sampled_from(["Fired", "Resolved", "fired", "RESOLVED"]),
    custom=st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3),
)
def test_valid_alerts_round_trip(alert_id, rule, condition, custom):
    doc = alert(condition, rule=rule, custom=custom)
    doc["data"]["essentials"]["alertId"] = alert_id
    parsed = parse_alert(json.dumps(doc).encode())
    assert isinstance(parsed, MonitorAlert)
    assert (parsed.alert_id, parsed.alert_rule, parsed.custom_properties) == (alert_id, rule, custom)
    assert parsed.monitor_condition == condition.capitalize()
