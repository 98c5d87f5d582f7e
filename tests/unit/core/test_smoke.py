"""The smoke test fails with a reason, never with a crash; MLflow's model files are read without
mlflow (the Function App does not ship it)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd

from core.kernel.contract import DataContract, load_contract
from core.kernel.payload import BlobRef
from core.kernel.policy import load_policy
from core.rollout.payloads import SmokeInput
from core.rollout.smoke import read_model_inputs, smoke_test
from tests.fakes import FakeAdapters

ROOT = Path(__file__).resolve().parents[3]
POLICY = load_policy(ROOT / "samples" / "churn" / "policy.yaml")
CONTRACT: DataContract = load_contract(POLICY.path(POLICY.data.contract))


def _req(eval_ref: BlobRef | None = BlobRef(container="training", path="churn/dv1/eval/")) -> SmokeInput:
    return SmokeInput(
        run_id="r1", model="churn", endpoint="ep", deployment="green", eval_ref=eval_ref, rows=3
    )


def _world(rows: pd.DataFrame | None) -> FakeAdapters:
    f = FakeAdapters()
    if rows is not None:
        buf = io.BytesIO()
        rows.to_parquet(buf)
        f.data_lake.put("training", "churn/dv1/eval/part-0.parquet", buf.getvalue())
    mv = f.registry.register("churn", "file:///m", {})
    f.endpoints.begin_deploy("ep", "green", mv)
    return f


def _run(f: FakeAdapters, req: SmokeInput | None = None):
    return smoke_test(f.data_lake, f.registry, f.endpoints, CONTRACT, req or _req())


def test_without_an_evaluation_split_the_smoke_test_fails_saying_so():
    result = _run(_world(None), _req(None))
    assert not result.ok and "no evaluation split" in result.error


def test_an_evaluation_split_without_parquet_fails_the_smoke_test():
    result = _run(_world(None))
    assert not result.ok and result.error == "the evaluation split has no parquet file"


def test_rows_are_scored_on_green_alone_without_the_label_and_id():
    frame = pd.DataFrame(
        {"customer_id": ["a", "b", "c", "d"], "tenure": [1, 2, 3, 4], "churned": [0, 1, 0, 1]}
    )
    f = _world(frame)
    result = _run(f)
    [(_, deployment, body)] = f.endpoints.invocations
    assert result.ok and result.rows == 3 and deployment == "green"
    assert CONTRACT.label not in body["input_data"]["columns"]
    assert (CONTRACT.id_column or "customer_id") not in body["input_data"]["columns"]


def test_a_model_files_signature_and_split_input_example_are_read_without_mlflow(tmp_path):
    (tmp_path / "MLmodel").write_text(
        "saved_input_example_info:\n  artifact_path: input_example.json\n  pandas_orient: split\n  type: dataframe\n"
        'signature:\n  inputs: \'[{"type": "double", "name": "a"}, {"type": "long", "name": "b"}]\'\n'
    )
    (tmp_path / "input_example.json").write_text(json.dumps({"columns": ["a", "b"], "data": [[1.5, 2]]}))
    spec = read_model_inputs(tmp_path)
    assert spec.columns == ["a", "b"]
    assert spec.example is not None and spec.example.to_dict("records") == [{"a": 1.5, "b": 2}]


def test_a_model_with_a_tensor_signature_and_no_example_names_no_columns(tmp_path):
    (tmp_path / "MLmodel").write_text(
        'signature:\n  inputs: \'[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]\'\n'
    )
    spec = read_model_inputs(tmp_path)
    assert spec.columns is None and spec.example is None
