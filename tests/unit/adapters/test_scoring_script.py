"""The scoring script an Azure ML deployment runs when its model serves by entity id
(adapters/azure/scoring/score.py), run here against a fake Cosmos container: id-only rows are filled
with the deployment's own feature set version, an unknown id is refused row by row, rows that carry
their features are scored as they are; and AML's init()/run() convention around it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from azure.cosmos.exceptions import CosmosResourceNotFoundError

from adapters.azure.feature_store import CosmosOnlineFeatureStore
from adapters.azure.scoring import score
from core.rollout.online_features import feature_environment

ROOT = Path(__file__).resolve().parents[3]
ENV = feature_environment(
    {"feature_set": "churn", "feature_set_version": "dv-2", "feature_entity_column": "customer_id"}
)


class FakeCosmosContainer:
    """A Cosmos DB container as far as the feature store and the scoring script use it, answering as
    Microsoft documents:

    * items are unique by (partition key value, id) ("Partitioning and horizontal scaling in Azure
      Cosmos DB": the id is unique within a logical partition); `upsert_item` replaces that item;
    * a point read of a missing item is 404 Not Found (REST API "Get a Document"), which azure-cosmos
      raises as `CosmosResourceNotFoundError` (`ContainerProxy.read_item`: "CosmosHttpResponseError: If
      the given item couldn't be retrieved");
    * an item is JSON: a number keeps no int/float distinction (20.0 is read back as 20), and system
      properties (`_rid`, `_etag`, `_ts`) come back with it;
    * `query_items` with a partition key runs in that partition only (the shape
      adapters/azure/feature_store.py sends: entity and id as parameters).
    Reads are counted, so a test can see one point read per distinct entity."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.point_reads: list[tuple[str, str]] = []

    @staticmethod
    def _json(item: dict[str, Any]) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list):
                return [plain(v) for v in value]
            return value

        return plain(json.loads(json.dumps(item)))

    def upsert_item(self, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        stored = {**self._json(body), "_rid": "r", "_etag": '"e"', "_ts": 1}
        self.items[(str(body["entityId"]), str(body["id"]))] = stored
        return stored

    def read_item(self, item: str, partition_key: str, **_: Any) -> dict[str, Any]:
        self.point_reads.append((partition_key, item))
        found = self.items.get((partition_key, item))
        if found is None:
            raise CosmosResourceNotFoundError(
                status_code=404, message="Entity with the specified id does not exist"
            )
        return dict(found)

    def query_items(self, query: str, parameters: list[dict[str, Any]], partition_key: str, **_: Any) -> list:
        values = {p["name"]: p["value"] for p in parameters}
        return [
            dict(i)
            for (pk, item_id), i in self.items.items()
            if pk == partition_key and values.get("@id", item_id) == item_id
        ]


VECTORS = {
    "c1": {"tenure_months": 20.0, "monthly_charges": 70.5},
    "c2": {"tenure_months": 3.0, "monthly_charges": 99.0},
}


@pytest.fixture
def container() -> FakeCosmosContainer:
    fake = FakeCosmosContainer()
    store = CosmosOnlineFeatureStore(fake)  # written as the lifecycle writes it
    at = datetime(2026, 3, 1, tzinfo=UTC)
    store.materialize(
        "churn", "dv-2", VECTORS, entity_column="customer_id", ttl_seconds=60, materialized_at=at
    )
    store.materialize("churn", "dv-1", {"c1": {"tenure_months": 1.0, "monthly_charges": 1.0}},
                      entity_column="customer_id", ttl_seconds=60, materialized_at=at)  # fmt: skip
    return fake


class RecordingModel:
    """What an MLflow pyfunc model does with a frame, recorded: one score per row."""

    def __init__(self) -> None:
        self.frames: list[pd.DataFrame] = []

    def predict(self, frame: pd.DataFrame) -> Any:
        self.frames.append(frame)
        return (frame["tenure_months"] / 100).to_numpy()


def _body(columns: list[str], rows: list[list[Any]]) -> str:
    return json.dumps({"input_data": {"columns": columns, "index": list(range(len(rows))), "data": rows}})


def _scorer(container: FakeCosmosContainer, **kwargs: Any) -> tuple[score.Scorer, RecordingModel]:
    model = RecordingModel()
    return score.Scorer(model, ENV, score.CosmosFeatureLookup(container), **kwargs), model


def test_rows_with_only_the_customer_id_are_filled_from_the_deployments_feature_set_version(container):
    scorer, model = _scorer(container)
    status, answer = scorer.score(_body(["customer_id"], [["c2"], ["c1"], ["c2"]]))
    assert status == 200 and answer == [0.03, 0.2, 0.03]
    [frame] = model.frames
    assert frame.to_dict(orient="list") == {
        "tenure_months": [3.0, 20.0, 3.0],
        "monthly_charges": [99.0, 70.5, 99.0],
    }
    assert (frame.dtypes == "float64").all()  # 20.0 came back from "Cosmos" as 20, and goes in as a float
    assert sorted(container.point_reads) == [("c1", "churn:dv-2"), ("c2", "churn:dv-2")]  # one per entity


def test_an_unknown_customer_gets_a_per_row_error_and_nothing_is_scored(container):
    scorer, model = _scorer(container)
    status, answer = scorer.score(_body(["customer_id"], [["c1"], ["nobody"], ["c1"], [None]]))
    assert status == 424 and not model.frames
    assert [(e["row"], e["entity_id"], e["code"]) for e in answer["errors"]] == [
        (1, "nobody", "UnknownEntity"),
        (3, "", "UnknownEntity"),
    ]
    assert "version dv-2" in answer["errors"][0]["message"]


def test_an_entity_known_only_to_another_version_is_unknown_to_this_deployment(container):
    assert _scorer(container)[0].score(_body(["customer_id"], [["c2"]]))[0] == 200  # dv-2 knows c2 ...
    lookup = score.CosmosFeatureLookup(container)
    older = score.Scorer(RecordingModel(), {**ENV, "FEATURE_SET_VERSION": "dv-1"}, lookup)
    status, answer = older.score(_body(["customer_id"], [["c2"]]))
    assert status == 424 and answer["errors"][0]["entity_id"] == "c2"  # ... dv-1 does not


def test_rows_that_carry_their_features_are_scored_as_they_are_without_a_read(container):
    scorer, model = _scorer(container)
    status, answer = scorer.score(
        _body(["customer_id", "tenure_months", "monthly_charges"], [["c1", 50.0, 10.0]])
    )
    assert status == 200 and answer == [0.5]
    assert list(model.frames[0].columns) == ["customer_id", "tenure_months", "monthly_charges"]
    assert container.point_reads == []


def test_a_body_that_is_not_a_scoring_payload_is_a_400(container):
    scorer, _ = _scorer(container)
    assert scorer.score(b"not json")[0] == 400
    assert scorer.score(json.dumps({"inputs": [1]}))[0] == 400


def test_the_filled_rows_and_predictions_go_to_data_collection_and_a_collector_error_fails_nothing(container):
    collected: list[tuple[list[str], list[float]]] = []
    scorer, _ = _scorer(container, collect=lambda frame, p: collected.append((list(frame.columns), list(p))))
    assert scorer.score(_body(["customer_id"], [["c1"]])) == (200, [0.2])
    assert collected == [(["tenure_months", "monthly_charges"], [0.2])]  # features, not the bare id

    def broken(frame: Any, predictions: Any) -> None:
        raise OSError("collector down")

    assert _scorer(container, collect=broken)[0].score(_body(["customer_id"], [["c1"]]))[0] == 200


def test_init_loads_the_mlflow_model_under_the_model_dir_and_run_answers_by_entity_id(
    container, tmp_path, monkeypatch
):
    """AML's convention: init() once, run(raw_data) per request; the model folder's name is the last
    segment of the registered path, so the script looks for the MLmodel file."""
    import mlflow.pyfunc

    class TenureModel(mlflow.pyfunc.PythonModel):
        def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
            return (model_input["tenure_months"] / 100).to_numpy()

    mlflow.pyfunc.save_model(
        str(tmp_path / "model-dir" / "outputs" / "model"),
        python_model=TenureModel(),
        pip_requirements=["pandas"],
    )
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(tmp_path / "model-dir"))
    monkeypatch.setattr(score.CosmosFeatureLookup, "connect", classmethod(lambda cls, env: cls(container)))
    monkeypatch.setattr(score, "_scorer", None)
    score.init()
    assert score.run(_body(["customer_id"], [["c1"], ["c2"]])) == [0.2, 0.03]
    refused = score.run(_body(["customer_id"], [["nobody"]]))  # outside the inference server: a dict
    assert refused["status"] == 424 and refused["errors"][0]["entity_id"] == "nobody"


def test_the_store_must_be_named_when_the_model_serves_by_entity_id():
    with pytest.raises(RuntimeError, match="FEATURE_STORE_ENDPOINT"):
        score.CosmosFeatureLookup.connect(dict(ENV))


def test_the_serving_environment_keeps_the_models_own_pins():
    """Serving cannot skew from training: every pin of the churn environment is in the scoring one."""

    def pins(path: Path) -> set[str]:
        doc = yaml.safe_load(path.read_text())
        return {p for d in doc["dependencies"] if isinstance(d, dict) for p in d["pip"]}

    model_pins = pins(ROOT / "samples" / "churn" / "environment" / "conda.yaml")
    serving = pins(ROOT / "adapters" / "azure" / "scoring" / "conda.yaml")
    assert model_pins <= serving
    assert {"azureml-inference-server-http", "azure-identity", "azure-cosmos"} <= {
        p.split("==")[0] for p in serving
    }
