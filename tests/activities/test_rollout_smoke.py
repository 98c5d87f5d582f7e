"""The smoke test scores rows the challenger's own signature accepts: the evaluation split holds
contract (raw) rows, and a model that takes encoded features (the churn sample) must be smoke-tested
with its logged input example, not refused with a schema error that says nothing about it."""

from __future__ import annotations

import io
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

import wiring
from core.intake.payloads import LifecycleInput
from core.kernel.payload import BlobRef
from core.kernel.policy import StaticPolicies, load_policy
from core.kernel.settings import Settings
from core.rollout.payloads import SMOKE, SmokeInput, SmokeResult
from core.rollout.smoke import read_model_inputs
from core.run.payloads import StartInput
from core.run.runs import start_run
from samples.churn.data import generate
from samples.churn.features import to_features
from tests.activities.worker import call_activity
from tests.fakes import FakeAdapters

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2025, 3, 1, tzinfo=UTC)


class _Echo:
    """A pyfunc model that answers one number per row."""

    def predict(self, context, model_input, params=None):
        return [0.5] * len(model_input)


def _save_model(folder: Path, example: pd.DataFrame) -> Path:
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    class Echo(mlflow.pyfunc.PythonModel):
        """Answers one number per row."""

        def predict(self, context, model_input, params=None):
            return [0.5] * len(model_input)

    mlflow.pyfunc.save_model(
        str(folder),
        python_model=Echo(),
        signature=infer_signature(example),
        input_example=example.head(5),
        pip_requirements=["pandas"],
    )
    return folder


@pytest.fixture
def fakes(tmp_path):
    f = FakeAdapters()
    raw = generate(300, seed=3)
    buffer = io.BytesIO()
    raw.to_parquet(buffer)
    f.data_lake.put("training", "churn/dv1/eval/part-0.parquet", buffer.getvalue())
    policy = load_policy(ROOT / "samples" / "churn" / "policy.yaml")
    policies = StaticPolicies({"churn": policy})
    start_run(
        f.ledger,
        policies,
        StartInput(run_id="r1", trigger=LifecycleInput(model="churn"), started_at=T0),
        "c0",
    )
    with wiring.override(
        settings=Settings(local_state_dir=tmp_path / "state"), policies=policies, **f.as_overrides()
    ):
        yield f


def _deploy(fakes: FakeAdapters, saved: Path) -> None:
    version = fakes.registry.register("churn", f"file://{saved}", {})
    fakes.registry.download = lambda name, v, dest: Path(shutil.copytree(saved, Path(dest) / "model"))
    fakes.endpoints.begin_deploy("churn-endpoint", "green", version)
    fakes.endpoints.deployment("churn-endpoint", "green")


def _smoke() -> SmokeResult:
    req = SmokeInput(
        run_id="r1",
        model="churn",
        endpoint="churn-endpoint",
        deployment="green",
        eval_ref=BlobRef(container="training", path="churn/dv1/eval/"),
        rows=20,
    )
    return SmokeResult.model_validate(call_activity(SMOKE, req.dump()))


def test_a_model_that_takes_the_contract_rows_is_smoke_tested_with_the_evaluation_split(fakes, tmp_path):
    raw = generate(50, seed=4).drop(columns=["churned", "customer_id"])
    _deploy(fakes, _save_model(tmp_path / "raw-model", raw))
    result = _smoke()
    [(_, deployment, body)] = fakes.endpoints.invocations
    assert result.ok and result.rows == 20 and deployment == "green"
    assert body["input_data"]["columns"] == list(raw.columns)


def test_a_model_that_takes_encoded_features_is_smoke_tested_with_its_own_input_example(fakes, tmp_path):
    encoded = to_features(generate(50, seed=4))
    _deploy(fakes, _save_model(tmp_path / "encoded-model", encoded))
    result = _smoke()
    [(_, deployment, body)] = fakes.endpoints.invocations
    assert result.ok and result.rows == 5 and deployment == "green"
    assert body["input_data"]["columns"] == list(encoded.columns)


def test_a_model_without_an_input_example_that_refuses_the_data_fails_the_smoke_test_saying_why(
    fakes, tmp_path
):
    encoded = to_features(generate(50, seed=4))
    saved = _save_model(tmp_path / "no-example", encoded)
    (saved / "input_example.json").unlink()
    meta = (saved / "MLmodel").read_text()
    (saved / "MLmodel").write_text(meta.replace("saved_input_example_info:", "unused_input_example_info:"))
    _deploy(fakes, saved)
    result = _smoke()
    assert not result.ok and "logged no input example" in result.error
    assert fakes.endpoints.invocations == []


def test_the_input_example_is_read_from_the_model_files_as_mlflow_reads_it(tmp_path):
    from mlflow.models import Model

    encoded = to_features(generate(50, seed=4))
    saved = _save_model(tmp_path / "encoded-model", encoded)
    spec = read_model_inputs(saved)
    expected = Model.load(str(saved)).load_input_example(str(saved))
    assert spec.columns == list(encoded.columns)
    pd.testing.assert_frame_equal(spec.example, expected, check_dtype=False)
