"""One typed settings object, read once from the environment.

Everything configurable lives here so that activities, adapters and the bootstrap never read
os.environ themselves, and so local.settings.sample.json can document every key in one place.
Relative paths are resolved against the app root (the directory holding function_app.py), not
the current directory, because devhost and the Functions host may start from elsewhere.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

APP_ROOT = Path(__file__).resolve().parents[2]  # core/kernel/settings.py -> the app


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["local", "azure"] = "local"
    app_root: Path = APP_ROOT

    # data lake (azure-storage-blob in both modes; Azurite locally)
    storage_connection_string: str | None = None
    storage_account_url: str | None = None
    azure_client_id: str | None = None  # user-assigned managed identity (Azure)
    container_raw: str = "raw"
    container_features: str = "features"
    container_training: str = "training"
    container_quarantine: str = "quarantine"

    # policies and local state
    policy_dir: Path = APP_ROOT / "samples"
    local_state_dir: Path = APP_ROOT / ".local"
    mlflow_tracking_uri: str = ""
    ledger_path: Path | None = None
    code_version: str | None = None
    # coordinators run `lifecycle_dry_run` instead of `lifecycle`: requests are coalesced and
    # recorded, nothing is trained (event-storm benchmarks and load tests)
    lifecycle_dry_run: bool = False
    lifecycle_dry_run_seconds: int = 0  # how long a dry run takes (a durable timer), to simulate work
    # test only (0 = off): a trigger waits this long between recording a request in the ledger
    # and waking the coordinator, so an e2e test can kill the host exactly there
    test_intake_pause_seconds: int = Field(default=0, ge=0)

    # local endpoint server and its traffic log
    endpoint_server_url: str = "http://127.0.0.1:8501"
    endpoint_server_key: str | None = None
    traffic_db_path: Path | None = None

    # lifecycle events out (Event Grid topic; devhost's topic endpoint locally)
    events_topic_endpoint: str | None = None
    events_topic_key: str | None = None
    # this environment's name (dev, prod...): events go out with source
    # /mllifecycle/envs/{name}/models/{model}, so another environment can tell whose they are;
    # unset: /mllifecycle/models/{model}
    environment_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

    # the shared model registry between environments (an Azure ML registry; locally a second
    # MLflow store) that policies name in `promotion.registry` / `source.registry`
    shared_registry_name: str | None = None
    shared_registry_tracking_uri: str = ""  # local: default sqlite:///{state}/shared-registry.db

    # the local console server's shared secret: a principal header counts only next to it (core/kernel/authz.py)
    console_principal_secret: str | None = None
    # Azure: the console's Entra app registration; the app validates its bearer tokens itself
    # (adapters/azure/entra_tokens.py). Unset: the console door refuses everyone on Azure.
    console_entra_client_id: str | None = None
    console_entra_tenant_id: str | None = None

    # Azure
    aml_subscription_id: str | None = None
    aml_resource_group: str | None = None
    aml_workspace: str | None = None
    cosmos_endpoint: str | None = None
    cosmos_database: str = "mllifecycle"
    log_analytics_workspace_id: str | None = None
    # Azure Data Factory of the policies that ingest with a pipeline (data.data_factory); it lives in
    # the AML workspace's subscription and resource group
    data_factory_name: str | None = None
    # the online feature store: Cosmos DB container (on Azure in the ledger's account, COSMOS_ENDPOINT);
    # locally the Cosmos stand-in's endpoint and key
    feature_store_endpoint: str | None = None
    feature_store_key: str | None = None
    feature_store_container: str = "features"
    # the prediction log on Azure: what AML model data collection writes to the workspace's default
    # datastore (workspaceblobstore: the workspace storage account, container azureml-blobstore-<id>)
    prediction_log_account_url: str | None = None
    prediction_log_container: str | None = None
    prediction_log_prefix: str = "modelDataCollector"
    # blobs land minutes after the requests: a window is complete only this long after it ended
    prediction_log_delay_seconds: int = Field(default=600, ge=0)
    prediction_entity_column: str = "customer_id"  # the request column that identifies the entity

    @model_validator(mode="after")
    def _local_storage_defaults_to_azurite(self) -> Settings:
        if self.mode == "local" and not (self.storage_connection_string or self.storage_account_url):
            # azure-storage-blob maps this to Azurite's well-known account on 127.0.0.1:10000
            object.__setattr__(self, "storage_connection_string", "UseDevelopmentStorage=true")
        return self

    @property
    def ledger_file(self) -> Path:
        return self.ledger_path or self.local_state_dir / "ledger.db"

    @property
    def traffic_db_file(self) -> Path:
        return self.traffic_db_path or self.local_state_dir / "traffic.db"

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.local_state_dir / 'mlflow.db'}"

    @property
    def shared_registry_uri(self) -> str:
        return self.shared_registry_tracking_uri or f"sqlite:///{self.local_state_dir / 'shared-registry.db'}"

    @property
    def containers(self) -> dict[str, str]:
        return {
            "raw": self.container_raw,
            "features": self.container_features,
            "training": self.container_training,
            "quarantine": self.container_quarantine,
        }

    def require(self, *fields: str) -> None:
        """Fail early, naming the environment variables an adapter needs but did not get."""
        missing = [f for f in fields if not getattr(self, f)]
        if missing:
            names = ", ".join(ENV_KEYS[f] for f in missing)
            raise SettingsError(
                f"LIFECYCLE_MODE={self.mode} needs {names}: set them in local.settings.json "
                "(see local.settings.sample.json) or in the Function App's application settings"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        raw: dict[str, object] = {}
        for field_name, key in ENV_KEYS.items():
            value = env.get(key)
            if value is None or value == "":
                continue
            if field_name in _PATH_FIELDS:
                path = Path(value).expanduser()
                raw[field_name] = path if path.is_absolute() else APP_ROOT / path
            else:
                raw[field_name] = value
        if "mode" in raw:
            raw["mode"] = str(raw["mode"]).strip().lower()
        try:
            return cls(**raw)  # type: ignore[arg-type]
        except ValidationError as exc:
            problems = "; ".join(
                f"{ENV_KEYS.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in exc.errors()
            )
            raise SettingsError(f"invalid settings: {problems}") from None


# field -> environment variable (every one documented in local.settings.sample.json)
ENV_KEYS: dict[str, str] = {
    "mode": "LIFECYCLE_MODE",
    "storage_connection_string": "STORAGE_CONNECTION_STRING",
    "storage_account_url": "STORAGE_ACCOUNT_URL",
    "azure_client_id": "AZURE_CLIENT_ID",
    "container_raw": "CONTAINER_RAW",
    "container_features": "CONTAINER_FEATURES",
    "container_training": "CONTAINER_TRAINING",
    "container_quarantine": "CONTAINER_QUARANTINE",
    "policy_dir": "LIFECYCLE_POLICY_DIR",
    "local_state_dir": "LOCAL_STATE_DIR",
    "mlflow_tracking_uri": "MLFLOW_TRACKING_URI",
    "ledger_path": "LEDGER_PATH",
    "code_version": "CODE_VERSION",
    "lifecycle_dry_run": "LIFECYCLE_DRY_RUN",
    "lifecycle_dry_run_seconds": "LIFECYCLE_DRY_RUN_SECONDS",
    "test_intake_pause_seconds": "LIFECYCLE_TEST_INTAKE_PAUSE_SECONDS",
    "endpoint_server_url": "ENDPOINT_SERVER_URL",
    "endpoint_server_key": "ENDPOINT_SERVER_KEY",
    "traffic_db_path": "TRAFFIC_DB_PATH",
    "events_topic_endpoint": "EVENTS_TOPIC_ENDPOINT",
    "events_topic_key": "EVENTS_TOPIC_KEY",
    "environment_name": "LIFECYCLE_ENVIRONMENT",
    "shared_registry_name": "SHARED_REGISTRY_NAME",
    "shared_registry_tracking_uri": "SHARED_REGISTRY_TRACKING_URI",
    "console_principal_secret": "CONSOLE_PRINCIPAL_SECRET",
    "console_entra_client_id": "CONSOLE_ENTRA_CLIENT_ID",
    "console_entra_tenant_id": "CONSOLE_ENTRA_TENANT_ID",
    "aml_subscription_id": "AML_SUBSCRIPTION_ID",
    "aml_resource_group": "AML_RESOURCE_GROUP",
    "aml_workspace": "AML_WORKSPACE",
    "cosmos_endpoint": "COSMOS_ENDPOINT",
    "cosmos_database": "COSMOS_DATABASE",
    "log_analytics_workspace_id": "LOG_ANALYTICS_WORKSPACE_ID",
    "data_factory_name": "DATA_FACTORY_NAME",
    "feature_store_endpoint": "FEATURE_STORE_ENDPOINT",
    "feature_store_key": "FEATURE_STORE_KEY",
    "feature_store_container": "FEATURE_STORE_CONTAINER",
    "prediction_log_account_url": "PREDICTION_LOG_ACCOUNT_URL",
    "prediction_log_container": "PREDICTION_LOG_CONTAINER",
    "prediction_log_prefix": "PREDICTION_LOG_PREFIX",
    "prediction_log_delay_seconds": "PREDICTION_LOG_DELAY_SECONDS",
    "prediction_entity_column": "PREDICTION_ENTITY_COLUMN",
}
_PATH_FIELDS = {"policy_dir", "local_state_dir", "ledger_path", "traffic_db_path"}


@functools.cache
def get_settings() -> Settings:
    """The process's settings, read once (tests build their own with Settings.from_env({...}))."""
    return Settings.from_env()
