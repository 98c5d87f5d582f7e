"""MlflowModelRegistry on a temporary SQLite MLflow registry: register with lineage, idempotent
replays, champion by alias, and a download that scores."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from adapters.local.registry import MlflowModelRegistry
from core.kernel.ports import ModelRegistry
from samples.churn import data
from samples.churn.features import labels, to_features

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real churn model in MLflow format, as a training job's output would be."""
    import mlflow.xgboost
    import xgboost as xgb

    frame = data.generate(rows=200, seed=3)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 2},
        xgb.DMatrix(to_features(frame), label=labels(frame)),
        5,
    )
    folder = tmp_path_factory.mktemp("job-output") / "model"
    mlflow.xgboost.save_model(
        booster, str(folder), input_example=to_features(frame).head(3), pip_requirements=["xgboost"]
    )
    return folder


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated MLflow database: copying it is much faster than migrating a new one per test."""
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowModelRegistry(f"sqlite:///{path}").versions("warm-up")
    return path


def _registry(empty_db: Path, path: Path) -> MlflowModelRegistry:
    shutil.copyfile(empty_db, path)
    return MlflowModelRegistry(f"sqlite:///{path}")


@pytest.fixture
def registry(empty_db: Path, tmp_path: Path) -> MlflowModelRegistry:
    return _registry(empty_db, tmp_path / "mlflow.db")


def test_the_adapter_implements_the_model_registry_port(registry: MlflowModelRegistry) -> None:
    assert isinstance(registry, ModelRegistry)


def test_registering_keeps_lineage_tags_and_numbers_versions(
    registry: MlflowModelRegistry, model_folder: Path
) -> None:
    first = registry.register(
        "churn", str(model_folder), {"lifecycle_id": "lc-1", "data_version": "sha256:abc"}
    )
    second = registry.register("churn", model_folder.as_uri(), {"lifecycle_id": "lc-2"})
    assert (first.version, second.version) == ("1", "2")
    assert first.tags == {"lifecycle_id": "lc-1", "data_version": "sha256:abc"}
    assert first.created_at is not None and first.created_at.tzinfo is not None
    assert [v.version for v in registry.versions("churn")] == ["1", "2"]
    assert registry.get("churn", "1") == first
    assert registry.versions("no-such-model") == []
    with pytest.raises(KeyError, match="no version '9'"):
        registry.get("churn", "9")


def test_registering_the_same_lifecycle_twice_returns_the_existing_version(
    registry: MlflowModelRegistry, model_folder: Path
) -> None:
    first = registry.register("churn", str(model_folder), {"lifecycle_id": "lc-1"})
    replay = registry.register("churn", str(model_folder), {"lifecycle_id": "lc-1", "extra": "ignored"})
    assert replay == first
    assert len(registry.versions("churn")) == 1


def test_the_champion_is_one_version_moved_by_alias(
    registry: MlflowModelRegistry, model_folder: Path
) -> None:
    assert registry.champion("churn") is None  # no model yet
    one = registry.register("churn", str(model_folder), {"lifecycle_id": "lc-1"})
    assert registry.champion("churn") is None  # a model, but no champion yet
    two = registry.register("churn", str(model_folder), {"lifecycle_id": "lc-2"})
    registry.set_champion("churn", one.version)
    assert registry.champion("churn").version == "1"
    registry.set_champion("churn", two.version)
    assert registry.champion("churn").version == "2"
    with pytest.raises(KeyError):
        registry.set_champion("churn", "7")
    assert registry.champion("churn").version == "2"


def test_a_registered_model_downloads_and_scores_even_after_the_job_output_is_gone(
    registry: MlflowModelRegistry, model_folder: Path, tmp_path: Path
) -> None:
    import mlflow.pyfunc

    scratch = tmp_path / "job-output-copy"
    shutil.copytree(model_folder, scratch)
    version = registry.register("churn", str(scratch), {"lifecycle_id": "lc-1"})
    shutil.rmtree(scratch)  # job outputs are scratch space; the registry keeps its own copy

    local = registry.download("churn", version.version, tmp_path / "downloaded")
    assert (local / "MLmodel").is_file()
    frame = data.generate(rows=20, seed=9)
    proba = np.asarray(mlflow.pyfunc.load_model(str(local)).predict(to_features(frame)))
    assert proba.shape == (20,)
    assert ((proba > 0) & (proba < 1)).all()


def test_a_folder_that_is_not_an_mlflow_model_is_refused(
    registry: MlflowModelRegistry, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError, match="not an MLflow model folder"):
        registry.register("churn", str(tmp_path), {"lifecycle_id": "lc-x"})
    assert registry.versions("churn") == []


def test_two_registries_in_one_process_do_not_share_state(
    empty_db: Path, model_folder: Path, tmp_path: Path
) -> None:
    a, b = _registry(empty_db, tmp_path / "a.db"), _registry(empty_db, tmp_path / "b.db")
    a.register("churn", str(model_folder), {"lifecycle_id": "lc-1"})
    assert b.versions("churn") == []


def test_model_uris_of_this_store_resolve_by_version_and_by_alias(
    registry: MlflowModelRegistry, model_folder: Path, tmp_path: Path
) -> None:
    from adapters.local.mlflow_uris import download_model

    version = registry.register("churn", str(model_folder), {"lifecycle_id": "lc-1"})
    registry.set_champion("churn", version.version)
    by_version = download_model(registry.tracking_uri, f"models:/churn/{version.version}", tmp_path / "v")
    by_alias = download_model(registry.tracking_uri, "models:/churn@champion", tmp_path / "a")
    assert (by_version / "model.ubj").read_bytes() == (by_alias / "model.ubj").read_bytes()
