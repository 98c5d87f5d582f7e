"""A lifecycle whose policy ingests with a Data Factory pipeline, run for real on devhost's durable
engine with fakes behind every port (tests/fakes.py FakeDataPipelines plays Data Factory)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import wiring
from core.kernel.datafiles import to_parquet
from core.kernel.policy import DataFactoryIngestion
from core.run.facts import read_fact
from devhost.durable.engine import DurableEngine
from tests.orchestrators.test_lifecycle import World, _good, lifecycle, run

PIPELINE = "raw-to-features"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    adf = DataFactoryIngestion(
        pipeline=PIPELINE, parameters={"env": "dev"}, poll_seconds=5, deadline_seconds=300
    )
    w.policy = w.policy.model_copy(update={"data": w.policy.data.model_copy(update={"data_factory": adf})})
    with wiring.override(
        settings=w.settings, policies={"churn": w.policy}, code_version="abc123", **w.fakes.as_overrides()
    ):
        yield w


def _rejection(world: World) -> list[str]:
    facts = [read_fact(e.data) for e in world.fakes.ledger.entries("run-1")]
    rejected = [f for f in facts if f is not None and f.kind == "data_rejected"]
    assert len(rejected) == 1
    return rejected[0].failures


def test_the_pipeline_prepares_the_data_and_training_reads_it_where_in_app_ingestion_writes_it(
    world, tmp_path
):
    status = run(tmp_path, lifecycle(_good(world)))
    assert status["runtimeStatus"] == "Completed", status
    out = status["output"]
    assert out["status"] == "registered"
    dv = out["data_version"]

    (pipeline, params), *_ = world.fakes.data_pipelines.starts
    assert pipeline == PIPELINE
    assert params["runId"] == "run-1" and params["dataVersion"] == dv and params["env"] == "dev"
    assert params["sourcePaths"] == ["churn/2025/a.csv"] and params["featuresFolder"] == f"churn/{dv}"
    lake = world.fakes.data_lake
    assert lake.exists("training", f"churn/{dv}/train/part-000.parquet")
    assert lake.exists("training", f"churn/{dv}/eval/part-000.parquet")
    train = next(j for j in world.fakes.training_jobs.jobs.values() if j.tags["stage"] == "train")
    assert train.tags["data_version"] == dv
    assert world.fakes.registry.get("churn", "1").tags["data_version"] == dv
    rows = pd.read_parquet(io.BytesIO(lake.read("training", f"churn/{dv}/train/part-000.parquet")))
    assert (
        len(rows)
        + len(pd.read_parquet(io.BytesIO(lake.read("training", f"churn/{dv}/eval/part-000.parquet"))))
        == 400
    )


def test_the_lifecycle_waits_for_the_pipeline_on_durable_timers_and_polls_until_it_is_done(world, tmp_path):
    world.fakes.data_pipelines.polls_to_finish = 4
    status = run(tmp_path, lifecycle(_good(world)))
    assert status["output"]["status"] == "registered"
    assert world.fakes.data_pipelines.polls == {"adf-0001": 4}
    assert status["customStatus"]["pipeline_run"] == "adf-0001"
    assert status["customStatus"]["pipeline_state"] == "succeeded"


def test_a_failed_pipeline_run_rejects_the_lifecycle_with_data_factorys_own_error_text(world, tmp_path):
    world.fakes.data_pipelines.final_state = "failed"
    world.fakes.data_pipelines.message = (
        "Operation on target CopyRawToFeatures failed: ErrorCode=UserErrorSourceBlobNotExists"
    )
    status = run(tmp_path, lifecycle(_good(world)))
    out = status["output"]
    assert (out["status"], out["stage"]) == ("rejected", "ingest")
    assert "ErrorCode=UserErrorSourceBlobNotExists" in out["reasons"][0]
    assert f"{PIPELINE} run adf-0001 ended failed" in _rejection(world)[0]
    assert world.fakes.training_jobs.jobs == {}


def test_a_cancelled_pipeline_run_rejects_the_lifecycle(world, tmp_path):
    world.fakes.data_pipelines.final_state = "canceled"
    world.fakes.data_pipelines.message = "Pipeline run cancelled by user@contoso.com"
    status = run(tmp_path, lifecycle(_good(world)))
    assert status["output"]["status"] == "rejected"
    assert "ended canceled: Pipeline run cancelled by user@contoso.com" in status["output"]["reasons"][0]


def test_a_pipeline_that_writes_data_breaking_the_contract_feeds_nothing_to_training(world, tmp_path):
    def bad_body(params: dict) -> None:
        world.fakes.data_pipelines.copy_raw_to_features(params)
        folder = params["featuresFolder"]
        frame = pd.read_parquet(
            io.BytesIO(world.fakes.data_lake.read("features", f"{folder}/part-00000.parquet"))
        )
        frame["age"] = 7  # below the contract's minimum of 18
        world.fakes.data_lake.write(
            "features", f"{folder}/part-00000.parquet", to_parquet(frame), overwrite=True
        )

    world.fakes.data_pipelines.body = bad_body
    status = run(tmp_path, lifecycle(_good(world)))
    out = status["output"]
    assert (out["status"], out["stage"]) == ("rejected", "ingest")
    assert any("age.range" in line for line in _rejection(world))
    assert world.fakes.training_jobs.jobs == {}
    assert not [w for w in world.fakes.data_lake.list("training", "churn/")]
    assert world.fakes.data_lake.exists("quarantine", "churn/run-1/report.json")


def test_a_pipeline_past_its_deadline_is_cancelled_and_the_run_rejected(world, tmp_path):
    world.fakes.data_pipelines.polls_to_finish = 10_000
    status = run(tmp_path, lifecycle(_good(world)))
    out = status["output"]
    assert out["status"] == "rejected"
    assert "did not finish within data.data_factory.deadline_seconds=300" in out["reasons"][0]
    assert world.fakes.data_pipelines.cancelled == ["adf-0001"]


@pytest.mark.parametrize("world", [86_400], indirect=True)  # a day: the deadline cannot beat the abort
def test_an_abort_while_the_pipeline_runs_cancels_the_pipeline_run_and_ends_the_run_aborted(world, tmp_path):
    world.fakes.data_pipelines.polls_to_finish = 10_000

    async def scenario(engine: DurableEngine) -> dict:
        await engine.start_new("lifecycle", instance_id="run-1", input=_good(world).dump())
        for _ in range(200):
            if world.fakes.data_pipelines.runs:
                break
            await asyncio.sleep(0.05)
        await engine.raise_event("run-1", "abort", {"by": "operator", "reason": "wrong files"})
        return await engine.wait_for("run-1", 20)

    status = run(tmp_path, scenario)
    assert (status["output"]["status"], status["output"]["stage"]) == ("aborted", "ingest")
    assert world.fakes.data_pipelines.cancelled == ["adf-0001"]
    assert world.fakes.training_jobs.jobs == {}
