"""Ingest: the same raw bytes always give the same data version and files; bad input only reaches quarantine."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from core.kernel.contract import load_contract
from core.kernel.datafiles import RawFile, to_parquet
from core.kernel.payload import BlobRef
from core.kernel.policy import load_policy
from core.training.ingest import data_version, prepare, run_ingest
from samples.churn.data import corrupt, generate, to_csv_bytes
from tests.fakes import FakeDataLake

ROOT = Path(__file__).resolve().parents[3]
POLICY = load_policy(ROOT / "samples" / "churn" / "policy.yaml")
CONTRACT = load_contract(ROOT / "samples" / "churn" / "contract.yaml")


def _file(path: str = "churn/a.csv", rows: int = 400, seed: int = 1, **kw) -> RawFile:
    return RawFile(BlobRef(container="raw", path=path), to_csv_bytes(generate(rows, seed, **kw)))


def test_the_data_version_depends_on_the_bytes_the_contract_and_the_split():
    a, b = _file(seed=1), _file("churn/b.csv", seed=2)
    v = data_version([a], CONTRACT, 0.25, 7)
    assert v == data_version([a], CONTRACT, 0.25, 7)
    assert v != data_version([b], CONTRACT, 0.25, 7)
    assert v != data_version([a], CONTRACT, 0.30, 7)
    assert v != data_version([a], CONTRACT.model_copy(update={"min_rows": 10}), 0.25, 7)
    assert data_version([a, b], CONTRACT, 0.25, 7) == data_version([b, a], CONTRACT, 0.25, 7)


def test_prepared_frames_are_typed_and_byte_identical_across_runs():
    first, second = prepare([_file()], CONTRACT, 0.25, 7), prepare([_file()], CONTRACT, 0.25, 7)
    assert to_parquet(first.train) == to_parquet(second.train)
    assert first.train["tenure_months"].dtype == "int64"
    assert first.train["monthly_charges"].dtype == "float64"
    assert len(first.train) + len(first.eval) == 400
    assert 0.15 < len(first.eval) / 400 < 0.35


def test_a_customer_lands_on_the_same_side_of_the_split_in_every_data_version():
    small = prepare([_file(rows=400)], CONTRACT, 0.25, 7)
    large = prepare([_file(rows=400), _file("churn/b.csv", rows=400, seed=9)], CONTRACT, 0.25, 7)
    assert set(small.eval["customer_id"]) <= set(large.eval["customer_id"])
    assert not set(large.train["customer_id"]) & set(large.eval["customer_id"])


def test_valid_data_is_written_under_its_content_addressed_version():
    lake = FakeDataLake()
    lake.put("raw", "churn/2025/a.csv", _file().data)
    result = run_ingest(lake, POLICY, CONTRACT, "run-1", [BlobRef(container="raw", path="churn/2025/a.csv")])
    assert result.status == "accepted"
    dv = result.data_version
    assert lake.paths("training") == [
        f"churn/{dv}/eval/part-000.parquet",
        f"churn/{dv}/manifest.json",
        f"churn/{dv}/train/part-000.parquet",
    ]
    assert lake.paths("features") == [f"churn/{dv}/features.parquet"]
    assert result.rows_in == result.rows_out == 400 == result.train_rows + result.eval_rows
    assert result.train_uri.endswith(f"/training/churn/{dv}/train/")
    manifest = json.loads(lake.read("training", f"churn/{dv}/manifest.json"))
    assert manifest["sources"][0]["path"] == "churn/2025/a.csv"
    assert lake.paths("quarantine") == []


def test_ingesting_the_same_data_again_writes_nothing_new():
    lake = FakeDataLake()
    lake.put("raw", "churn/a.csv", _file().data)
    first = run_ingest(lake, POLICY, CONTRACT, "run-1", [BlobRef(container="raw", path="churn/a.csv")])
    writes = len(lake.writes)
    second = run_ingest(lake, POLICY, CONTRACT, "run-2", [BlobRef(container="raw", path="churn/a.csv")])
    assert second.data_version == first.data_version
    assert len(lake.writes) == writes


def test_malformed_data_goes_to_quarantine_with_a_report_and_nothing_else_is_written():
    lake = FakeDataLake()
    bad = corrupt(generate(400, 3), "out_of_range", seed=3)
    lake.put("raw", "churn/bad.csv", to_csv_bytes(bad))
    result = run_ingest(lake, POLICY, CONTRACT, "run-7", [BlobRef(container="raw", path="churn/bad.csv")])
    assert result.status == "rejected"
    assert lake.paths("training") == [] and lake.paths("features") == []
    assert lake.paths("quarantine") == ["churn/run-7/bad.csv", "churn/run-7/report.json"]
    report = json.loads(lake.read("quarantine", "churn/run-7/report.json"))
    rules = {r["rule"]: r for r in report["files"][0]["report"]["results"] if not r["passed"]}
    bad_rows = [i for i in range(400) if bad.iat[i, bad.columns.get_loc("age")] not in range(18, 91)]
    assert rules["age.range"]["failing_rows"] == bad_rows[:20]
    assert any("age.range" in line for line in result.failures)
    assert result.report_uri.endswith("/quarantine/churn/run-7/report.json")


def test_a_file_that_is_not_csv_is_rejected_as_unreadable():
    lake = FakeDataLake()
    lake.put("raw", "churn/x.csv", b"\x00\x01\x02" * 10 + b'"unterminated\n')
    result = run_ingest(lake, POLICY, CONTRACT, "run-8", [BlobRef(container="raw", path="churn/x.csv")])
    assert result.status == "rejected"


def test_without_named_blobs_every_csv_under_the_policy_prefix_is_ingested():
    lake = FakeDataLake()
    lake.put("raw", "churn/a.csv", _file(seed=1).data)
    lake.put("raw", "churn/b.csv", _file(seed=2).data)
    lake.put("raw", "churn/notes.txt", b"ignore me")
    lake.put("raw", "other/c.csv", _file(seed=3).data)
    result = run_ingest(lake, POLICY, CONTRACT, "run-9")
    assert result.status == "accepted"
    assert [s.path for s in result.sources] == ["churn/a.csv", "churn/b.csv"]
    assert result.rows_out == 800


def test_written_parquet_reads_back_as_the_typed_frame():
    lake = FakeDataLake()
    lake.put("raw", "churn/a.csv", _file().data)
    result = run_ingest(lake, POLICY, CONTRACT, "run-1", [BlobRef(container="raw", path="churn/a.csv")])
    import io

    frame = pd.read_parquet(
        io.BytesIO(lake.read("training", f"churn/{result.data_version}/eval/part-000.parquet"))
    )
    assert list(frame.columns) == CONTRACT.column_names
    assert len(frame) == result.eval_rows


# --------------------------------------------------------------------------- non-data objects and paths


def _land_batch_with_markers(lake: FakeDataLake) -> list[BlobRef]:
    """What ADLS Gen2, ADF and Spark leave next to the data: a 0-byte folder placeholder with
    hdi_isfolder=true, a `_SUCCESS` marker and an empty file."""
    lake.put("raw", "churn/2025/a.csv", _file(seed=1).data)
    lake.write("raw", "churn/2025", b"", overwrite=True, metadata={"hdi_isfolder": "true"})
    lake.put("raw", "churn/2025/_SUCCESS", b"")
    lake.put("raw", "churn/2025/empty.csv", b"")
    return [
        BlobRef(container="raw", path=p)
        for p in ("churn/2025", "churn/2025/_SUCCESS", "churn/2025/a.csv", "churn/2025/empty.csv")
    ]


def test_folder_placeholders_success_markers_and_empty_blobs_named_by_events_are_skipped():
    lake = FakeDataLake()
    refs = _land_batch_with_markers(lake)
    result = run_ingest(lake, POLICY, CONTRACT, "run-10", refs)
    assert result.status == "accepted", result.failures
    assert [s.path for s in result.sources] == ["churn/2025/a.csv"]
    manifest = json.loads(lake.read("training", f"churn/{result.data_version}/manifest.json"))
    assert sorted(i["path"] for i in manifest["ignored"]) == [
        "churn/2025",
        "churn/2025/_SUCCESS",
        "churn/2025/empty.csv",
    ]
    assert lake.paths("quarantine") == []


def test_folder_placeholders_and_markers_under_the_prefix_are_skipped_when_listing():
    lake = FakeDataLake()
    _land_batch_with_markers(lake)
    result = run_ingest(lake, POLICY, CONTRACT, "run-11")
    assert result.status == "accepted", result.failures
    assert [s.path for s in result.sources] == ["churn/2025/a.csv"]


def test_skipping_non_data_does_not_change_the_data_version():
    plain, marked = FakeDataLake(), FakeDataLake()
    plain.put("raw", "churn/2025/a.csv", _file(seed=1).data)
    refs = _land_batch_with_markers(marked)
    one = run_ingest(plain, POLICY, CONTRACT, "r", [BlobRef(container="raw", path="churn/2025/a.csv")])
    two = run_ingest(marked, POLICY, CONTRACT, "r", refs)
    assert one.data_version == two.data_version


def test_a_named_blob_outside_the_policys_container_or_with_dot_segments_is_refused_and_not_read():
    lake = FakeDataLake()
    lake.put("training", "churn/dv-1/train/part-000.parquet", b"secret")
    lake.put("raw", "churn/a.csv", _file().data)
    refs = [
        BlobRef(container="raw", path="churn/a.csv"),
        BlobRef(container="raw", path="churn/../../training/churn/dv-1/train/part-000.parquet"),
        BlobRef(container="training", path="churn/dv-1/train/part-000.parquet"),
    ]
    result = run_ingest(lake, POLICY, CONTRACT, "run-12", refs)
    assert result.status == "rejected"
    assert sum("outside" in line for line in result.failures) == 2
    assert all(p.startswith("churn/run-12/") for p in lake.paths("quarantine"))
    assert b"secret" not in b"".join(lake.read("quarantine", p) for p in lake.paths("quarantine"))


@pytest.mark.parametrize("name", ["churn/..", "churn/x/..", "churn/.", "churn/"])
def test_quarantine_names_stay_inside_the_runs_folder(name):
    from core.kernel.datafiles import quarantine_name

    for index in range(2):
        target = quarantine_name(name, index, "ab" * 32)
        assert "/" not in target and target not in ("", ".", "..")


def test_two_bad_files_with_one_name_in_different_folders_both_reach_quarantine():
    lake = FakeDataLake()
    bad = to_csv_bytes(corrupt(generate(400, 3), "out_of_range", seed=3))
    lake.put("raw", "churn/eu/bad.csv", bad)
    lake.put("raw", "churn/us/bad.csv", bad + b"\n")
    refs = [
        BlobRef(container="raw", path="churn/eu/bad.csv"),
        BlobRef(container="raw", path="churn/us/bad.csv"),
    ]
    result = run_ingest(lake, POLICY, CONTRACT, "run-13", refs)
    assert result.status == "rejected"
    assert len([p for p in lake.paths("quarantine") if p.endswith(".csv")]) == 2
