"""Lifecycle activities with fakes behind the ports: payload in, one port call, payload out."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import wiring
from core.intake.payloads import LifecycleInput
from core.kernel.activity import Activity
from core.kernel.payload import BlobRef
from core.kernel.policy import PolicyDirectory
from core.kernel.settings import Settings
from core.run.facts import StepEntered, read_fact
from core.run.payloads import RECORD, START, RecordInput, StartInput, StartResult
from core.training.payloads import (
    EVALUATION_RESULT,
    INGEST,
    REGISTER,
    SUBMIT_JOB,
    EvaluationInput,
    EvaluationResult,
    IngestInput,
    IngestResult,
    JobResult,
    RegisterInput,
    RegisterResult,
    SubmitJobInput,
)
from samples.churn.data import generate, to_csv_bytes
from tests.activities.worker import call_activity
from tests.fakes import FakeAdapters, evaluation_metrics

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2025, 3, 1, tzinfo=UTC)


def _call(ref: Activity[Any, Any], payload: dict) -> dict:
    """Call an activity as the worker does: JSON in, JSON out."""
    return call_activity(ref, payload)


@pytest.fixture
def policy_file(tmp_path) -> Path:
    """A copy of the churn sample's policy folder: the live policy, which a test may edit."""
    shutil.copytree(ROOT / "samples" / "churn", tmp_path / "policies" / "churn")
    return tmp_path / "policies" / "churn" / "policy.yaml"


@pytest.fixture
def fakes(tmp_path, policy_file):
    f = FakeAdapters()
    settings = Settings(local_state_dir=tmp_path / "state", policy_dir=policy_file.parent.parent)
    with wiring.override(
        settings=settings,
        policies=PolicyDirectory(settings.policy_dir),
        code_version="c0ffee",
        **f.as_overrides(),
    ):
        yield f


def _start(run_id: str = "r1") -> StartResult:
    payload = StartInput(run_id=run_id, trigger=LifecycleInput(model="churn"), started_at=T0).dump()
    return StartResult.model_validate(_call(START, payload))


def _edit(policy_file: Path, old: str, new: str) -> None:
    text = policy_file.read_text()
    assert old in text
    policy_file.write_text(text.replace(old, new))


def test_start_snapshots_the_policy_and_opens_the_ledger_record_once(fakes):
    payload = StartInput(
        run_id="r1", trigger=LifecycleInput(model="churn", request_ids=["q1"]), started_at=T0
    ).dump()
    plan = StartResult.model_validate(_call(START, payload))
    assert plan.policy_hash.startswith("sha256:") and plan.code_version == "c0ffee"
    assert plan.policy.evaluation.metric == "auc"
    fakes.ledger.update_run("r1", stage="train")
    _call(START, payload)  # a replayed start keeps the record as it is
    record = fakes.ledger.get_run("r1")
    assert record.stage == "train" and record.trigger["request_ids"] == ["q1"]
    assert record.lineage["policy_hash"] == plan.policy_hash and record.lineage["code_version"] == "c0ffee"
    assert record.lineage["rules"]["policy"] == plan.policy.model_dump(mode="json")
    assert record.lineage["rules"]["contract"]["label"] == "churned"


def test_ingest_returns_the_data_version_and_where_it_wrote(fakes):
    _start()
    fakes.data_lake.put("raw", "churn/a.csv", to_csv_bytes(generate(300, 1)))
    out = IngestResult.model_validate(
        _call(
            INGEST,
            IngestInput(
                run_id="r1", model="churn", blobs=[BlobRef(container="raw", path="churn/a.csv")]
            ).dump(),
        )
    )
    assert out.status == "accepted" and out.rows_out == 300
    assert out.train_ref.path == f"churn/{out.data_version}/train/"


def test_submit_stages_data_inputs_locally_and_uses_the_policys_job_yaml(fakes, tmp_path, policy_file):
    _start()
    fakes.data_lake.put("training", "churn/dv-1/train/part-000.parquet", b"PAR1")
    job = SubmitJobInput(
        run_id="r1", model="churn", kind="train", job_name="churn-train-r1",
        data_inputs={"train_data": BlobRef(container="training", path="churn/dv-1/train/")}, tags={"stage": "train"},
    )  # fmt: skip
    out = JobResult.model_validate(_call(SUBMIT_JOB, job.dump()))
    submitted = fakes.training_jobs.jobs["churn-train-r1"]
    assert out.name == "churn-train-r1" and not out.done
    assert submitted.job_yaml == policy_file.parent / "jobs" / "train.yml"
    assert submitted.experiment == "churn-lifecycle" and submitted.compute == "gpu-cluster"
    staged = Path(submitted.inputs["train_data"])
    assert (staged / "part-000.parquet").read_bytes() == b"PAR1"
    assert staged.is_relative_to(tmp_path / "state")


def test_evaluation_result_reads_the_jobs_metrics_and_decides(fakes):
    _start()
    fakes.training_jobs.polls_to_finish = 0
    fakes.training_jobs.on_submit = lambda job: job.files.update(metrics=evaluation_metrics(0.83, 0.80))
    fakes.training_jobs.submit(Path("e.yml"), name="ev1", inputs={}, experiment="x", tags={})
    out = EvaluationResult.model_validate(
        _call(
            EVALUATION_RESULT,
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
    first = RegisterResult.model_validate(_call(REGISTER, payload))
    again = RegisterResult.model_validate(_call(REGISTER, payload))
    assert first.version == again.version == "1"
    assert len(fakes.registry.versions("churn")) == 1


def test_record_updates_the_run_and_appends_the_fact(fakes):
    _call(
        START,
        StartInput(run_id="r1", trigger=LifecycleInput(model="churn"), started_at=T0).dump(),
    )
    _call(
        RECORD,
        RecordInput(
            run_id="r1", stage="train", job_name="j", fact=StepEntered(stage="train", job="j")
        ).dump(),
    )
    assert fakes.ledger.get_run("r1").job_name == "j"
    [entry] = fakes.ledger.entries("r1", "step")
    assert read_fact(entry.data) == StepEntered(stage="train", job="j")


def test_a_run_keeps_the_rules_it_started_with_when_the_policy_file_is_edited_mid_run(fakes, policy_file):
    fakes.training_jobs.polls_to_finish = 0
    fakes.training_jobs.on_submit = lambda job: job.files.update(metrics=evaluation_metrics(0.83, 0.80))
    fakes.data_lake.put("training", "churn/dv-1/eval/part-000.parquet", b"PAR1")
    started = _start("r1")
    _edit(policy_file, "min_abs_gain: 0.02", "min_abs_gain: 0.05")
    _edit(policy_file, "experiment: churn-lifecycle", "experiment: edited")
    eval_ref = {"eval_data": BlobRef(container="training", path="churn/dv-1/eval/")}
    for run_id in ("r1", "r2"):
        if run_id == "r2":
            assert _start("r2").policy_hash != started.policy_hash  # a new run follows the edit
        job = SubmitJobInput(
            run_id=run_id, model="churn", kind="evaluate", job_name=f"ev-{run_id}", data_inputs=eval_ref
        )
        _call(SUBMIT_JOB, job.dump())
    r1 = EvaluationResult.model_validate(
        _call(
            EVALUATION_RESULT,
            EvaluationInput(run_id="r1", model="churn", job_name="ev-r1", champion_version="3").dump(),
        )
    )
    r2 = EvaluationResult.model_validate(
        _call(EVALUATION_RESULT, EvaluationInput(run_id="r2", model="churn", job_name="ev-r2", champion_version="3").dump())
    )  # fmt: skip
    assert r1.decision.verdict == "promote" and r1.decision.min_abs_gain == 0.02  # gain 0.03 >= 0.02
    assert r2.decision.verdict == "keep" and r2.decision.min_abs_gain == 0.05
    assert fakes.training_jobs.jobs["ev-r1"].experiment == "churn-lifecycle"
    assert fakes.training_jobs.jobs["ev-r2"].experiment == "edited"


def test_a_step_of_a_run_with_no_recorded_rules_fails_with_what_to_do(fakes):
    job = SubmitJobInput(run_id="never-started", model="churn", kind="train", job_name="j")
    with pytest.raises(LookupError, match="lifecycle_start opens it"):
        _call(SUBMIT_JOB, job.dump())
