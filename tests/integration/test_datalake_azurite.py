"""BlobDataLake against a real Azurite: the same adapter the Function App uses in both modes."""

from __future__ import annotations

import uuid

import pytest

from adapters.azure.datalake import BlobDataLake
from core.kernel.blob_paths import BlobPathError
from core.kernel.ports import BlobNotFound, DataLake

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture
def lake(azurite: str) -> BlobDataLake:
    return BlobDataLake.from_connection_string(azurite)


@pytest.fixture
def container() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def test_the_adapter_satisfies_the_port(lake):
    assert isinstance(lake, DataLake)


def test_a_written_blob_reads_back_with_its_size_etag_and_url(lake, container):
    info = lake.write(container, "churn/2025/a.csv", b"x,y\n1,2\n", content_type="text/csv")
    assert lake.read(container, "churn/2025/a.csv") == b"x,y\n1,2\n"
    assert info.size == 8 and info.etag
    assert info.url == lake.url(container, "churn/2025/a.csv")
    assert info.url.endswith(f"/{container}/churn/2025/a.csv")


def test_writing_without_overwrite_keeps_the_first_content(lake, container):
    first = lake.write(container, "v/data.parquet", b"first")
    again = lake.write(container, "v/data.parquet", b"second")
    assert lake.read(container, "v/data.parquet") == b"first"
    assert again.etag == first.etag


def test_writing_with_overwrite_replaces_the_content_and_the_etag(lake, container):
    first = lake.write(container, "report.json", b"{}")
    second = lake.write(container, "report.json", b'{"a": 1}', overwrite=True)
    assert lake.read(container, "report.json") == b'{"a": 1}'
    assert second.etag != first.etag


def test_a_missing_blob_raises_blob_not_found(lake, container):
    lake.write(container, "present", b"1")
    with pytest.raises(BlobNotFound):
        lake.read(container, "absent")
    with pytest.raises(BlobNotFound):
        lake.info(container, "absent")
    assert not lake.exists(container, "absent")
    assert lake.exists(container, "present")


def test_list_returns_only_the_prefix_in_path_order(lake, container):
    for path in ("churn/b.csv", "churn/a.csv", "other/c.csv"):
        lake.write(container, path, path.encode())
    assert [b.path for b in lake.list(container, "churn/")] == ["churn/a.csv", "churn/b.csv"]
    assert lake.list(f"{container}-missing", "") == []


def test_metadata_and_names_with_spaces_survive_the_round_trip(lake, container):
    lake.write(container, "raw/with space.csv", b"a", metadata={"source": "test"})
    assert lake.read(container, "raw/with space.csv") == b"a"
    assert "with%20space.csv" in lake.url(container, "raw/with space.csv")


# --------------------------------------------------------------------------- names that escape


ESCAPING = [
    "churn/../../training/x.csv",
    "churn/%2e%2e/%2e%2e/training/x.csv",
    "churn\\..\\x.csv",
    "..",
    "/x",
]


@pytest.mark.parametrize("name", ESCAPING)
def test_names_with_dot_segments_are_refused_before_any_request(lake, container, name):
    lake.write(container, "training/x.csv", b"secret")
    for call in (
        lambda: lake.read(container, name),
        lambda: lake.info(container, name),
        lambda: lake.write(container, name, b"x"),
        lambda: lake.exists(container, name),
        lambda: lake.url(container, name),
        lambda: lake.list(container, name + "/"),
    ):
        with pytest.raises(BlobPathError):
            call()
    assert [b.path for b in lake.list(container)] == ["training/x.csv"]


@pytest.mark.parametrize("bad", ["..", "raw/x", "Raw", "a", "$logs", "raw%2f.."])
def test_container_names_outside_azures_rule_are_refused(lake, bad):
    with pytest.raises(BlobPathError):
        lake.read(bad, "x.csv")


def test_a_directory_placeholder_lists_with_its_hdi_isfolder_metadata(lake, container):
    lake.write(container, "churn/2025", b"", metadata={"hdi_isfolder": "true"})
    lake.write(container, "churn/2025/a.csv", b"a,b\n1,2\n")
    listed = {b.path: b for b in lake.list(container, "churn/")}
    assert listed["churn/2025"].metadata == {"hdi_isfolder": "true"} and listed["churn/2025"].size == 0
    assert lake.info(container, "churn/2025").metadata == {"hdi_isfolder": "true"}
    assert listed["churn/2025/a.csv"].metadata == {}
