"""Ingestion by a Data Factory pipeline, the pure and lake-facing parts: what the pipeline is asked for,
under which data version, and what of its output reaches training."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from core.kernel.contract import load_contract
from core.kernel.datafiles import IngestResult, read_csv, to_parquet, typed_frame
from core.kernel.payload import BlobRef
from core.kernel.policy import _OPTIONAL_SECTIONS as OPTIONAL_SECTIONS
from core.kernel.policy import DataFactoryIngestion, PolicyError, load_policy, policy_hash
from core.kernel.ports import PipelineRun
from core.training.ingest import run_ingest
from core.training.pipeline_ingest import (
    PipelinePlan,
    check_pipeline_output,
    pipeline_data_version,
    plan_pipeline_run,
    run_outcome,
)
from samples.churn.data import generate, to_csv_bytes
from tests.fakes import FakeDataLake

ROOT = Path(__file__).resolve().parents[3]
IN_APP = load_policy(ROOT / "samples" / "churn" / "policy.yaml")
POLICY = IN_APP.model_copy(
    update={
        "data": IN_APP.data.model_copy(
            update={"data_factory": DataFactoryIngestion(pipeline="raw-to-features")}
        )
    }
)
CONTRACT = load_contract(ROOT / "samples" / "churn" / "contract.yaml")
SUCCEEDED = PipelineRun(run_id="adf-1", pipeline="raw-to-features", state="succeeded")


def _lake_with(*paths: str) -> FakeDataLake:
    lake = FakeDataLake()
    for seed, path in enumerate(paths, start=1):
        lake.put("raw", path, to_csv_bytes(generate(400, seed)))
    return lake


def _pipeline_writes(lake: FakeDataLake, plan: PipelinePlan, frame: pd.DataFrame) -> None:
    lake.write("features", f"{plan.parameters['featuresFolder']}/part-0.parquet", to_parquet(frame))


def test_the_data_version_names_the_inputs_by_etag_and_ignores_their_order():
    a = BlobRef(container="raw", path="churn/a.csv", etag='"1"')
    b = BlobRef(container="raw", path="churn/b.csv", etag='"2"')
    v = pipeline_data_version([a, b], CONTRACT, POLICY)
    assert v == pipeline_data_version([b, a], CONTRACT, POLICY)
    assert v != pipeline_data_version([a, b.model_copy(update={"etag": '"3"'})], CONTRACT, POLICY)
    other = POLICY.model_copy(
        update={
            "data": POLICY.data.model_copy(update={"data_factory": DataFactoryIngestion(pipeline="other")})
        }
    )
    assert v != pipeline_data_version([a, b], CONTRACT, other)


def test_the_plan_names_every_data_blob_under_the_prefix_when_the_trigger_names_none():
    lake = _lake_with("churn/a.csv", "churn/b.csv")
    lake.put("raw", "churn/_SUCCESS", b"")
    plan = plan_pipeline_run(lake, POLICY, CONTRACT, "run-1")
    assert isinstance(plan, PipelinePlan)
    assert plan.parameters["sourcePaths"] == ["churn/a.csv", "churn/b.csv"]
    assert all(s.etag for s in plan.sources)


def test_a_blob_outside_the_policys_container_is_refused_before_any_pipeline_runs():
    lake = _lake_with("churn/a.csv")
    plan = plan_pipeline_run(lake, POLICY, CONTRACT, "run-1", [BlobRef(container="secrets", path="x.csv")])
    assert isinstance(plan, IngestResult) and plan.status == "rejected"
    assert "outside the policy's container" in plan.failures[0]


def test_valid_pipeline_output_is_split_like_in_app_ingestion_with_a_manifest_naming_the_run():
    lake = _lake_with("churn/a.csv")
    plan = plan_pipeline_run(lake, POLICY, CONTRACT, "run-1")
    assert isinstance(plan, PipelinePlan)
    frame = typed_frame(read_csv(lake.read("raw", "churn/a.csv")), CONTRACT)
    _pipeline_writes(lake, plan, frame)
    result = check_pipeline_output(
        lake, POLICY, CONTRACT, "run-1", SUCCEEDED, plan.data_version, plan.sources
    )
    assert result.status == "accepted" and result.rows_out == 400

    in_app = run_ingest(_lake_with("churn/a.csv"), IN_APP, CONTRACT, "run-2")
    assert (result.train_rows, result.eval_rows) == (in_app.train_rows, in_app.eval_rows)  # one split rule
    base = f"churn/{plan.data_version}"
    assert result.train_ref == BlobRef(container="training", path=f"{base}/train/")
    manifest = json.loads(lake.read("training", f"{base}/manifest.json"))
    assert manifest["prepared_by"]["run_id"] == "adf-1" and manifest["rows"]["train"] == result.train_rows


def test_pipeline_output_missing_a_contract_column_is_rejected_and_reported_in_quarantine():
    lake = _lake_with("churn/a.csv")
    plan = plan_pipeline_run(lake, POLICY, CONTRACT, "run-1")
    assert isinstance(plan, PipelinePlan)
    frame = typed_frame(read_csv(lake.read("raw", "churn/a.csv")), CONTRACT).drop(columns=["age"])
    _pipeline_writes(lake, plan, frame)
    result = check_pipeline_output(
        lake, POLICY, CONTRACT, "run-1", SUCCEEDED, plan.data_version, plan.sources
    )
    assert result.status == "rejected"
    assert any("missing column(s): age" in f for f in result.failures)
    assert lake.list("training") == []
    report = json.loads(lake.read("quarantine", "churn/run-1/report.json"))
    assert report["verdict"] == "rejected"


def test_a_pipeline_that_wrote_nothing_or_garbage_feeds_nothing_to_training():
    lake = _lake_with("churn/a.csv")
    plan = plan_pipeline_run(lake, POLICY, CONTRACT, "run-1")
    assert isinstance(plan, PipelinePlan)
    nothing = check_pipeline_output(
        lake, POLICY, CONTRACT, "run-1", SUCCEEDED, plan.data_version, plan.sources
    )
    assert nothing.status == "rejected" and "wrote no Parquet" in nothing.failures[0]
    lake.write("features", f"{plan.parameters['featuresFolder']}/part-0.parquet", b"not parquet")
    garbage = check_pipeline_output(
        lake, POLICY, CONTRACT, "run-1", SUCCEEDED, plan.data_version, plan.sources
    )
    assert garbage.status == "rejected" and "not a readable Parquet file" in garbage.failures[0]


def test_a_failed_run_is_explained_in_data_factorys_words():
    failed = PipelineRun(
        run_id="adf-9", pipeline="raw-to-features", state="failed", message="ErrorCode=2200 boom"
    )
    assert run_outcome(failed) == [
        "Data Factory pipeline raw-to-features run adf-9 ended failed: ErrorCode=2200 boom"
    ]
    assert run_outcome(SUCCEEDED) == []


def test_a_policy_names_a_valid_pipeline_and_one_without_the_section_hashes_as_before_it_existed():
    with pytest.raises(PolicyError):
        load_policy_text("data:\n  data_factory: {pipeline: 'bad/name'}\n")
    dumped = IN_APP.model_dump(mode="json")
    del dumped["data"]["data_factory"]
    dumped = {k: v for k, v in dumped.items() if not (k in OPTIONAL_SECTIONS and v is None)}
    import hashlib

    expected = (
        "sha256:"
        + hashlib.sha256(json.dumps(dumped, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    )
    assert policy_hash(IN_APP) == expected
    assert policy_hash(POLICY) != expected


def load_policy_text(extra: str, tmp: Path | None = None):
    """The sample policy with `extra` merged into its data section, loaded from a file."""
    import tempfile

    import yaml

    base = yaml.safe_load((ROOT / "samples" / "churn" / "policy.yaml").read_text())
    base["data"].update(yaml.safe_load(extra)["data"])
    base["data"]["contract"] = str(ROOT / "samples" / "churn" / "contract.yaml")
    base["training"]["job"] = str(ROOT / "samples" / "churn" / "jobs" / "train.yml")
    base["training"]["evaluation_job"] = str(ROOT / "samples" / "churn" / "jobs" / "evaluate.yml")
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "policy.yaml"
        path.write_text(yaml.safe_dump(base))
        return load_policy(path)


def test_parquet_the_pipeline_writes_keeps_its_types():
    frame = typed_frame(read_csv(to_csv_bytes(generate(50, 3))), CONTRACT)
    back = pd.read_parquet(io.BytesIO(to_parquet(frame)))
    assert back["age"].dtype == "int64"
