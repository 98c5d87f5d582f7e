"""BlobDataLake refuses names that escape their container before it sends any request (so these
run without Azurite: the account URL points at a closed port)."""

from __future__ import annotations

import pytest

from adapters.azure.datalake import BlobDataLake
from core.kernel.blob_paths import BlobPathError

CLOSED = "http://127.0.0.1:9/devstoreaccount1"


@pytest.fixture
def lake() -> BlobDataLake:
    return BlobDataLake(CLOSED, credential=None, retry_total=0)


@pytest.mark.parametrize(
    "name",
    [
        "churn/../../training/churn/dv-1/train/part-000.parquet",
        "churn/%2e%2e/%2E%2E/training/x",
        "churn/..%2F..%2Ftraining/x",
        "churn\\..\\x",
        "churn/./x",
        "..",
    ],
)
def test_reads_writes_and_urls_of_escaping_names_are_refused(lake, name):
    for call in (
        lambda: lake.read("raw", name),
        lambda: lake.info("raw", name),
        lambda: lake.write("raw", name, b"x"),
        lambda: lake.exists("raw", name),
        lambda: lake.url("raw", name),
    ):
        with pytest.raises(BlobPathError):
            call()


def test_a_listing_prefix_with_dot_segments_is_refused(lake):
    with pytest.raises(BlobPathError):
        lake.list("raw", "churn/../training/")


@pytest.mark.parametrize("container", ["..", "raw/..", "RAW", "ab", "-raw", "r--w", "x" * 64])
def test_containers_outside_azures_naming_rule_are_refused(lake, container):
    with pytest.raises(BlobPathError):
        lake.read(container, "churn/a.csv")


def test_plain_names_build_the_url_they_name(lake):
    assert lake.url("raw", "churn/with space.csv") == f"{CLOSED}/raw/churn/with%20space.csv"
