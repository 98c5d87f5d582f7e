"""The scoring script of an Azure ML online deployment whose model serves by entity id.

A no-code MLflow deployment runs the model with Azure ML's own script, which cannot read the online
feature store. When a model version was trained on an online feature set (its lineage tags, told to
the deployment as FEATURE_SET / FEATURE_SET_VERSION / FEATURE_ENTITY_COLUMN by
core/rollout/online_features.py `feature_environment`), adapters/azure/endpoints.py ships this file
instead, as the deployment's `code_configuration` (Microsoft's "Deploy MLflow models to online
endpoints", section "Customize MLflow model deployments with a scoring script": `init()` loads the
model from AZUREML_MODEL_DIR, `run(raw_data)` gets the request body). The code folder holds this file
and core/rollout/online_features.py beside it, so the filling rule is the one the local endpoint
stand-in runs, not a copy.

What `run` does with `{"input_data": {"columns", "index", "data"}}`:

* rows that carry only the entity id are filled from the Cosmos DB container (partition key
  /entityId, item id `{featureSet}:{version}`: adapters/azure/feature_store.py writes them) with
  the feature set version this deployment's model was trained on; one point read per distinct id,
  with the endpoint's managed identity (the Cosmos DB Built-in Data Reader role, infra/app/rbac.bicep);
* an id the version does not know: nothing is scored, the answer is 424 with one error per such row
  (`{"row", "entity_id", "code": "UnknownEntity", "message"}`), as the local stand-in answers;
* rows that carry their features are scored as they are.

The answer is the model's predictions as a JSON list, what the no-code MLflow server and the local
stand-in return. With `azureml-ai-monitoring` installed, the filled rows and the predictions also go
to model data collection's `model_inputs` / `model_outputs` (a custom script is not instrumented by
Azure ML, and the request itself holds only ids).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

# In the deployment, core/ sits beside this file (the code folder is its own root); in the repo the
# app's core is already importable and wins (appended, not prepended).
sys.path.append(str(Path(__file__).resolve().parent))

from core.rollout.online_features import (
    ENTITY_COLUMN_ENV,
    FEATURE_SET_ENV,
    FEATURE_SET_VERSION_ENV,
    Lookup,
    fill_features,
)

log = logging.getLogger("score")

# where the store is: set by adapters/azure/endpoints.py beside the feature set variables
STORE_ENDPOINT_ENV = "FEATURE_STORE_ENDPOINT"
STORE_DATABASE_ENV = "FEATURE_STORE_DATABASE"
STORE_CONTAINER_ENV = "FEATURE_STORE_CONTAINER"
STORE_CLIENT_ID_ENV = (
    "FEATURE_STORE_CLIENT_ID"  # a user-assigned identity's client id; unset: the endpoint's own
)
MODEL_DIR_ENV = "AZUREML_MODEL_DIR"
WORKERS = 16


class BadRequest(ValueError):
    """The body is not a scoring payload (400)."""


class CosmosFeatureLookup:
    """`Lookup` over the feature store container by point reads (`read_item`, 1 RU each): Azure
    Cosmos DB answers a missing item with 404 (CosmosResourceNotFoundError), which is an unknown
    entity. The app's adapter queries instead only because the local Cosmos stand-in answers a
    missing point read with 500; this script only ever talks to Azure."""

    def __init__(self, container: Any, *, workers: int = WORKERS) -> None:
        self._c = container
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="features")

    def _one(self, item_id: str, entity: str) -> dict[str, Any] | None:
        from azure.cosmos.exceptions import CosmosResourceNotFoundError

        try:
            item = self._c.read_item(item=item_id, partition_key=entity)
        except CosmosResourceNotFoundError:
            return None
        features = item.get("features")
        return dict(features) if isinstance(features, dict) else None

    def __call__(self, feature_set: str, version: str, entity_ids: list[str]) -> dict[str, Any]:
        unique = list(dict.fromkeys(entity_ids))
        item_id = f"{feature_set}:{version}"
        found = self._pool.map(lambda e: self._one(item_id, e), unique)
        return dict(zip(unique, found, strict=True))

    @classmethod
    def connect(cls, environment: Mapping[str, str]) -> CosmosFeatureLookup:
        """The container named by the deployment's environment, read with its managed identity."""
        from azure.cosmos import CosmosClient
        from azure.identity import ManagedIdentityCredential

        missing = [k for k in (STORE_ENDPOINT_ENV, STORE_DATABASE_ENV) if not environment.get(k)]
        if missing:
            raise RuntimeError(
                f"the deployment serves by entity id but names no feature store: set {', '.join(missing)}"
            )
        credential = ManagedIdentityCredential(client_id=environment.get(STORE_CLIENT_ID_ENV) or None)
        client = CosmosClient(environment[STORE_ENDPOINT_ENV], credential=credential)
        database = client.get_database_client(environment[STORE_DATABASE_ENV])
        return cls(database.get_container_client(environment.get(STORE_CONTAINER_ENV) or "features"))


def parse_body(raw_data: str | bytes) -> Any:
    """AML's MLflow payload `{"input_data": {"columns", "index", "data"}}`, or `input_data` as a list of
    records, as a DataFrame (no schema yet: an id-only row is filled before the model's schema applies)."""
    import pandas as pd

    try:
        doc = json.loads(raw_data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"request body is not JSON: {exc}") from exc
    split = doc.get("input_data") if isinstance(doc, dict) else None
    try:
        if isinstance(split, dict) and "data" in split:
            return pd.DataFrame(split["data"], columns=split.get("columns"), index=split.get("index"))
        if isinstance(split, list):
            return pd.DataFrame.from_records(split)
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"input_data does not form a table: {exc}") from exc
    raise BadRequest('expected {"input_data": {"columns": [...], "index": [...], "data": [[...]]}}')


def to_jsonable(predictions: Any) -> Any:
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        if predictions.shape[1] == 1:
            return predictions.iloc[:, 0].tolist()
        return predictions.to_dict(orient="records")
    if hasattr(predictions, "tolist"):
        return predictions.tolist()
    return predictions


Collect = Callable[[Any, Any], None]  # (filled rows, predictions) -> model data collection


class Scorer:
    """One deployment's scoring: its model, its environment (which feature set version), the store."""

    def __init__(
        self,
        model: Any,
        environment: Mapping[str, str],
        lookup: Lookup | None,
        collect: Collect | None = None,
    ) -> None:
        self.model = model
        self.environment = dict(environment)
        self.lookup = lookup
        self.collect = collect

    def score(self, raw_data: str | bytes) -> tuple[int, Any]:
        """(HTTP status, JSON body)."""
        try:
            frame = parse_body(raw_data)
        except BadRequest as exc:
            return 400, {"message": str(exc)}
        if self.lookup is not None:
            frame, errors = fill_features(frame, self.environment, self.lookup)
            if errors:
                # 424, as the local stand-in answers: the model's dependency (its features) failed
                return 424, {
                    "message": f"{len(errors)} row(s) name an unknown entity: see errors",
                    "errors": errors,
                }
        predictions = self.model.predict(frame)
        if self.collect is not None:
            try:
                self.collect(frame, predictions)
            except Exception as exc:  # collection must never fail a request
                log.warning("model data collection failed: %s", exc)
        return 200, to_jsonable(predictions)


def find_model(model_dir: str) -> Path:
    """The MLflow model folder under AZUREML_MODEL_DIR (the one holding `MLmodel`): its name is the last
    segment of the registered path, which the no-code server finds by itself and a script must too."""
    root = Path(model_dir)
    found = sorted(p.parent for p in root.rglob("MLmodel"))
    if not found:
        raise RuntimeError(f"no MLmodel file under {MODEL_DIR_ENV}={model_dir}")
    return found[0]


def _collector() -> Collect | None:
    """model_inputs / model_outputs through azureml-ai-monitoring when the environment has it."""
    try:
        from azureml.ai.monitoring import Collector
    except ImportError:
        return None
    inputs = Collector(name="model_inputs", on_error=lambda e: log.warning("model_inputs: %s", e))
    outputs = Collector(name="model_outputs", on_error=lambda e: log.warning("model_outputs: %s", e))

    def collect(frame: Any, predictions: Any) -> None:
        import pandas as pd

        context = inputs.collect(frame)
        outputs.collect(pd.DataFrame({"prediction": to_jsonable(predictions)}), context)

    return collect


_scorer: Scorer | None = None


def init() -> None:
    """Azure ML calls this once per worker: load the model, connect to the store if the model uses one."""
    global _scorer
    import mlflow

    environment = dict(os.environ)
    model = mlflow.pyfunc.load_model(str(find_model(environment[MODEL_DIR_ENV])))
    uses_store = all(
        environment.get(k) for k in (FEATURE_SET_ENV, FEATURE_SET_VERSION_ENV, ENTITY_COLUMN_ENV)
    )
    lookup = CosmosFeatureLookup.connect(environment) if uses_store else None
    _scorer = Scorer(model, environment, lookup, _collector())
    if uses_store:
        log.info(
            "rows with only %s are filled from feature set %s version %s",
            environment[ENTITY_COLUMN_ENV],
            environment[FEATURE_SET_ENV],
            environment[FEATURE_SET_VERSION_ENV],
        )


def run(raw_data: str | bytes) -> Any:
    """Azure ML calls this per request with the body. A non-200 answer goes back as an AMLResponse
    (azureml-inference-server-http) so its status and per-row errors reach the client."""
    if _scorer is None:
        raise RuntimeError("init() has not run")
    status, body = _scorer.score(raw_data)
    if status == 200:
        return body
    try:
        from azureml_inference_server_http.api.aml_response import (
            AMLResponse,
        )
    except ImportError:  # outside the inference server (tests): the status travels with the body
        return {"status": status, **body}
    return AMLResponse(body, status, json_str=True)
