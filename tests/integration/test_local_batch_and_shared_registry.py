"""LocalBatchEndpoints and MlflowSharedRegistry with real MLflow models: batch deployments and a
default on disk, scoring in a subprocess with the registered model, and a shared registry that
holds the exact artifact dev evaluated."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest

from adapters.local.batch_endpoints import LocalBatchEndpoints
from adapters.local.registry import MlflowModelRegistry
from adapters.local.shared_registry import MlflowSharedRegistry
from core.batch.rules import batch_deployment_name, choose_default, deployments_to_prune, judge_smoke
from core.batch.runs import parse_predictions
from core.kernel.ports import BatchDefaultError, BatchEndpoints, BatchJobStatus, ModelRegistryShare
from samples.churn import data
from samples.churn.features import to_features

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _train(folder: Path, seed: int, rounds: int) -> Path:
    import mlflow.xgboost
    import xgboost as xgb

    from samples.churn.features import labels

    frame = data.generate(rows=300, seed=seed)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 2},
        xgb.DMatrix(to_features(frame), label=labels(frame)),
        rounds,
    )
    mlflow.xgboost.save_model(
        booster, str(folder), input_example=to_features(frame).head(3), pip_requirements=["xgboost"]
    )
    return folder


@pytest.fixture(scope="module")
def model_folders(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two small real churn models in MLflow format, as two training jobs would output."""
    root = tmp_path_factory.mktemp("job-outputs")
    return [_train(root / "m1", seed=3, rounds=3), _train(root / "m2", seed=4, rounds=8)]


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowModelRegistry(f"sqlite:///{path}").versions("warm-up")
    return path


@pytest.fixture
def dev(empty_db: Path, tmp_path: Path, model_folders: list[Path]) -> MlflowModelRegistry:
    shutil.copyfile(empty_db, tmp_path / "dev.db")
    registry = MlflowModelRegistry(f"sqlite:///{tmp_path / 'dev.db'}")
    for i, folder in enumerate(model_folders, start=1):
        registry.register("churn", str(folder), {"lifecycle_id": f"lc-{i}", "data_version": f"dv-{i}"})
    return registry


@pytest.fixture
def shared(empty_db: Path, tmp_path: Path, dev: MlflowModelRegistry) -> MlflowSharedRegistry:
    shutil.copyfile(empty_db, tmp_path / "shared.db")
    return MlflowSharedRegistry("shared-ml", f"sqlite:///{tmp_path / 'shared.db'}", dev)


@pytest.fixture
def batch(tmp_path: Path, dev: MlflowModelRegistry) -> Iterator[LocalBatchEndpoints]:
    endpoints = LocalBatchEndpoints(tmp_path / "state", dev)
    yield endpoints
    for child in endpoints._children.values():  # stop any runner this test left, by its pid
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait(10)


@pytest.fixture
def scoring_input(tmp_path: Path) -> Path:
    """Features only (no label), plus the customer id, in a CSV and a Parquet file."""
    folder = tmp_path / "scoring"
    folder.mkdir()
    frame = data.generate(rows=50, seed=11)
    features = to_features(frame)
    features.insert(0, "customer_id", frame["customer_id"])
    features.iloc[:30].to_csv(folder / "part-1.csv", index=False)
    features.iloc[30:].to_parquet(folder / "part-2.parquet", index=False)
    return folder


def _wait(batch: LocalBatchEndpoints, name: str, timeout: float = 120.0) -> BatchJobStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = batch.status(name)
        if status.done:
            return status
        time.sleep(0.2)
    raise AssertionError(f"batch job {name} did not finish in {timeout}s: {batch.status(name)}")


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# ------------------------------------------------------------------------------ batch endpoints


def test_the_adapters_implement_their_ports(batch: LocalBatchEndpoints, shared: MlflowSharedRegistry) -> None:
    assert isinstance(batch, BatchEndpoints)
    assert isinstance(shared, ModelRegistryShare)


def test_a_deployment_scores_every_input_file_with_the_registered_model_version(
    batch: LocalBatchEndpoints, dev: MlflowModelRegistry, scoring_input: Path, tmp_path: Path
) -> None:
    batch.ensure_endpoint("churn-batch")
    v1 = dev.get("churn", "1")
    deployment = batch.begin_deploy("churn-batch", batch_deployment_name("churn", "1"), v1)
    assert (deployment.name, deployment.state, deployment.model_version) == ("churn-v1", "succeeded", "1")
    assert batch.set_default("churn-batch", "churn-v1").default_deployment == "churn-v1"

    status = batch.submit(
        "churn-batch",
        job_name="score-run-1",
        input_uri=scoring_input.as_uri(),
        output_uri=str(tmp_path / "out" / "predictions" / "churn" / "run-1"),
        tags={"run_id": "run-1"},
    )
    assert status.deployment == "churn-v1" and status.state in ("queued", "running", "completed")
    final = _wait(batch, "score-run-1")
    assert final.state == "completed", final.message
    assert (final.rows, final.model_version) == (50, "1")

    raw = batch.download_output("score-run-1", tmp_path / "downloaded").read_bytes()
    # as an Azure ML MLflow batch deployment writes it: no header, `row, prediction, file` per line
    first = raw.decode().splitlines()[0].split(",")
    assert first[0] == "0" and first[2] in ("part-1.csv", "part-2.parquet")
    predictions = parse_predictions(raw)
    assert len(predictions) == 50
    assert set(predictions["file"]) == {"part-1.csv", "part-2.parquet"}
    # the same numbers the registered model gives in-process
    model = mlflow.pyfunc.load_model(str(dev.download("churn", "1", tmp_path / "direct")))
    part1 = pd.read_csv(scoring_input / "part-1.csv")
    expected = np.asarray(model.predict(part1.drop(columns=["customer_id"])))
    got = predictions[predictions["file"] == "part-1.csv"].sort_values("row")["prediction"].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_a_replayed_submit_returns_the_same_job_and_a_new_host_sees_its_status(
    batch: LocalBatchEndpoints, dev: MlflowModelRegistry, scoring_input: Path, tmp_path: Path
) -> None:
    batch.ensure_endpoint("churn-batch")
    batch.begin_deploy("churn-batch", "churn-v1", dev.get("churn", "1"))
    batch.set_default("churn-batch", "churn-v1")
    kwargs = dict(job_name="score-once", input_uri=str(scoring_input), output_uri=str(tmp_path / "o"))
    batch.submit("churn-batch", **kwargs)
    _wait(batch, "score-once")
    again = batch.submit("churn-batch", **kwargs)
    assert again.state == "completed"
    assert len(list((batch.root / "jobs").iterdir())) == 1

    restarted = LocalBatchEndpoints(tmp_path / "state", dev)  # a restarted host: state on disk only
    assert restarted.status("score-once").state == "completed"
    assert restarted.get("churn-batch").default_deployment == "churn-v1"


def test_an_ab_job_can_pin_a_non_default_deployment(
    batch: LocalBatchEndpoints, dev: MlflowModelRegistry, scoring_input: Path, tmp_path: Path
) -> None:
    batch.ensure_endpoint("churn-batch")
    batch.begin_deploy("churn-batch", "churn-v1", dev.get("churn", "1"))
    batch.begin_deploy("churn-batch", "churn-v2", dev.get("churn", "2"))
    batch.set_default("churn-batch", "churn-v1")
    status = batch.submit(
        "churn-batch",
        job_name="ab-b",
        input_uri=str(scoring_input),
        output_uri=str(tmp_path / "b"),
        deployment="churn-v2",
    )
    assert (status.deployment, _wait(batch, "ab-b").model_version) == ("churn-v2", "2")


def test_a_failed_smoke_keeps_the_previous_default(
    batch: LocalBatchEndpoints, dev: MlflowModelRegistry, tmp_path: Path
) -> None:
    batch.ensure_endpoint("churn-batch")
    batch.begin_deploy("churn-batch", "churn-v1", dev.get("churn", "1"))
    batch.set_default("churn-batch", "churn-v1")
    batch.begin_deploy("churn-batch", "churn-v2", dev.get("churn", "2"))
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"customer_id": ["a", "b"], "tenure_months": ["x", "y"]}).to_csv(bad, index=False)
    smoke = _wait(
        batch,
        batch.submit(
            "churn-batch",
            job_name="smoke-v2",
            input_uri=str(bad),
            output_uri=str(tmp_path / "s"),
            deployment="churn-v2",
        ).name,
    )
    assert smoke.state == "failed" and "scoring failed" in smoke.message
    decision = choose_default("churn-v1", "churn-v2", judge_smoke(2, [], job_state=smoke.state))
    assert decision.default == "churn-v1"
    assert batch.get("churn-batch").default_deployment == "churn-v1"


def test_the_default_cannot_be_deleted_and_pruning_deletes_old_deployments(
    batch: LocalBatchEndpoints, dev: MlflowModelRegistry
) -> None:
    batch.ensure_endpoint("churn-batch")
    for name, version in (("churn-a", "1"), ("churn-b", "2"), ("churn-c", "1"), ("churn-d", "2")):
        batch.begin_deploy("churn-batch", name, dev.get("churn", version))
    batch.set_default("churn-batch", "churn-a")
    with pytest.raises(BatchDefaultError, match="make another deployment default first"):
        batch.delete_deployment("churn-batch", "churn-a")
    info = batch.get("churn-batch")
    prune = deployments_to_prune(
        list(info.deployments.values()), default="churn-a", previous_default=None, keep_last=2
    )
    assert prune == ["churn-b"]
    for name in prune:
        batch.delete_deployment("churn-batch", name)
    batch.delete_deployment("churn-batch", "churn-b")  # idempotent
    assert sorted(batch.get("churn-batch").deployments) == ["churn-a", "churn-c", "churn-d"]
    assert batch.deployment("churn-batch", "churn-b").state == "missing"
    assert not (batch.root / "models" / "churn-batch" / "churn-b").exists()


def test_a_deployment_of_a_missing_model_version_is_failed_and_cannot_be_default(
    batch: LocalBatchEndpoints, dev: MlflowModelRegistry
) -> None:
    batch.ensure_endpoint("churn-batch")
    ghost = dev.get("churn", "1").__class__("churn", "99", "models:/churn/99")
    failed = batch.begin_deploy("churn-batch", "churn-v99", ghost)
    assert failed.state == "failed" and "99" in failed.message
    with pytest.raises(ValueError, match="only a succeeded one can be default"):
        batch.set_default("churn-batch", "churn-v99")
    with pytest.raises(ValueError, match="no default deployment"):
        batch.submit("churn-batch", job_name="x", input_uri="/nonexistent", output_uri="/tmp/x")


def test_a_scoring_process_killed_mid_run_is_reported_failed(
    batch: LocalBatchEndpoints, dev: MlflowModelRegistry, scoring_input: Path, tmp_path: Path
) -> None:
    batch.ensure_endpoint("churn-batch")
    batch.begin_deploy("churn-batch", "churn-v1", dev.get("churn", "1"))
    batch.set_default("churn-batch", "churn-v1")
    batch.submit(
        "churn-batch", job_name="killed", input_uri=str(scoring_input), output_uri=str(tmp_path / "k")
    )
    deadline = time.monotonic() + 60
    while batch.status("killed").state != "running" and time.monotonic() < deadline:
        time.sleep(0.05)  # killed mid-run: after its runner started
    child = batch._children["killed"]
    os.killpg(child.pid, signal.SIGKILL)
    child.wait(10)
    status = batch.status("killed")
    assert status.state == "failed" and "died without a result" in status.message


# ------------------------------------------------------------------------------ shared registry


def test_sharing_copies_the_exact_artifact_with_its_lineage(
    shared: MlflowSharedRegistry, dev: MlflowModelRegistry, tmp_path: Path
) -> None:
    dev.set_champion("churn", "2")
    source = dev.get("churn", "2")
    copy = shared.share(source)
    assert copy.version == "1"  # the registry numbers its own versions
    assert copy.tags == {
        "lifecycle_id": "lc-2",
        "data_version": "dv-2",
        "source_registry": "dev",
        "source_model": "churn",
        "source_version": "2",
    }
    assert shared.get("churn", "1") == copy
    evaluated = _digest(dev.download("churn", "2", tmp_path / "dev"))
    deployed = _digest(shared.download("churn", "1", tmp_path / "shared"))
    assert deployed == evaluated and "model.ubj" in deployed


def test_sharing_again_returns_the_existing_copy(
    shared: MlflowSharedRegistry, dev: MlflowModelRegistry
) -> None:
    first = shared.share(dev.get("churn", "1"))
    assert shared.share(dev.get("churn", "1")) == first
    second = shared.share(dev.get("churn", "2"))
    assert [v.version for v in shared.versions("churn")] == ["1", "2"]
    assert second.tags["source_version"] == "2"
    with pytest.raises(KeyError, match="registry 'shared-ml' has no churn:9"):
        shared.get("churn", "9")


def test_prod_deploys_a_registry_version_to_its_batch_endpoint(
    shared: MlflowSharedRegistry, dev: MlflowModelRegistry, scoring_input: Path, tmp_path: Path
) -> None:
    copy = shared.share(dev.get("churn", "2"))
    prod = LocalBatchEndpoints(tmp_path / "prod-state", shared)
    prod.ensure_endpoint("churn-batch")
    prod.begin_deploy("churn-batch", "churn-r1", copy)
    prod.set_default("churn-batch", "churn-r1")
    prod.submit(
        "churn-batch", job_name="prod-1", input_uri=str(scoring_input), output_uri=str(tmp_path / "p")
    )
    try:
        assert _wait(prod, "prod-1").rows == 50  # type: ignore[arg-type]
    finally:
        child = prod._children["prod-1"]
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(10)


def test_a_submission_interrupted_before_its_spec_was_written_is_failed(batch: LocalBatchEndpoints) -> None:
    job_dir = batch.root / "jobs" / "half-done"
    job_dir.mkdir(parents=True)
    assert batch.status("half-done").state == "queued"  # maybe still being submitted
    os.utime(job_dir, (time.time() - 600, time.time() - 600))
    status = batch.status("half-done")
    assert status.state == "failed" and "interrupted" in status.message
    with pytest.raises(KeyError):
        batch.status("never-submitted")
