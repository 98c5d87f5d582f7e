"""The one place adapters are built: from settings, once per process, local by default.

Activities ask this module for ports (`bootstrap.data_lake()`, `bootstrap.ledger()`, ...), never
for settings or SDK clients. Azure adapters are imported lazily, so the local stack (and the unit
tests) never import azure-ai-ml or azure-cosmos. Tests swap in fakes with `override(...)`.
"""

from __future__ import annotations

import contextlib
import importlib
import subprocess
import threading
from collections.abc import Callable, Iterator
from typing import Any

from core.contract import DataContract, load_contract
from core.policy import Policy, PolicyError, load_policies
from core.ports import (
    DataLake,
    Endpoints,
    EventPublisher,
    ModelRegistry,
    RunLedger,
    TrafficStats,
    TrainingJobs,
)
from core.settings import Settings, get_settings

_lock = threading.RLock()
_cache: dict[str, Any] = {}
_overrides: dict[str, Any] = {}


def _load(module: str, name: str, why: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise RuntimeError(
            f"{why} needs {module}.{name}, which could not be imported ({exc}); "
            "is that adapter installed and committed? (LIFECYCLE_MODE chooses local or azure adapters)"
        ) from exc


def _cached(key: str, build: Callable[[], Any]) -> Any:
    if key in _overrides:
        return _overrides[key]
    with _lock:
        if key not in _cache:
            _cache[key] = build()
        return _cache[key]


def settings() -> Settings:
    return _cached("settings", get_settings)


def _azure_credential() -> Any:
    def build() -> Any:
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential(managed_identity_client_id=settings().azure_client_id)

    return _cached("azure_credential", build)


# --------------------------------------------------------------------------- policies


def policies() -> dict[str, Policy]:
    return _cached("policies", lambda: load_policies(settings().policy_dir))


def policy(model: str) -> Policy:
    found = policies()
    if model not in found:
        raise PolicyError(
            f"no lifecycle policy for model {model!r} under {settings().policy_dir} "
            f"(known: {sorted(found)}); add {{dir}}/policy.yaml with `model: {model}`"
        )
    return found[model]


def contract(model: str) -> DataContract:
    p = policy(model)
    return _cached(f"contract:{model}", lambda: load_contract(p.path(p.data.contract)))


def code_version() -> str:
    """CODE_VERSION if set (CI stamps it), else the git commit of the app, else 'unknown'."""

    def build() -> str:
        s = settings()
        if s.code_version:
            return s.code_version
        try:
            out = subprocess.run(
                ["git", "rev-parse", "HEAD"],
                cwd=s.app_root,
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            )
            return out.stdout.strip() or "unknown"
        except (OSError, subprocess.SubprocessError):
            return "unknown"

    return _cached("code_version", build)


# --------------------------------------------------------------------------- ports


def data_lake() -> DataLake:
    def build() -> DataLake:
        from adapters.azure.datalake import BlobDataLake

        s = settings()
        if s.storage_connection_string:
            return BlobDataLake.from_connection_string(s.storage_connection_string)
        s.require("storage_account_url")
        return BlobDataLake(s.storage_account_url, credential=_azure_credential())  # type: ignore[arg-type]

    return _cached("data_lake", build)


def training_jobs() -> TrainingJobs:
    def build() -> TrainingJobs:
        s = settings()
        if s.mode == "local":
            cls = _load("adapters.local.training_jobs", "LocalTrainingJobs", "LIFECYCLE_MODE=local")
            return cls(s.local_state_dir, s.tracking_uri)
        s.require("aml_subscription_id", "aml_resource_group", "aml_workspace")
        cls = _load("adapters.azure.training_jobs", "AzureMLTrainingJobs", "LIFECYCLE_MODE=azure")
        return cls.connect(_azure_credential(), s.aml_subscription_id, s.aml_resource_group, s.aml_workspace)

    return _cached("training_jobs", build)


def registry() -> ModelRegistry:
    def build() -> ModelRegistry:
        s = settings()
        if s.mode == "local":
            cls = _load("adapters.local.registry", "MlflowModelRegistry", "LIFECYCLE_MODE=local")
            return cls(s.tracking_uri)
        s.require("aml_subscription_id", "aml_resource_group", "aml_workspace")
        cls = _load("adapters.azure.registry", "AzureMLModelRegistry", "LIFECYCLE_MODE=azure")
        return cls.connect(_azure_credential(), s.aml_subscription_id, s.aml_resource_group, s.aml_workspace)

    return _cached("registry", build)


def endpoints() -> Endpoints:
    def build() -> Endpoints:
        s = settings()
        if s.mode == "local":
            cls = _load("adapters.local.endpoints", "LocalEndpoints", "LIFECYCLE_MODE=local")
            return cls(s.endpoint_server_url, s.endpoint_server_key or "")
        s.require("aml_subscription_id", "aml_resource_group", "aml_workspace")
        cls = _load("adapters.azure.endpoints", "AzureMLEndpoints", "LIFECYCLE_MODE=azure")
        return cls.connect(_azure_credential(), s.aml_subscription_id, s.aml_resource_group, s.aml_workspace)

    return _cached("endpoints", build)


def traffic_stats() -> TrafficStats:
    def build() -> TrafficStats:
        s = settings()
        if s.mode == "local":
            cls = _load("adapters.local.traffic_stats", "SqliteTrafficStats", "LIFECYCLE_MODE=local")
            return cls(s.traffic_db_file)
        s.require("log_analytics_workspace_id")
        cls = _load("adapters.azure.traffic_stats", "LogAnalyticsTrafficStats", "LIFECYCLE_MODE=azure")
        return cls.connect(_azure_credential(), s.log_analytics_workspace_id)

    return _cached("traffic_stats", build)


def ledger() -> RunLedger:
    def build() -> RunLedger:
        s = settings()
        if s.mode == "local":
            from adapters.local.ledger import SqliteRunLedger

            return SqliteRunLedger(s.ledger_file)
        s.require("cosmos_endpoint")
        cls = _load("adapters.azure.ledger", "CosmosRunLedger", "LIFECYCLE_MODE=azure")
        return cls.connect(s.cosmos_endpoint, _azure_credential(), s.cosmos_database)

    return _cached("ledger", build)


def events() -> EventPublisher:
    def build() -> EventPublisher:
        s = settings()
        cls = _load("adapters.azure.events", "EventGridEventPublisher", "publishing lifecycle events")
        s.require("events_topic_endpoint")
        if s.events_topic_key:  # local: devhost's topic endpoint checks aeg-sas-key
            return cls.with_key(s.events_topic_endpoint, s.events_topic_key)
        return cls(s.events_topic_endpoint, _azure_credential())

    return _cached("events", build)


def job_data_input(container: str, prefix: str) -> str:
    """A data lake folder as a training job input: its URL on Azure (AML mounts it), a local copy
    under LOCAL_STATE_DIR/datalake/ locally (local jobs read files). Data versions are immutable,
    so a copy that exists is reused."""
    s = settings()
    lake = data_lake()
    if s.mode == "azure":
        return lake.url(container, prefix)
    from adapters.local.training_jobs import stage_folder

    return str(stage_folder(lake, container, prefix, s.local_state_dir / "datalake"))


# --------------------------------------------------------------------------- tests


@contextlib.contextmanager
def override(**replacements: Any) -> Iterator[None]:
    """Use the given objects instead of building them (keys: settings, policies, data_lake,
    training_jobs, registry, endpoints, traffic_stats, ledger, events, code_version)."""
    with _lock:
        saved = dict(_overrides)
        _overrides.update(replacements)
    try:
        yield
    finally:
        with _lock:
            _overrides.clear()
            _overrides.update(saved)


def reset() -> None:
    """Forget every built adapter and the settings (the next call rebuilds from the environment)."""
    with _lock:
        _cache.clear()
        get_settings.cache_clear()
