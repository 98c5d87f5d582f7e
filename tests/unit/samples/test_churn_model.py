"""Training and evaluation scripts of the churn model, run in-process as the job would run them.

The property the lifecycle demo relies on is tested here: a model retrained on drifted data beats
the old champion on the drifted evaluation split, and data with no real change gives a near-equal
model (so the promotion rule keeps the champion)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from samples.churn import data, evaluate, train

pytestmark = pytest.mark.slow


def _split(tmp: Path, name: str, *, seed: int, drift: float) -> tuple[Path, Path]:
    """Default generator settings, split 80/20 the way the ingest step does."""
    frame = data.generate(seed=seed, drift=drift)
    cut = int(len(frame) * 0.8)
    folder = tmp / name
    (folder / "train").mkdir(parents=True)
    (folder / "eval").mkdir()
    frame.iloc[:cut].to_parquet(folder / "train" / "part-0.parquet")
    frame.iloc[cut:].to_parquet(folder / "eval" / "part-0.parquet")
    return folder / "train", folder / "eval"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    from mlflow import MlflowClient
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    tmp = tmp_path_factory.mktemp("churn-model")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    experiment_id = MlflowClient(uri).create_experiment(
        "churn-test", artifact_location=(tmp / "artifacts").as_uri()
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    mp.setenv("MLFLOW_EXPERIMENT_ID", experiment_id)
    paths: dict[str, Path] = {"tmp": tmp}
    with _use_tracking_uri(uri):
        for name, seed, drift in (("old", 11, 0.0), ("drifted", 12, 1.0), ("same", 13, 0.0)):
            paths[f"{name}_train"], paths[f"{name}_eval"] = _split(tmp, name, seed=seed, drift=drift)
            model, metrics = tmp / f"model_{name}", tmp / f"metrics_{name}"
            args = ["--train-data", str(paths[f"{name}_train"]), "--eval-data", str(paths[f"{name}_eval"])]
            train.main([*args, "--model-output", str(model), "--metrics-output", str(metrics)])
            paths[f"model_{name}"], paths[f"metrics_{name}"] = model, metrics / "metrics.json"
        yield paths
    mp.undo()


def _evaluate(world: dict[str, Path], challenger: str, champion: str | None, split: str) -> dict:
    out = world["tmp"] / f"eval-{challenger}-{champion}-{split}.json"
    args = ["--challenger", str(world[f"model_{challenger}"]), "--eval-data", str(world[f"{split}_eval"])]
    if champion:
        args += ["--champion", str(world[f"model_{champion}"])]
    evaluate.main([*args, "--metrics-output", str(out)])
    return json.loads(out.read_text())


def test_training_writes_a_self_contained_mlflow_model_that_scores_probabilities(
    world: dict[str, Path],
) -> None:
    import mlflow.pyfunc
    import yaml

    model_dir = world["model_old"]
    mlmodel = yaml.safe_load((model_dir / "MLmodel").read_text())
    assert "xgboost" in mlmodel["flavors"] and "python_function" in mlmodel["flavors"]
    assert mlmodel["signature"]["inputs"]
    assert "xgboost==" in (model_dir / "requirements.txt").read_text()

    model = mlflow.pyfunc.load_model(str(model_dir))
    example = json.loads((model_dir / "input_example.json").read_text())
    import pandas as pd

    frame = pd.DataFrame(example["data"], columns=example["columns"])
    proba = np.asarray(model.predict(frame))
    assert proba.shape == (len(frame),)
    assert ((proba > 0) & (proba < 1)).all()


def test_training_logs_params_metrics_and_the_model_to_the_tracking_server(world: dict[str, Path]) -> None:
    from mlflow import MlflowClient

    metrics = json.loads(world["metrics_old"].read_text())
    assert {"auc", "accuracy", "logloss", "mlflow_run_id", "device"} <= set(metrics)
    assert metrics["device"] == "cpu"  # no GPU on this machine
    assert 0.7 < metrics["auc"] < 1.0
    run = MlflowClient(f"sqlite:///{world['tmp'] / 'mlflow.db'}").get_run(metrics["mlflow_run_id"])
    assert run.data.params["n_estimators"] == "200"
    assert run.data.metrics["auc"] == pytest.approx(metrics["auc"])
    assert metrics["model_uri"].startswith("models:/")


def test_evaluation_scores_both_models_on_the_same_split(world: dict[str, Path]) -> None:
    result = _evaluate(world, "drifted", "old", "drifted")
    assert set(result) == {"challenger", "champion", "eval_rows"}
    assert result["eval_rows"] == 1000
    for role in ("challenger", "champion"):
        assert set(result[role]) == {"auc", "accuracy", "logloss", "n"}
        assert result[role]["n"] == result["eval_rows"]


def test_the_first_model_is_evaluated_without_a_champion(world: dict[str, Path]) -> None:
    result = _evaluate(world, "old", None, "old")
    assert result["champion"] is None
    assert result["challenger"]["auc"] == pytest.approx(json.loads(world["metrics_old"].read_text())["auc"])


def test_a_model_retrained_on_drifted_data_beats_the_old_champion_on_drifted_data(
    world: dict[str, Path],
) -> None:
    result = _evaluate(world, "drifted", "old", "drifted")
    gain = result["challenger"]["auc"] - result["champion"]["auc"]
    assert gain > 0.03, result


def test_data_with_no_real_change_gives_a_near_equal_model(world: dict[str, Path]) -> None:
    result = _evaluate(world, "same", "old", "same")
    gain = result["challenger"]["auc"] - result["champion"]["auc"]
    assert abs(gain) < 0.02, result
