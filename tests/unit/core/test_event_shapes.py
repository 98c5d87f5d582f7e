"""Microsoft's own published sample events parse as Azure sends them, and names that could escape
their container never pass the edge.

The samples are copied from learn.microsoft.com (MicrosoftDocs/azure-docs,
articles/event-grid/event-schema-blob-storage.md and event-schema-machine-learning.md); only
what the comments say was changed.
"""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

import pytest

from core.intake.events import (
    AmlRunStatusChanged,
    BlobCreated,
    EventValidationError,
    OtherEvent,
    parse_alert,
    parse_event,
    parse_events,
    route_aml_run,
    route_blob,
    same_blob_location,
)
from core.kernel.blob_paths import BlobPathError, check_blob_path, within_prefix

# --------------------------------------------------------------------------- Microsoft's samples

# Blob storage, Event Grid schema. The published sample's subject names `test-container` while its
# url names `testcontainer`; the parser refuses that disagreement (see the test below), so the
# copy used for parsing names `testcontainer` in both.
MS_BLOB_CREATED_EVENTGRID = json.loads(r"""
[{
  "topic": "/subscriptions/{subscription-id}/resourceGroups/Storage/providers/Microsoft.Storage/storageAccounts/my-storage-account",
  "subject": "/blobServices/default/containers/test-container/blobs/new-file.txt",
  "eventType": "Microsoft.Storage.BlobCreated",
  "eventTime": "2017-06-26T18:41:00.9584103Z",
  "id": "831e1650-001e-001b-66ab-eeb76e069631",
  "data": {
    "api": "PutBlockList",
    "clientRequestId": "6d79dbfb-0e37-4fc4-981f-442c9ca65760",
    "requestId": "831e1650-001e-001b-66ab-eeb76e000000",
    "eTag": "\"0x8D4BCC2E4835CD0\"",
    "contentType": "text/plain",
    "contentLength": 524288,
    "blobType": "BlockBlob",
    "url": "https://my-storage-account.blob.core.windows.net/testcontainer/new-file.txt",
    "sequencer": "00000000000004420000000000028963",
    "storageDiagnostics": {
      "batchId": "b68529f3-68cd-4744-baa4-3c0498ec19f0"
    }
  },
  "dataVersion": "",
  "metadataVersion": "1"
}]
""")

# ADLS Gen2 (hierarchical namespace), CloudEvents schema: the url is on the dfs endpoint.
MS_ADLS_BLOB_CREATED_CLOUDEVENT = json.loads(r"""
[{
  "source": "/subscriptions/{subscription-id}/resourceGroups/Storage/providers/Microsoft.Storage/storageAccounts/my-storage-account",
  "subject": "/blobServices/default/containers/my-file-system/blobs/new-file.txt",
  "type": "Microsoft.Storage.BlobCreated",
  "time": "2017-06-26T18:41:00.9584103Z",
  "id": "831e1650-001e-001b-66ab-eeb76e069631",
  "data": {
    "api": "CreateFile",
    "clientRequestId": "6d79dbfb-0e37-4fc4-981f-442c9ca65760",
    "requestId": "831e1650-001e-001b-66ab-eeb76e000000",
    "eTag": "\"0x8D4BCC2E4835CD0\"",
    "contentType": "text/plain",
    "contentLength": 0,
    "contentOffset": 0,
    "blobType": "BlockBlob",
    "url": "https://my-storage-account.dfs.core.windows.net/my-file-system/new-file.txt",
    "sequencer": "00000000000004420000000000028963",
    "storageDiagnostics": {
    "batchId": "b68529f3-68cd-4744-baa4-3c0498ec19f0"
    }
  },
  "specversion": "1.0"
}]
""")

# ADLS Gen2, Event Grid schema (dataVersion 2).
MS_ADLS_BLOB_CREATED_EVENTGRID = json.loads(r"""
[{
  "topic": "/subscriptions/{subscription-id}/resourceGroups/Storage/providers/Microsoft.Storage/storageAccounts/my-storage-account",
  "subject": "/blobServices/default/containers/my-file-system/blobs/new-file.txt",
  "eventType": "Microsoft.Storage.BlobCreated",
  "eventTime": "2017-06-26T18:41:00.9584103Z",
  "id": "831e1650-001e-001b-66ab-eeb76e069631",
  "data": {
    "api": "CreateFile",
    "clientRequestId": "6d79dbfb-0e37-4fc4-981f-442c9ca65760",
    "requestId": "831e1650-001e-001b-66ab-eeb76e000000",
    "eTag": "\"0x8D4BCC2E4835CD0\"",
    "contentType": "text/plain",
    "contentLength": 0,
    "contentOffset": 0,
    "blobType": "BlockBlob",
    "url": "https://my-storage-account.dfs.core.windows.net/my-file-system/new-file.txt",
    "sequencer": "00000000000004420000000000028963",
    "storageDiagnostics": {
    "batchId": "b68529f3-68cd-4744-baa4-3c0498ec19f0"
    }
  },
  "dataVersion": "2",
  "metadataVersion": "1"
}]
""")

# SFTP, CloudEvents schema.
MS_SFTP_COMMIT_CLOUDEVENT = json.loads(r"""
[{
  "source": "/subscriptions/{subscription-id}/resourceGroups/Storage/providers/Microsoft.Storage/storageAccounts/my-storage-account",
  "subject": "/blobServices/default/containers/testcontainer/blobs/new-file.txt",
  "type": "Microsoft.Storage.BlobCreated",
  "time": "2022-04-25T19:13:00.1522383Z",
  "id": "831e1650-001e-001b-66ab-eeb76e069631",
  "data": {
    "api": "SftpCommit",
    "requestId": "831e1650-001e-001b-66ab-eeb76e000000",
    "eTag": "\"0x8D4BCC2E4835CD0\"",
    "contentType": "application/octet-stream",
    "contentLength": 0,
    "contentOffset": 0,
    "blobType": "BlockBlob",
    "url": "https://my-storage-account.blob.core.windows.net/testcontainer/new-file.txt",
    "sequencer": "00000000000004420000000000028963",
    "identity":"localuser",
    "storageDiagnostics": {
    "batchId": "b68529f3-68cd-4744-baa4-3c0498ec19f0"
    }
  },
  "specversion": "1.0"
}]
""")

# Azure ML RunStatusChanged, Event Grid schema, as published (runTags is empty in the sample).
MS_AML_RUN_STATUS_CHANGED = json.loads(r"""
[{
  "topic": "/subscriptions/{subscription-id}/resourceGroups/{resource-group-name}/providers/Microsoft.MachineLearningServices/workspaces/{workspace-name}",
  "subject": "experiments/0fa9dfaa-cba3-4fa7-b590-23e48548f5c1/runs/AutoML_ad912b2d-6467-4f32-a616-dbe4af6dd8fc_5",
  "eventType": "Microsoft.MachineLearningServices.RunStatusChanged",
  "eventTime": "2017-06-26T18:41:00.9584103Z",
  "id": "831e1650-001e-001b-66ab-eeb76e069631",
  "data": {
    "experimentId": "0fa9dfaa-cba3-4fa7-b590-23e48548f5c1",
    "experimentName": "automl-local-regression",
    "runId": "AutoML_ad912b2d-6467-4f32-a616-dbe4af6dd8fc_5",
    "runType": null,
    "runTags": {},
    "runProperties": {
        "runTemplate": "automl_child",
        "pipeline_id": "5adc0a4fe02504a586f09a4fcbb241f9a4012062",
        "training_percent": "100",
        "iteration": "5",
        "model_name": "AutoMLad912b2d65"
    },
   "runStatus": "failed"
   },
  "dataVersion": "",
  "metadataVersion": "1"
}]
""")

# What Azure ML's model monitoring writes into the tag when a signal breaches (the message built
# by the monitoring components; Microsoft's docs filter on the phrase with StringContains).
REAL_BREACH_TAG = (
    "The signal 'churn-monitor_data_drift' has failed due to one or more features violating metric "
    "thresholds.\nThe feature names and their corresponding computed metric values violating the "
    'threshold are \n[\'{"group":"tenure_months","metric_value":0.31,"metric_name":'
    '"normalized_wasserstein_distance","threshold_value":0.1}\']\n'
)


def _monitor_breach(tag: str = REAL_BREACH_TAG, status: str = "failed", **data) -> dict:
    event = copy.deepcopy(MS_AML_RUN_STATUS_CHANGED[0])
    event["data"]["runTags"] = {"azureml_modelmonitor_threshold_breached": tag}
    event["data"]["runStatus"] = status
    event["data"].update(data)
    return event


def _with(event: dict, **data) -> dict:
    out = copy.deepcopy(event)
    out["data"].update(data)
    return out


def _policy(model: str, prefix: str, *, container: str = "raw", rules=()):
    return SimpleNamespace(
        model=model,
        data=SimpleNamespace(container=container, prefix=prefix),
        triggers=SimpleNamespace(blob_prefixes=[], alert_rules=list(rules)),
    )


# --------------------------------------------------------------------------- blob samples


def test_microsofts_blob_sample_parses_once_subject_and_url_name_the_same_container():
    published = MS_BLOB_CREATED_EVENTGRID
    with pytest.raises(EventValidationError, match="must agree"):
        parse_events(published)  # the docs' subject says test-container, its url testcontainer
    fixed = copy.deepcopy(published)
    fixed[0]["subject"] = fixed[0]["subject"].replace("test-container", "testcontainer")
    [event] = parse_events(fixed)
    assert isinstance(event, BlobCreated)
    assert (event.container, event.path, event.api, event.committed) == (
        "testcontainer",
        "new-file.txt",
        "PutBlockList",
        True,
    )
    assert event.etag == '"0x8D4BCC2E4835CD0"' and event.content_length == 524288


@pytest.mark.parametrize("sample", [MS_ADLS_BLOB_CREATED_CLOUDEVENT, MS_ADLS_BLOB_CREATED_EVENTGRID])
def test_adls_gen2_samples_parse_and_createfile_is_not_a_committed_write(sample):
    [event] = parse_events(sample)
    assert isinstance(event, BlobCreated)
    assert (event.container, event.path) == ("my-file-system", "new-file.txt")
    assert not event.committed  # CreateFile makes the empty file; FlushWithClose commits it
    flushed = parse_event(_with(sample[0], api="FlushWithClose", contentLength=4096))
    assert flushed.committed


@pytest.mark.parametrize("sample", [MS_ADLS_BLOB_CREATED_CLOUDEVENT, MS_ADLS_BLOB_CREATED_EVENTGRID])
def test_the_dfs_url_of_an_adls_event_is_the_same_account_as_our_blob_url(sample):
    [event] = parse_events(sample)
    ours = "https://my-storage-account.blob.core.windows.net/my-file-system/new-file.txt"
    assert same_blob_location(event.url, ours)
    assert not same_blob_location(event.url, ours.replace("my-storage-account", "other-account"))
    assert not same_blob_location(event.url, ours.replace("my-file-system", "other-fs"))
    assert not same_blob_location(
        "https://my-storage-account.dfs.evil.example/my-file-system/new-file.txt", ours
    )


def test_sftp_commit_is_a_committed_write_and_sftp_create_is_not():
    [event] = parse_events(MS_SFTP_COMMIT_CLOUDEVENT)
    assert isinstance(event, BlobCreated) and event.api == "SftpCommit" and event.committed
    created = parse_event(_with(MS_SFTP_COMMIT_CLOUDEVENT[0], api="SftpCreate"))
    assert not created.committed


def test_directory_events_of_adls_are_other_events():
    directory = {
        "source": MS_ADLS_BLOB_CREATED_CLOUDEVENT[0]["source"],
        "subject": "/blobServices/default/containers/my-file-system/blobs/my-new-directory",
        "type": "Microsoft.Storage.DirectoryCreated",
        "time": "2017-06-26T18:41:00.9584103Z",
        "id": "831e1650-001e-001b-66ab-eeb76e069631",
        "data": {
            "api": "CreateDirectory",
            "url": "https://my-storage-account.dfs.core.windows.net/my-file-system/my-new-directory",
        },
        "specversion": "1.0",
    }
    assert isinstance(parse_event(directory), OtherEvent)


# --------------------------------------------------------------------------- AML sample


def test_microsofts_run_status_changed_sample_parses_and_is_not_a_breach_without_the_tag():
    [event] = parse_events(MS_AML_RUN_STATUS_CHANGED)
    assert isinstance(event, AmlRunStatusChanged)
    assert event.run_status == "failed" and event.run_type == "" and event.run_tags == {}
    assert not event.monitor_breach


def test_the_message_azure_ml_writes_into_the_breach_tag_is_a_monitor_breach():
    event = parse_event(_monitor_breach())
    assert event.threshold_breached and event.monitor_breach


@pytest.mark.parametrize(
    ("tag", "status", "breach"),
    [
        (REAL_BREACH_TAG, "Completed", False),  # the monitor recovered: Failed -> Completed
        ("", "Failed", False),
        ("false", "Failed", False),
        ("The signal 'x' completed", "Failed", False),
        ("true", "Failed", True),  # hand-made events and older docs
    ],
)
def test_only_a_failed_run_with_a_breach_tag_is_a_monitor_breach(tag, status, breach):
    assert parse_event(_monitor_breach(tag, status)).monitor_breach is breach


def test_a_real_breach_routes_by_the_monitor_name_in_its_signal():
    policies = [_policy("churn", "churn/", rules=["churn-monitor"]), _policy("fraud", "fraud/")]
    assert route_aml_run(policies, parse_event(_monitor_breach())) == "churn"
    other = REAL_BREACH_TAG.replace("churn-monitor_", "fraud-monitor_")
    assert route_aml_run(policies, parse_event(_monitor_breach(other))) is None


# --------------------------------------------------------------------------- paths

ESCAPES = [
    "churn/../../training/churn/dv-1/train/part-000.parquet",
    "churn/./a.csv",
    "churn/..",
    "..",
    "churn/%2e%2e/%2E%2E/training/x.csv",
    "churn/%252e%252e/x.csv",
    "churn/a%2F..%2F..%2Fx.csv",
    "churn\\..\\..\\training\\x.csv",
    "/churn/a.csv",
    "churn//a.csv",
    "churn/a\x01.csv",
]


@pytest.mark.parametrize("name", ESCAPES)
def test_names_with_dot_segments_or_their_encodings_are_refused(name):
    with pytest.raises(BlobPathError):
        check_blob_path(name)
    assert not within_prefix(name, "churn/")


@pytest.mark.parametrize(
    "name", ["churn/2024-05-01.csv", "churn/a..b.csv", "churn/.hidden.csv", "churn/100%.csv"]
)
def test_ordinary_names_pass(name):
    assert check_blob_path(name) == name


def _blob(path: str, *, url_path: str | None = None, container: str = "raw") -> dict:
    base = "https://acct.blob.core.windows.net"
    return {
        "id": "e1",
        "topic": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct",
        "subject": f"/blobServices/default/containers/{container}/blobs/{path}",
        "eventType": "Microsoft.Storage.BlobCreated",
        "eventTime": "2024-05-01T12:00:00Z",
        "data": {
            "api": "PutBlob",
            "url": f"{base}/{container}/{url_path or path}",
            "eTag": "0x1",
            "contentLength": 9,
        },
    }


@pytest.mark.parametrize("name", ESCAPES[:8])
def test_a_blob_event_naming_a_dot_segment_is_refused_at_the_edge(name):
    with pytest.raises(EventValidationError):
        parse_event(_blob(name))


def test_a_url_whose_encoded_slashes_hide_dot_segments_is_refused():
    with pytest.raises(EventValidationError):
        parse_event(_blob("churn/a%2F..%2F..%2Fx.csv"))


def test_routing_never_claims_a_name_that_escapes_the_prefix():
    policies = [_policy("churn", "churn/")]
    assert route_blob(policies, "raw", "churn/../../training/x.csv") is None
    assert route_blob(policies, "raw", "churn/x.csv") == "churn"


# --------------------------------------------------------------------------- lone surrogates


def test_a_lone_surrogate_in_an_alert_id_is_refused_with_a_reason():
    body = (
        '{"schemaId":"azureMonitorCommonAlertSchema","data":{"essentials":'
        '{"alertId":"a\\ud800","alertRule":"r","monitorCondition":"Fired"}}}'
    )
    with pytest.raises(EventValidationError, match="lone surrogate"):
        parse_alert(body.encode())


def test_a_lone_surrogate_in_an_event_id_or_tag_is_refused():
    event = _blob("churn/a.csv")
    event["id"] = "e\udc80"
    with pytest.raises(EventValidationError, match="lone surrogate"):
        parse_event(event)
    with pytest.raises(EventValidationError, match="lone surrogate"):
        parse_event(_monitor_breach(tag="\ud800"))
