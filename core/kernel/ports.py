"""Ports: what the lifecycle needs from the outside world, named by the job they do.

Each port has an Azure adapter (adapters/azure) and a local adapter (adapters/local); the one
bootstrap module (wiring.py) chooses them from settings. Nothing here imports Azure.
All methods are synchronous: activities run in the Functions worker's thread pool.

Value types returned by ports are frozen dataclasses defined here, so adapters, fakes and
activities share them. Timestamps are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from core.kernel.records import PredictionRecord

# --------------------------------------------------------------------------- data lake


@dataclass(frozen=True)
class BlobInfo:
    container: str
    path: str
    url: str
    etag: str
    size: int
    last_modified: datetime | None = None
    # user metadata, e.g. hdi_isfolder=true on the directory placeholders ADLS Gen2 writes
    metadata: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


class BlobNotFound(KeyError):
    """The blob does not exist (or is not visible to our identity)."""


@runtime_checkable
class DataLake(Protocol):
    """Blob containers `raw`, `features`, `training`, `quarantine` (names come from settings)."""

    def read(self, container: str, path: str) -> bytes: ...

    def info(self, container: str, path: str) -> BlobInfo: ...

    def write(
        self,
        container: str,
        path: str,
        data: bytes,
        *,
        overwrite: bool = False,
        metadata: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> BlobInfo:
        """Write a blob. With overwrite=False an existing blob is left alone and returned
        (content-addressed writes are idempotent)."""
        ...

    def exists(self, container: str, path: str) -> bool: ...

    def list(self, container: str, prefix: str = "") -> list[BlobInfo]: ...

    def url(self, container: str, path: str) -> str: ...


# --------------------------------------------------------------------------- training jobs

JobState = Literal["queued", "running", "completed", "failed", "canceled"]
TERMINAL_JOB_STATES: frozenset[str] = frozenset({"completed", "failed", "canceled"})


@dataclass(frozen=True)
class JobStatus:
    name: str
    state: JobState
    message: str = ""
    studio_url: str = ""
    # output name -> URI (local: file path; Azure: azureml:// URI)
    outputs: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_JOB_STATES


@runtime_checkable
class TrainingJobs(Protocol):
    """Azure ML command/pipeline jobs, described by a job YAML (AML v2 schema).

    `submit` is idempotent on `name`: submitting a name that exists returns its status and
    does not start a second job (a replayed activity must not train twice)."""

    def submit(
        self,
        job_yaml: Path,
        *,
        name: str,
        inputs: dict[str, str],
        experiment: str,
        tags: dict[str, str],
        compute: str | None = None,
    ) -> JobStatus: ...

    def status(self, name: str) -> JobStatus: ...

    def cancel(self, name: str) -> JobStatus: ...

    def download_output(self, name: str, output: str, dest: Path) -> Path:
        """Copy a named output of a finished job to `dest` and return the local path."""
        ...


# --------------------------------------------------------------------------- data pipelines

PipelineRunState = Literal["queued", "running", "succeeded", "failed", "canceled"]
TERMINAL_PIPELINE_STATES: frozenset[str] = frozenset({"succeeded", "failed", "canceled"})


@dataclass(frozen=True)
class PipelineRun:
    run_id: str
    pipeline: str
    state: PipelineRunState
    message: str = ""  # the service's own text (Data Factory's error message on a failed run)
    parameters: dict[str, str] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_PIPELINE_STATES


@runtime_checkable
class DataPipelines(Protocol):
    """Data-preparation pipelines run outside the app (Azure Data Factory): the other ingestion.

    `start` is idempotent on `reference` (the lifecycle run id, sent as the pipeline parameter
    `runId`): starting a pipeline whose run for that reference exists returns that run, so a replayed
    activity does not prepare the data twice."""

    def start(self, pipeline: str, parameters: dict[str, Any], *, reference: str) -> PipelineRun: ...

    def status(self, run_id: str) -> PipelineRun: ...

    def cancel(self, run_id: str) -> PipelineRun: ...


# --------------------------------------------------------------------------- online feature store


@dataclass(frozen=True)
class FeatureSetVersion:
    """One materialized version of a feature set (its version is the data version it came from)."""

    feature_set: str
    version: str
    entities: int
    materialized_at: datetime
    entity_column: str
    features: list[str] = field(default_factory=list)


@runtime_checkable
class OnlineFeatureStore(Protocol):
    """Feature vectors keyed by entity id, for low-latency lookups at scoring time (Cosmos DB: partition
    key = entity id). Versions live side by side, so blue and green each read the version they were
    trained on. Writes are upserts: materializing a version again rewrites the same items."""

    def materialize(
        self,
        feature_set: str,
        version: str,
        vectors: dict[str, dict[str, Any]],
        *,
        entity_column: str,
        ttl_seconds: int,
        materialized_at: datetime,
    ) -> FeatureSetVersion:
        """Upsert one vector per entity id, then record the version (written last: a version that is
        listed is complete)."""
        ...

    def lookup(
        self, feature_set: str, version: str, entity_ids: list[str]
    ) -> dict[str, dict[str, Any] | None]:
        """Each id's vector of that version, or None for an entity the store does not know."""
        ...

    def versions(self, feature_set: str) -> list[FeatureSetVersion]:
        """Materialized versions, newest first."""
        ...


# --------------------------------------------------------------------------- model registry


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: str
    source_uri: str  # where the MLflow model lives (runs:/, models:/, azureml://, file path)
    tags: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None


@runtime_checkable
class ModelRegistry(Protocol):
    """MLflow-format models with lineage tags. The champion is one version per model name
    (MLflow alias `champion` locally, tag `champion=true` on Azure ML)."""

    def register(self, name: str, source_uri: str, tags: dict[str, str]) -> ModelVersion:
        """Register a new version. Idempotent on tags['lifecycle_id']: registering the same
        lifecycle twice returns the existing version."""
        ...

    def get(self, name: str, version: str) -> ModelVersion: ...

    def versions(self, name: str) -> list[ModelVersion]: ...

    def champion(self, name: str) -> ModelVersion | None: ...

    def set_champion(self, name: str, version: str) -> None: ...

    def download(self, name: str, version: str, dest: Path) -> Path:
        """Materialise the MLflow model directory locally (for scoring/evaluation)."""
        ...


# --------------------------------------------------------------------------- online endpoints

DeploymentState = Literal["creating", "succeeded", "failed", "deleting", "missing"]


@dataclass(frozen=True)
class DeploymentInfo:
    name: str
    model_name: str
    model_version: str
    state: DeploymentState
    message: str = ""


@dataclass(frozen=True)
class EndpointInfo:
    name: str
    scoring_uri: str
    traffic: dict[str, int]  # deployment -> percent; sums to 100, or all 0
    mirror_traffic: dict[str, int]  # at most one deployment, at most 50, never one with live traffic
    deployments: dict[str, DeploymentInfo] = field(default_factory=dict)


class TrafficRuleError(ValueError):
    """A traffic or mirror split that Azure ML would refuse (same rules locally)."""


@runtime_checkable
class Endpoints(Protocol):
    """Managed online endpoints with blue/green deployments.

    Long-running operations are begun here and polled by the orchestrator with durable
    timers: no method blocks on a deployment being provisioned."""

    def ensure_endpoint(self, endpoint: str) -> EndpointInfo: ...

    def get(self, endpoint: str) -> EndpointInfo: ...

    def begin_deploy(
        self,
        endpoint: str,
        deployment: str,
        model: ModelVersion,
        *,
        instance_type: str = "Standard_DS3_v2",
        instance_count: int = 1,
        environment_variables: dict[str, str] | None = None,
    ) -> DeploymentInfo:
        """Create (or update) a deployment with 0% traffic. Idempotent for the same model."""
        ...

    def deployment(self, endpoint: str, deployment: str) -> DeploymentInfo: ...

    def set_traffic(
        self, endpoint: str, traffic: dict[str, int], mirror_traffic: dict[str, int] | None = None
    ) -> EndpointInfo:
        """Apply a split; raises TrafficRuleError for splits Azure ML would reject."""
        ...

    def invoke(self, endpoint: str, payload: dict[str, Any], deployment: str | None = None) -> Any:
        """Score `{"input_data": {"columns", "index", "data"}}`; deployment pins the request
        (header azureml-model-deployment)."""
        ...

    def delete_deployment(self, endpoint: str, deployment: str) -> None:
        """Delete a deployment; raises TrafficRuleError if it still has live traffic."""
        ...


# --------------------------------------------------------------------------- shared registry


@runtime_checkable
class ModelRegistryShare(Protocol):
    """A registry shared between environments (an Azure ML registry; locally a second MLflow
    store). Dev copies each champion here; prod deploys from here, so prod runs exactly the
    artifact dev evaluated. Versions keep their lineage tags (never the champion marks, which
    belong to one environment). Azure ML keeps the registry version's name and number and records
    the origin in the import; the local store numbers its own versions and adds `source_registry`,
    `source_model`, `source_version` tags."""

    registry: str  # the registry's name, as policies name it

    def share(self, source: ModelVersion, *, name: str | None = None) -> ModelVersion:
        """Copy `source` (a workspace/dev version) into the registry as `name` (default: the same
        name), with the same artifact bytes and its tags. Idempotent: sharing a version that was
        shared before returns the registry version made then. Azure copies in the background:
        the returned version is found by `get` once the copy has finished."""
        ...

    def get(self, name: str, version: str) -> ModelVersion:
        """A registry version; KeyError if it does not exist."""
        ...

    def versions(self, name: str) -> list[ModelVersion]: ...

    def download(self, name: str, version: str, dest: Path) -> Path:
        """Materialise the registry version's MLflow model folder under dest."""
        ...


# --------------------------------------------------------------------------- batch endpoints


@dataclass(frozen=True)
class BatchDeploymentInfo:
    name: str
    model_name: str
    model_version: str
    state: DeploymentState
    message: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True)
class BatchEndpointInfo:
    name: str
    scoring_uri: str
    default_deployment: str | None
    deployments: dict[str, BatchDeploymentInfo] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchJobStatus:
    """A batch scoring job. Predictions (one row per input row, with the model name and version
    and the scoring run id) are written under `output_uri`."""

    name: str
    endpoint: str
    deployment: str
    state: JobState
    input_uri: str
    output_uri: str
    message: str = ""
    model_name: str = ""
    model_version: str = ""
    rows: int | None = None  # rows scored, once known

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_JOB_STATES


class BatchDefaultError(ValueError):
    """An operation Azure ML refuses on a batch endpoint's default deployment (e.g. deleting it)."""


@runtime_checkable
class BatchEndpoints(Protocol):
    """Azure ML batch endpoints: one per model, deployments per model version, one default.

    As with online endpoints, long-running operations are begun here and polled by the
    orchestrator with durable timers; nothing waits on a poller."""

    def ensure_endpoint(self, endpoint: str) -> BatchEndpointInfo: ...

    def get(self, endpoint: str) -> BatchEndpointInfo:
        """The endpoint with its deployments (KeyError if it does not exist)."""
        ...

    def begin_deploy(
        self,
        endpoint: str,
        deployment: str,
        model: ModelVersion,
        *,
        compute: str | None = None,
        instance_count: int = 1,
        mini_batch_size: int = 10,
    ) -> BatchDeploymentInfo:
        """Create a deployment of `model` (not the default). Idempotent for the same model."""
        ...

    def deployment(self, endpoint: str, deployment: str) -> BatchDeploymentInfo:
        """A deployment's state; state 'missing' if it does not exist."""
        ...

    def set_default(self, endpoint: str, deployment: str) -> BatchEndpointInfo: ...

    def delete_deployment(self, endpoint: str, deployment: str) -> None:
        """Delete a deployment (idempotent); raises BatchDefaultError for the default."""
        ...

    def submit(
        self,
        endpoint: str,
        *,
        job_name: str,
        input_uri: str,
        output_uri: str,
        deployment: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> BatchJobStatus:
        """Score the CSV/Parquet file or folder at `input_uri` with `deployment` (default: the
        endpoint's default), writing predictions under `output_uri`. Idempotent on `job_name`:
        a replayed activity returns the job it started."""
        ...

    def status(self, job_name: str) -> BatchJobStatus: ...

    def download_output(self, job_name: str, dest: Path) -> Path:
        """Copy a completed job's predictions under dest and return the predictions file."""
        ...


# --------------------------------------------------------------------------- telemetry


@dataclass(frozen=True)
class DeploymentStats:
    """Aggregates of AmlOnlineEndpointTrafficLog for one deployment over one window."""

    deployment: str
    requests: int
    errors: int  # ResponseCode 5xx, 408, 424
    throttled: int  # 429 (capacity, not a model fault)
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    # number of requests with TotalDurationMs > the threshold passed to the query (None if none asked)
    slow: int | None = None
    slow_threshold_ms: float | None = None


@dataclass(frozen=True)
class WindowStats:
    endpoint: str
    start: datetime
    end: datetime
    # latest TimeGenerated known to be ingested; a window ending after it is incomplete
    ingested_until: datetime | None
    by_deployment: dict[str, DeploymentStats]
    query: str = ""  # the KQL or SQL that produced the numbers (recorded with the gate decision)


class EvidenceUnavailable(RuntimeError):
    """The telemetry a gate reads could not be read completely: a query error, a partial result
    (Log Analytics returns one even for warning-only answers), a missing table, a throttle (429).
    TrafficStats and PredictionLog raise it; the gate records the evidence as unavailable, which
    holds the step until its deadline, where the policy's action applies. Never a pass."""


@runtime_checkable
class TrafficStats(Protocol):
    """Raises EvidenceUnavailable when the window cannot be read completely."""

    def window(
        self,
        endpoint: str,
        deployments: list[str],
        start: datetime,
        end: datetime,
        *,
        slow_threshold_ms: float | None = None,
    ) -> WindowStats: ...


# --------------------------------------------------------------------------- prediction log


@dataclass(frozen=True)
class PredictionWindow:
    records: list[PredictionRecord]  # core.rollout.predictions.PredictionRecord
    ingested_until: datetime | None  # the log is complete up to here


@runtime_checkable
class PredictionLog(Protocol):
    """What each deployment answered, per request (mirrored copies included, carrying the id of the
    request they copy): the shadow and online accuracy gates read it (core/rollout/prediction_evidence.py).
    Locally the endpoint stand-in's table (core/rollout/prediction_table.py); on Azure, model data
    collection."""

    def window(
        self, endpoint: str, deployments: list[str], start: datetime, end: datetime
    ) -> PredictionWindow: ...


# --------------------------------------------------------------------------- run ledger


@dataclass(frozen=True)
class RunRecord:
    """One lifecycle run of one model."""

    run_id: str  # = orchestration instance id
    model: str
    status: str  # running | rejected | kept | promoted | rolled_back | failed | aborted | registered
    stage: str  # ingest | train | evaluate | register | deploy | smoke | ramp | promote | done
    trigger: dict[str, Any] = field(default_factory=dict)
    data_version: str | None = None
    job_name: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    decision: dict[str, Any] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
    challenger_version: str | None = None
    champion_version: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    etag: str | None = None


def merge_run_changes(current: RunRecord, changes: dict[str, Any]) -> RunRecord:
    """The RunLedger.update_run semantics every adapter shares: fields are replaced, except dict
    fields, which are merged shallowly (so a stage can add a metric without losing the others)."""
    merged: dict[str, Any] = {}
    for key, value in changes.items():
        old = getattr(current, key)
        merged[key] = {**old, **value} if isinstance(old, dict) and isinstance(value, dict) else value
    return replace(current, **merged)


@dataclass(frozen=True)
class LedgerEntry:
    """An append-only fact about a run: a step, a gate evaluation, a traffic change, a decision."""

    run_id: str
    kind: str  # step | gate | traffic | decision | request | event | error
    data: dict[str, Any]
    at: datetime
    seq: int = 0


@dataclass(frozen=True)
class RetrainRequest:
    """A trigger's ask for a retrain of one model. `dedupe_key` identifies the delivery
    (event id, blob url+etag, alert id+condition, operator request id)."""

    request_id: str
    model: str
    source: str  # blob | alert | schedule | operator | aml_monitor
    dedupe_key: str
    received_at: datetime
    details: dict[str, Any] = field(default_factory=dict)
    consumed_by: str | None = None  # run_id that consumed it
    held_reason: str | None = None  # why it is waiting (budget, debounce)


@dataclass(frozen=True)
class RequestRecorded:
    """What recording a request tells the edge: whether it is new (False: its dedupe_key was seen
    before, nothing stored) and whether another request of its model waits unconsumed."""

    accepted: bool
    others_pending: bool


class ConcurrencyConflict(RuntimeError):
    """An optimistic-concurrency write lost (etag mismatch): re-read and retry."""


@runtime_checkable
class RunLedger(Protocol):
    # runs
    def put_run(self, record: RunRecord) -> RunRecord:
        """Create or replace; if record.etag is set the write is conditional on it."""
        ...

    def get_run(self, run_id: str) -> RunRecord | None: ...

    def update_run(self, run_id: str, **changes: Any) -> RunRecord:
        """Read-modify-write with etag retry; dict fields are merged shallowly."""
        ...

    def list_runs(
        self, model: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[RunRecord]: ...

    # append-only entries
    def append(self, run_id: str, kind: str, data: dict[str, Any]) -> LedgerEntry: ...

    def entries(self, run_id: str, kind: str | None = None) -> list[LedgerEntry]: ...

    # idempotency and coalescing
    def add_request(self, request: RetrainRequest) -> bool:
        """Record a request; False (and nothing stored) if its dedupe_key was seen before."""
        ...

    def pending_requests(self, model: str) -> list[RetrainRequest]: ...

    def pending_besides(self, model: str, request_id: str) -> bool:
        """True when a request of the model other than `request_id` waits unconsumed (one cheap
        lookup: the edge needs to know, not the list)."""
        ...

    def record_requests(self, requests: list[RetrainRequest]) -> list[RequestRecorded]:
        """add_request then pending_besides for each request, answered in order: the edge records
        the deliveries that arrive together in one call (one transaction where the store has
        them, concurrent round trips where it does not)."""
        ...

    def consume_requests(self, model: str, request_ids: list[str], run_id: str) -> None: ...

    def requests_for_run(self, run_id: str) -> list[RetrainRequest]: ...


# --------------------------------------------------------------------------- events out


@dataclass(frozen=True)
class LifecycleEvent:
    """Published as a CloudEvent 1.0: type `mllifecycle.<kind>` (e.g. mllifecycle.promoted),
    source `/mllifecycle/envs/{environment}/models/{model}` (`/mllifecycle/models/{model}` when
    the environment has no name), subject `lifecycles/{run_id}`."""

    id: str
    type: str
    model: str
    run_id: str
    time: datetime
    data: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class EventPublisher(Protocol):
    def publish(self, events: list[LifecycleEvent]) -> None: ...
