"""Lifecycle activities with fakes behind the ports: payload in, one port call, payload out."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

import wiring as bootstrap
from activities import lifecycle as act
from core.facts import StepEntered, read_fact
from core.payloads.lifecycle import (
    BlobRef,
    EvaluationInput,
    EvaluationResult,
    IngestInput,
    IngestResult,
    JobResult,
    LifecycleInput,
    RecordInput,
    RegisterInput,
    RegisterResult,
    StartInput,
    StartResult,
    SubmitJobInput,
)
from core.policy import load_policy
from core.settings import Settings
from samples.churn.data import generate, to_csv_bytes
from tests.fakes import FakeAdapters, evaluation_metrics

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2025, 3, 1, tzinfo=UTC)


def _call(fn, payload: dict) -> dict:
    """Call an activity's user function, as the worker does (the decorator returns a FunctionBuilder)."""
    return fn._function._func(payload)


@pytest.fixture
def fakes(tmp_path):
    f = FakeAdapters()
    policy = load_policy(ROOT / "samples" / "churn" / "policy.yaml")
    with bootstrap.override(
        settings=Settings(local_state_dir=tmp_path / "state"),
        policies={"churn": policy},
        code_version="c0ffee",
        **f.as_overrides(),
    ):
        yield f


def test_start_snapshots_the_policy_and_opens_the_ledger_record_once(fakes):
    payload = StartInput(
        run_id="r1", trigger=LifecycleInput(model="churn", request_ids=["q1"]), started_at=T0
    ).dump()
    plan = StartResult.model_validate(_call(act.lifecycle_start, payload))
    assert plan.policy_hash.startswith("sha256:") and plan.code_version == "c0ffee"
    assert plan.policy.evaluation.metric == "auc"
    fakes.ledger.update_run("r1", stage="train")
    _call(act.lifecycle_start, payload)  # a replayed start keeps the record as it is
    record = fakes.ledger.get_run("r1")
    assert record.stage == "train" and record.trigger["request_ids"] == ["q1"]
    assert record.lineage == {"policy_hash": plan.policy_hash, "code_version": "c0ffee"}


def test_ingest_returns_the_data_version_and_where_it_wrote(fakes):
    fakes.data_lake.put("raw", "churn/a.csv", to_csv_bytes(generate(300, 1)))
    out = IngestResult.model_validate(
        _call(
            act.lifecycle_ingest,
            IngestInput(
                run_id="r1", model="churn", blobs=[BlobRef(container="raw", path="churn/a.csv")]
            ).dump(),
        )
    )
    assert out.status == "accepted" and out.rows_out == 300
    assert out.train_ref.path == f"churn/{out.data_version}/train/"


def test_submit_stages_data_inputs_locally_and_uses_the_policys_job_yaml(fakes, tmp_path):
    fakes.data_lake.put("training", "churn/dv-1/train/part-000.parquet", b"PAR1")
    job = SubmitJobInput(
        run_id="r1", model="churn", kind="train", job_name="churn-train-r1",
        data_inputs={"train_data": BlobRef(container="training", path="churn/dv-1/train/")}, tags={"stage": "train"},
    )  # fmt: skip
    out = JobResult.model_validate(_call(act.lifecycle_submit_job, job.dump()))
    submitted = fakes.training_jobs.jobs["churn-train-r1"]
    assert out.name == "churn-train-r1" and not out.done
    assert submitted.job_yaml == ROOT / "samples" / "churn" / "jobs" / "train.yml"
    staged = Path(submitted.inputs["train_data"])
    assert (staged / "part-000.parquet").read_bytes() == b"PAR1"
    assert staged.is_relative_to(tmp_path / "state")


def test_evaluation_result_reads_the_jobs_metrics_and_decides(fakes):
    fakes.training_jobs.polls_to_finish = 0
    fakes.training_jobs.on_submit = lambda job: job.files.update(metrics=evaluation_metrics(0.83, 0.80))
    fakes.training_jobs.submit(Path("e.yml"), name="ev1", inputs={}, experiment="x", tags={})
    out = EvaluationResult.model_validate(
        _call(
            act.lifecycle_evaluation_result,
            EvaluationInput(run_id="r1", model="churn", job_name="ev1", champion_version="3").dump(),
        )
    )
    assert out.decision.verdict == "promote"
    assert out.decision.abs_gain == pytest.approx(0.03)
    assert out.champion_metrics == {"auc": 0.80, "n": 100.0}


def test_register_is_idempotent_on_the_lifecycle_id(fakes):
    payload = RegisterInput(
        run_id="r1", model="churn", source_uri="file:///m", tags={"lifecycle_id": "r1"}
    ).dump()
    first = RegisterResult.model_validate(_call(act.lifecycle_register, payload))
    again = RegisterResult.model_validate(_call(act.lifecycle_register, payload))
    assert first.version == again.version == "1"
    assert len(fakes.registry.versions("churn")) == 1


def test_record_updates_the_run_and_appends_the_fact(fakes):
    _call(
        act.lifecycle_start,
        StartInput(run_id="r1", trigger=LifecycleInput(model="churn"), started_at=T0).dump(),
    )
    _call(
        act.lifecycle_record,
        RecordInput(
            run_id="r1", stage="train", job_name="j", fact=StepEntered(stage="train", job="j")
        ).dump(),
    )
    assert fakes.ledger.get_run("r1").job_name == "j"
    [entry] = fakes.ledger.entries("r1", "step")
    assert read_fact(entry.data) == StepEntered(stage="train", job="j")
