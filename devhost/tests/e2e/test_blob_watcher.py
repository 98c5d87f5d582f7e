"""devhost's blob watcher turns new blobs in Azurite into Azure's BlobCreated events, once each."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient, ContentSettings

from tests.e2e.conftest import PATTERNS_APP, Devhost, start_devhost

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _blob_events(host: Devhost, count: int, timeout: float = 15.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    events: list[dict] = []
    while time.monotonic() < deadline:
        events = [
            e for e in host.get("/api/events-seen").json() if e["type"] == "Microsoft.Storage.BlobCreated"
        ]
        if len(events) >= count:
            return events
        time.sleep(0.2)
    raise AssertionError(f"expected {count} BlobCreated events, saw {events}\n{host.log()[-2000:]}")


def test_new_blobs_are_announced_once_in_azure_schema_across_restarts(azurite: str, tmp_path: Path) -> None:
    service = BlobServiceClient.from_connection_string(azurite)
    container = service.get_container_client("raw")
    if not container.exists():
        container.create_container()
    container.upload_blob(
        "batches/2024-05-01.csv", b"a,b\n1,2\n", content_settings=ContentSettings("text/csv")
    )
    watch = ("--watch-blobs", azurite, "--watch-containers", "raw", "--blob-events-function", "on_event")
    host = start_devhost(PATTERNS_APP, tmp_path / "state", tmp_path / "data", extra_args=watch)
    try:
        (first,) = _blob_events(host, 1)
    finally:
        host.proc.stop()
    data = first["data"]
    assert data["api"] == "PutBlob"
    assert data["blobType"] == "BlockBlob"
    assert data["contentType"] == "text/csv"
    assert data["contentLength"] == 8
    assert data["url"].endswith("/devstoreaccount1/raw/batches/2024-05-01.csv")
    assert len(data["sequencer"]) == 32
    assert set(data) >= {"clientRequestId", "requestId", "eTag", "storageDiagnostics"}

    container.upload_blob("batches/2024-05-02.csv", b"a,b\n3,4\n")
    host = start_devhost(PATTERNS_APP, tmp_path / "state", tmp_path / "data", extra_args=watch)
    try:
        events = _blob_events(host, 2)
        time.sleep(1.5)  # a poll or two more: nothing already announced comes again
        events = _blob_events(host, 2)
    finally:
        host.proc.stop()
    urls = [e["data"]["url"].rsplit("/raw/", 1)[1] for e in events]
    assert urls == ["batches/2024-05-01.csv", "batches/2024-05-02.csv"]
