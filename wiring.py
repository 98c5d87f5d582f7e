"""The composition root, beside function_app.py: builds the adapters LIFECYCLE_MODE chooses and
hands them out as one typed `Ports` object.

Activities get `ports()` and pass what they need to core functions; nothing else reads settings
or builds SDK clients. The imports are real import statements, so mypy checks every adapter
against its port Protocol. Every adapter is imported inside its builder: the local stack and the
unit tests never import azure-ai-ml or azure-cosmos, and the Azure deployment package leaves
adapters/local/ out (.funcignore), since the local adapters need MLflow, which it does not ship. Each adapter is built once per
process, on first use (CosmosClient reads the account when it is built). Tests swap ports with
`override(...)`.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from core.kernel.authz import TokenVerifier
from core.kernel.contract import ContractError, DataContract, load_contract
from core.kernel.datafiles import Containers
from core.kernel.policy import (
    DeployOnlyPolicy,
    Policies,
    Policy,
    PolicyDirectory,
    RecentPolicies,
    StaticPolicies,
)
from core.kernel.ports import (
    BatchEndpoints,
    DataLake,
    DataPipelines,
    Endpoints,
    EventPublisher,
    FeatureSetVersion,
    LifecycleEvent,
    ModelRegistry,
    ModelRegistryShare,
    ModelVersion,
    OnlineFeatureStore,
    PipelineRun,
    PredictionLog,
    RunLedger,
    TrafficStats,
    TrainingJobs,
)
from core.kernel.settings import Settings, SettingsError, get_settings

if TYPE_CHECKING:
    from core.monitoring.monitor import DriftFigures, DriftMonitor  # pandas: loaded when a check runs


class UnconfiguredDataPipelines:
    """Stands in for Data Factory where none is configured: a policy that names a pipeline fails its
    ingest with the message that says what is missing, every other policy never calls it."""

    def __init__(self, error: SettingsError) -> None:
        self.error = error

    def start(self, pipeline: str, parameters: dict[str, Any], *, reference: str) -> PipelineRun:
        raise SettingsError(f"ingesting with Data Factory pipeline {pipeline!r}: {self.error}")

    def status(self, run_id: str) -> PipelineRun:
        raise SettingsError(f"reading Data Factory run {run_id!r}: {self.error}")

    def cancel(self, run_id: str) -> PipelineRun:
        raise SettingsError(f"cancelling Data Factory run {run_id!r}: {self.error}")


class UnconfiguredOnlineFeatureStore:
    """Stands in for the online feature store where none is configured: a policy with `online_features`
    fails its materialization saying which setting is missing; nothing else calls it."""

    def __init__(self, error: SettingsError) -> None:
        self.error = error

    def materialize(
        self, feature_set: str, version: str, vectors: dict[str, dict[str, Any]], **_: Any
    ) -> FeatureSetVersion:
        raise SettingsError(f"materializing feature set {feature_set!r}: {self.error}")

    def lookup(
        self, feature_set: str, version: str, entity_ids: list[str]
    ) -> dict[str, dict[str, Any] | None]:
        raise SettingsError(f"looking up feature set {feature_set!r}: {self.error}")

    def versions(self, feature_set: str) -> list[FeatureSetVersion]:
        return []


_NO_STORE = SettingsError(
    "no online feature store is configured (FEATURE_STORE_ENDPOINT, or COSMOS_ENDPOINT on Azure)"
)
_NO_FACTORY = SettingsError("no Data Factory is configured (DATA_FACTORY_NAME, LIFECYCLE_MODE=azure)")


@dataclass(frozen=True)
class Ports:
    """Everything the activities use from the outside world, built for one mode."""

    settings: Settings
    policies: Policies
    data_lake: DataLake
    training_jobs: TrainingJobs
    registry: ModelRegistry
    endpoints: Endpoints
    traffic_stats: TrafficStats
    prediction_log: PredictionLog
    ledger: RunLedger
    events: EventPublisher
    code_version: str
    batch_endpoints: BatchEndpoints
    # the registry shared between environments; None when SHARED_REGISTRY_NAME is unset
    model_share: ModelRegistryShare | None = None
    # ingestion by Data Factory pipelines (policies with data.data_factory)
    data_pipelines: DataPipelines = field(default_factory=lambda: UnconfiguredDataPipelines(_NO_FACTORY))
    # the online feature store (policies with online_features)
    online_features: OnlineFeatureStore = field(
        default_factory=lambda: UnconfiguredOnlineFeatureStore(_NO_STORE)
    )

    @property
    def containers(self) -> Containers:
        return Containers(**self.settings.containers)

    @property
    def job_input_root(self) -> Path | None:
        """Where data lake folders are copied for jobs: None on Azure (AML mounts the lake)."""
        return None if self.settings.mode == "azure" else self.settings.local_state_dir / "datalake"


T = TypeVar("T")
_lock = threading.RLock()
_cache: dict[str, Any] = {}
_overrides: dict[str, Any] = {}


_MISSING = object()


def _cached(key: str, build: Callable[[], T]) -> T:
    if key in _overrides:
        return _overrides[key]
    # Built ones are read without the lock: a build holds it (the drift monitor's imports take
    # seconds), and every Event Grid delivery reads several ports (issue 17).
    found = _cache.get(key, _MISSING)
    if found is not _MISSING:
        return found
    with _lock:
        if key not in _cache:
            _cache[key] = build()
        return _cache[key]


# --------------------------------------------------------------------------- builders


def settings() -> Settings:
    return _cached("settings", get_settings)


def _azure_credential() -> Any:
    def build() -> Any:
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential(managed_identity_client_id=settings().azure_client_id)

    return _cached("azure_credential", build)


def policy_store() -> Policies:
    return _cached("policies", lambda: PolicyDirectory(settings().policy_dir))


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


def data_lake() -> DataLake:
    def build() -> DataLake:
        from adapters.azure.datalake import BlobDataLake  # azure-storage-blob in both modes

        s = settings()
        if s.storage_connection_string:
            return BlobDataLake.from_connection_string(s.storage_connection_string)
        s.require("storage_account_url")
        assert s.storage_account_url is not None
        return BlobDataLake(s.storage_account_url, credential=_azure_credential())

    return _cached("data_lake", build)


def _aml_workspace(s: Settings) -> tuple[str, str, str]:
    s.require("aml_subscription_id", "aml_resource_group", "aml_workspace")
    assert s.aml_subscription_id and s.aml_resource_group and s.aml_workspace
    return s.aml_subscription_id, s.aml_resource_group, s.aml_workspace


def training_jobs() -> TrainingJobs:
    def build() -> TrainingJobs:
        s = settings()
        if s.mode == "local":
            from adapters.local.training_jobs import LocalTrainingJobs

            return LocalTrainingJobs(s.local_state_dir, s.tracking_uri)
        from adapters.azure.training_jobs import AzureMLTrainingJobs

        return AzureMLTrainingJobs.connect(_azure_credential(), *_aml_workspace(s))

    return _cached("training_jobs", build)


def workspace_registry() -> ModelRegistry:
    """This environment's own registry (MLflow locally, the Azure ML workspace on Azure)."""

    def build() -> ModelRegistry:
        s = settings()
        if s.mode == "local":
            from adapters.local.registry import MlflowModelRegistry

            return MlflowModelRegistry(s.tracking_uri)
        from adapters.azure.registry import AzureMLModelRegistry

        return AzureMLModelRegistry.connect(_azure_credential(), *_aml_workspace(s))

    return _cached("workspace_registry", build)


def registry() -> ModelRegistry:
    """The ModelRegistry port: the workspace registry, except that deploy-only models read their
    versions from the shared registry (core.environments.deploy.DeployOnlyModelRegistry)."""

    def build() -> ModelRegistry:
        from core.environments.deploy import DeployOnlyModelRegistry

        return DeployOnlyModelRegistry(workspace_registry(), model_share, deploy_only, ledger)

    return _cached("registry", build)


def model_share() -> ModelRegistryShare | None:
    """The shared registry (SHARED_REGISTRY_NAME): an Azure ML registry, or locally a second
    MLflow store (SHARED_REGISTRY_TRACKING_URI). None when the environment names none."""

    def build() -> ModelRegistryShare | None:
        s = settings()
        if not s.shared_registry_name:
            return None
        if s.mode == "local":
            from adapters.local.shared_registry import MlflowSharedRegistry

            source = s.environment_name or "dev"
            return MlflowSharedRegistry(
                s.shared_registry_name, s.shared_registry_uri, workspace_registry(), source_name=source
            )
        from adapters.azure.shared_registry import AzureMLSharedRegistry

        return AzureMLSharedRegistry.connect(_azure_credential(), *_aml_workspace(s), s.shared_registry_name)

    return _cached("model_share", build)


class LazyModelShare:
    """The shared registry, built on its first use rather than with the other ports.

    Building the Azure one (`MLClient(credential, registry_name=...)`) calls registry discovery over
    HTTP; before prod is granted AzureML Registry User (a step after `azd up`), or whenever discovery
    fails, building it with every `ports()` call failed every activity, not just promotion. Only the
    release activities use it; a failed build is not cached, so the next use tries again."""

    def __init__(self, registry: str, build: Callable[[], ModelRegistryShare | None]) -> None:
        self.registry = registry
        self._build = build

    def _share(self) -> ModelRegistryShare:
        built = self._build()
        if built is None:  # the setting went away since ports() was built
            raise SettingsError(f"the shared registry {self.registry!r} is no longer configured")
        return built

    def share(self, source: ModelVersion, *, name: str | None = None) -> ModelVersion:
        return self._share().share(source, name=name)

    def get(self, name: str, version: str) -> ModelVersion:
        return self._share().get(name, version)

    def versions(self, name: str) -> list[ModelVersion]:
        return self._share().versions(name)

    def download(self, name: str, version: str, dest: Path) -> Path:
        return self._share().download(name, version, dest)


def lazy_model_share() -> ModelRegistryShare | None:
    """None when the environment names no shared registry, else the registry built on first use."""
    if "model_share" in _overrides:
        return _overrides["model_share"]
    name = settings().shared_registry_name
    return LazyModelShare(name, model_share) if name else None


def endpoints() -> Endpoints:
    def build() -> Endpoints:
        s = settings()
        if s.mode == "local":
            from adapters.local.endpoints import LocalEndpoints

            return LocalEndpoints(s.endpoint_server_url, s.endpoint_server_key or "")
        from adapters.azure.endpoints import AzureMLEndpoints, FeatureStoreLocation

        # Deployments log what they answer (AML model data collection) when a policy judges predictions.
        gates = [p.rollout.gates for p in policies().values()]
        collect = any(g.shadow is not None or g.online_accuracy is not None for g in gates)
        # a deployment that serves by entity id reads the app's feature store with the endpoint's identity
        store = s.feature_store_endpoint or s.cosmos_endpoint
        location = (
            FeatureStoreLocation(store, s.cosmos_database, s.feature_store_container) if store else None
        )
        return AzureMLEndpoints.connect(
            _azure_credential(), *_aml_workspace(s), collect_predictions=collect, feature_store=location
        )

    return _cached("endpoints", build)


def batch_endpoints() -> BatchEndpoints:
    def build() -> BatchEndpoints:
        s = settings()
        if s.mode == "local":
            from adapters.local.batch_endpoints import LocalBatchEndpoints

            return LocalBatchEndpoints(s.local_state_dir, registry())
        from adapters.azure.batch_endpoints import AzureMLBatchEndpoints

        return AzureMLBatchEndpoints.connect(_azure_credential(), *_aml_workspace(s))

    return _cached("batch_endpoints", build)


def traffic_stats() -> TrafficStats:
    def build() -> TrafficStats:
        s = settings()
        if s.mode == "local":
            from adapters.local.traffic_stats import SqliteTrafficStats

            return SqliteTrafficStats(s.traffic_db_file)
        from adapters.azure.traffic_stats import LogAnalyticsTrafficStats

        s.require("log_analytics_workspace_id")
        assert s.log_analytics_workspace_id is not None
        return LogAnalyticsTrafficStats.connect(_azure_credential(), s.log_analytics_workspace_id)

    return _cached("traffic_stats", build)


def prediction_log() -> PredictionLog:
    def build() -> PredictionLog:
        s = settings()
        if s.mode == "local":
            from adapters.local.prediction_log import SqlitePredictionLog

            return SqlitePredictionLog(s.traffic_db_file)  # the stand-in writes it beside the traffic log
        from adapters.azure.prediction_log import AzureMLPredictionLog

        return AzureMLPredictionLog.connect(_azure_credential(), s)

    return _cached("prediction_log", build)


def ledger() -> RunLedger:
    def build() -> RunLedger:
        s = settings()
        if s.mode == "local":
            from adapters.local.ledger import SqliteRunLedger

            return SqliteRunLedger(s.ledger_file)
        from adapters.azure.ledger import CosmosRunLedger

        s.require("cosmos_endpoint")
        assert s.cosmos_endpoint is not None
        return CosmosRunLedger.connect(s.cosmos_endpoint, _azure_credential(), s.cosmos_database)

    return _cached("ledger", build)


class UnconfiguredEventPublisher:
    """Stands in for the publisher when no topic is configured: the run goes on, and each publish
    fails with the message that says which setting is missing (the orchestrator shows it)."""

    def __init__(self, error: SettingsError) -> None:
        self.error = error

    def publish(self, events: list[LifecycleEvent]) -> None:
        raise SettingsError(f"publishing lifecycle events: {self.error}")


def events() -> EventPublisher:
    def build() -> EventPublisher:
        from adapters.azure.events import EventGridEventPublisher  # Event Grid; devhost's topic locally

        s = settings()
        try:
            s.require("events_topic_endpoint")
        except SettingsError as exc:
            return UnconfiguredEventPublisher(exc)
        assert s.events_topic_endpoint is not None
        env = s.environment_name
        if s.events_topic_key:  # local: devhost's topic endpoint checks aeg-sas-key
            return EventGridEventPublisher.with_key(
                s.events_topic_endpoint, s.events_topic_key, environment=env
            )
        return EventGridEventPublisher(s.events_topic_endpoint, _azure_credential(), environment=env)

    return _cached("events", build)


def data_pipelines() -> DataPipelines:
    """Azure Data Factory (DATA_FACTORY_NAME, in the AML workspace's subscription and resource group).
    Data Factory has no local emulator: locally a policy that names a pipeline fails with why."""

    def build() -> DataPipelines:
        s = settings()
        if s.mode == "local" or not s.data_factory_name:
            why = "LIFECYCLE_MODE=azure" if s.mode == "local" else "DATA_FACTORY_NAME"
            return UnconfiguredDataPipelines(SettingsError(f"Data Factory ingestion needs {why}"))
        from adapters.azure.data_factory import DataFactoryPipelines

        subscription, resource_group, _ = _aml_workspace(s)
        return DataFactoryPipelines.connect(
            _azure_credential(), subscription, resource_group, s.data_factory_name
        )

    return _cached("data_pipelines", build)


def online_features() -> OnlineFeatureStore:
    """Cosmos DB container `features` (partition key /entityId): on Azure the ledger's account with the
    managed identity, locally the Cosmos stand-in named by FEATURE_STORE_ENDPOINT with its key."""

    def build() -> OnlineFeatureStore:
        s = settings()
        endpoint = s.feature_store_endpoint or (s.cosmos_endpoint if s.mode == "azure" else None)
        if not endpoint:
            return UnconfiguredOnlineFeatureStore(_NO_STORE)
        from adapters.azure.feature_store import CosmosOnlineFeatureStore

        if s.feature_store_key:  # the local Cosmos stand-in: a key, and its self-signed certificate
            return CosmosOnlineFeatureStore.connect(
                endpoint,
                s.feature_store_key,
                s.cosmos_database,
                s.feature_store_container,
                connection_verify=False,
            )
        return CosmosOnlineFeatureStore.connect(
            endpoint, _azure_credential(), s.cosmos_database, s.feature_store_container
        )

    return _cached("online_features", build)


def ports() -> Ports:
    """The one ports object (each adapter built once, on the first call that needs it)."""
    if "ports" in _overrides:
        return _overrides["ports"]
    return Ports(
        settings=settings(),
        policies=policy_store(),
        data_lake=data_lake(),
        training_jobs=training_jobs(),
        registry=registry(),
        endpoints=endpoints(),
        traffic_stats=traffic_stats(),
        prediction_log=prediction_log(),
        ledger=ledger(),
        events=events(),
        code_version=code_version(),
        batch_endpoints=batch_endpoints(),
        model_share=lazy_model_share(),
        data_pipelines=data_pipelines(),
        online_features=online_features(),
    )


def drift_figures() -> DriftFigures:
    def build() -> DriftFigures:
        s = settings()
        if s.mode == "local":
            from adapters.local.drift_figures import SqliteDriftFigures

            return SqliteDriftFigures(s.drift_figures_file)  # devstack/log_alerts.py alerts on it
        from adapters.azure.drift_figures import LogsIngestionDriftFigures

        return LogsIngestionDriftFigures.connect(_azure_credential(), s)

    return _cached("drift_figures", build)


def drift_monitor() -> DriftMonitor:
    """The drift monitor over the app's ports (one per process: it keeps the references it read)."""

    def build() -> DriftMonitor:
        from core.monitoring.monitor import DriftMonitor

        p = ports()
        return DriftMonitor(
            p.registry, p.data_lake, p.prediction_log, p.endpoints, p.ledger, drift_figures(), p.containers
        )

    return _cached("drift_monitor", build)


# --------------------------------------------------------------------------- for the triggers


def console_tokens() -> TokenVerifier | None:
    """The console's bearer-token check (Azure): None when no Entra registration is configured."""

    def build() -> TokenVerifier | None:
        s = settings()
        if s.mode != "azure" or not (s.console_entra_client_id and s.console_entra_tenant_id):
            return None
        from adapters.azure.entra_tokens import EntraTokenVerifier

        return EntraTokenVerifier(s.console_entra_tenant_id, s.console_entra_client_id)

    return _cached("console_tokens", build)


def policies() -> dict[str, Policy]:
    """The live policies by model (triggers route events with them; runs follow their snapshot)."""
    return policy_store().all()


def policy(model: str) -> Policy:
    return policy_store().get(model)


def deploy_only() -> dict[str, DeployOnlyPolicy]:
    """The live deploy-only policies by model (the promotions trigger routes `promoted` events)."""
    return policy_store().deploy_only()


def contract(model: str) -> DataContract:
    """The data contract of a model's live policy (the edge skips non-data objects with it);
    ContractError when it cannot load."""
    if f"contract:{model}" in _overrides:
        return _overrides[f"contract:{model}"]
    return contract_of(policy(model))


def contract_of(p: Policy) -> DataContract:
    """The data contract a policy names, kept per policy object, failures too: the policy store
    hands out the same object until a file changes, so a contract is read once per edit. A failure
    is kept as its message and raised as a new ContractError each time: one exception object raised
    again for every event would grow its traceback by that event's frames (and keep them alive)."""
    if f"contract:{p.model}" in _overrides:
        return _overrides[f"contract:{p.model}"]
    with _lock:
        found = _contracts.get(p.model)
    if found is None or found[0] is not p:
        try:
            loaded: DataContract | str = load_contract(p.path(p.data.contract))
        except Exception as exc:  # kept as its message, raised anew for every event under this policy
            loaded = str(exc) if isinstance(exc, ContractError) else f"{type(exc).__name__}: {exc}"
        found = (p, loaded)
        with _lock:
            _contracts[p.model] = found
    if isinstance(found[1], str):
        raise ContractError(found[1])
    return found[1]


_contracts: dict[str, tuple[Policy, DataContract | str]] = {}


def _edge_policies() -> Policies:
    """The live policies as the trigger side routes with them: read at most once a second
    (RecentPolicies). Given policies (tests) are used as they are."""
    store = policy_store()
    if "policies" in _overrides:
        return store
    with _lock:
        recent = _cache.get("edge_policies")
        if not isinstance(recent, RecentPolicies) or recent.store is not store:
            recent = _cache["edge_policies"] = RecentPolicies(store)
        return recent


def edge_parts() -> dict[str, Any]:
    """What the trigger side's handlers (triggers.edge.Edge) are built on: this root's ledger, live
    policies, the data lake's URL rule, the contracts and the intake pause."""
    return {
        "ledger": ledger(),
        "policies": _edge_policies(),
        "lake_url": lambda container, path: data_lake().url(container, path),
        "contract": contract_of,
        "intake_pause_seconds": settings().test_intake_pause_seconds,
    }


def built(key: str, build: Callable[[], T]) -> T:
    """One object per process, built by `build` over this root's parts (triggers.edge.edge() keeps
    its Edge here): a test's override of `key` wins, and while a test swaps any port it is built
    afresh on what was swapped."""
    if key in _overrides:
        return _overrides[key]
    if _overrides:
        return build()
    return _cached(key, build)


# --------------------------------------------------------------------------- tests


@contextlib.contextmanager
def override(**replacements: Any) -> Iterator[None]:
    """Use the given objects instead of building them: `ports=Ports(...)` swaps them all, or
    single keys swap one each (settings, policies — a Policies or a {model: Policy} mapping —,
    data_lake, training_jobs, registry, workspace_registry, model_share, endpoints, traffic_stats,
    prediction_log, ledger, events, code_version, batch_endpoints, console_tokens, data_pipelines,
    online_features, drift_figures, drift_monitor)."""
    found = replacements.get("policies")
    if isinstance(found, Mapping):
        replacements["policies"] = StaticPolicies(found)
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
        _contracts.clear()
        get_settings.cache_clear()
