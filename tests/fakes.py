"""Hand-written fakes of every port in core/kernel/ports.py, with state tests can inspect and steer.

They keep the ports' promises (idempotent submit and register, conditional ledger writes, request
dedupe, Azure ML's traffic rules) so code that passes against them is not leaning on shortcuts.
Extend them here (one module) rather than writing mocks.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.kernel.policy import Policy, StaticPolicies
from core.kernel.ports import (
    BatchDefaultError,
    BatchDeploymentInfo,
    BatchEndpointInfo,
    BatchJobStatus,
    BlobInfo,
    BlobNotFound,
    ConcurrencyConflict,
    DeploymentInfo,
    DeploymentStats,
    EndpointInfo,
    FeatureSetVersion,
    JobStatus,
    LedgerEntry,
    LifecycleEvent,
    ModelVersion,
    PipelineRun,
    PredictionWindow,
    RequestRecorded,
    RetrainRequest,
    RunRecord,
    TrafficRuleError,
    WindowStats,
    merge_run_changes,
)
from core.kernel.records import PredictionRecord
from core.kernel.settings import Settings
from wiring import Ports


def _now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- data lake


class FakeDataLake:
    """Blobs in a dict keyed by (container, path); `writes` lists every write that changed state,
    `reads` every download."""

    def __init__(self, base_url: str = "https://fake.blob.core.windows.net") -> None:
        self.base_url = base_url.rstrip("/")
        self.blobs: dict[tuple[str, str], bytes] = {}
        self.metadata: dict[tuple[str, str], dict[str, str]] = {}
        self.etags: dict[tuple[str, str], str] = {}
        self.writes: list[tuple[str, str]] = []
        self.reads: list[tuple[str, str]] = []  # every read (downloads), in order
        self._counter = itertools.count(1)

    def put(self, container: str, path: str, data: bytes) -> BlobInfo:
        """Test helper: land a blob (as a producer would)."""
        return self.write(container, path, data, overwrite=True)

    def _get(self, container: str, path: str) -> bytes:
        try:
            return self.blobs[(container, path)]
        except KeyError:
            raise BlobNotFound(f"{container}/{path}") from None

    def read(self, container: str, path: str) -> bytes:
        self.reads.append((container, path))
        return self._get(container, path)

    def info(self, container: str, path: str) -> BlobInfo:
        data = self._get(container, path)
        key = (container, path)
        return BlobInfo(
            container, path, self.url(*key), self.etags[key], len(data), metadata=dict(self.metadata[key])
        )

    def write(self, container, path, data, *, overwrite=False, metadata=None, content_type=None) -> BlobInfo:
        key = (container, path)
        if key in self.blobs and not overwrite:
            return self.info(container, path)
        self.blobs[key] = bytes(data)
        self.metadata[key] = dict(metadata or {})
        self.etags[key] = f'"0x{next(self._counter):08X}"'
        self.writes.append(key)
        return self.info(container, path)

    def exists(self, container: str, path: str) -> bool:
        return (container, path) in self.blobs

    def list(self, container: str, prefix: str = "") -> list[BlobInfo]:
        return [self.info(c, p) for (c, p) in sorted(self.blobs) if c == container and p.startswith(prefix)]

    def url(self, container: str, path: str) -> str:
        return f"{self.base_url}/{container}/{path}"

    def paths(self, container: str) -> list[str]:
        return sorted(p for (c, p) in self.blobs if c == container)


# --------------------------------------------------------------------------- training jobs


@dataclasses.dataclass
class FakeJob:
    name: str
    job_yaml: Path
    inputs: dict[str, str]
    experiment: str
    tags: dict[str, str]
    compute: str | None
    state: str = "queued"
    message: str = ""
    outputs: dict[str, str] = dataclasses.field(default_factory=dict)
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    files: dict[str, dict[str, bytes]] = dataclasses.field(default_factory=dict)  # output -> {file: bytes}
    polls: int = 0


class FakeTrainingJobs:
    """Jobs advance by script: each job is `completed` after `polls_to_finish` status calls
    (0 = done at submit), unless a test sets its state. `on_submit(job)` lets a test decide the
    outcome (e.g. write the evaluation metrics for the job's inputs)."""

    def __init__(self, polls_to_finish: int = 1, on_submit: Callable[[FakeJob], None] | None = None) -> None:
        self.jobs: dict[str, FakeJob] = {}
        self.submissions: list[str] = []  # every submit call, duplicates included
        self.cancelled: list[str] = []
        self.polls_to_finish = polls_to_finish
        self.on_submit = on_submit
        self.final_state = "completed"

    def _status(self, job: FakeJob) -> JobStatus:
        return JobStatus(
            job.name,
            job.state,
            job.message,
            f"https://studio.fake/jobs/{job.name}",
            dict(job.outputs),
            dict(job.metrics),
        )  # type: ignore[arg-type]

    def submit(self, job_yaml, *, name, inputs, experiment, tags, compute=None) -> JobStatus:
        self.submissions.append(name)
        if name in self.jobs:
            return self._status(self.jobs[name])
        job = FakeJob(name, Path(job_yaml), dict(inputs), experiment, dict(tags), compute)
        job.outputs = {
            "model": f"file:///fake/jobs/{name}/model",
            "metrics": f"file:///fake/jobs/{name}/metrics",
        }
        self.jobs[name] = job
        if self.on_submit:
            self.on_submit(job)
        if self.polls_to_finish == 0 and job.state == "queued":
            job.state = self.final_state
        return self._status(job)

    def status(self, name: str) -> JobStatus:
        job = self.jobs[name]
        job.polls += 1
        if job.state in ("queued", "running"):
            job.state = self.final_state if job.polls >= self.polls_to_finish else "running"
        return self._status(job)

    def cancel(self, name: str) -> JobStatus:
        job = self.jobs[name]
        self.cancelled.append(name)
        if job.state in ("queued", "running"):
            job.state = "canceled"
        return self._status(job)

    def download_output(self, name: str, output: str, dest: Path) -> Path:
        job = self.jobs[name]
        if job.state != "completed":
            raise RuntimeError(f"job {name} is {job.state}: it has no outputs")
        if output not in job.files:
            raise KeyError(f"job {name} has no output {output!r}")
        folder = Path(dest) / output
        folder.mkdir(parents=True, exist_ok=True)
        for file, data in job.files[output].items():
            (folder / file).write_bytes(data)
        return folder


# --------------------------------------------------------------------------- data pipelines


class FakeDataPipelines:
    """Data Factory by script: a run is `final_state` (with `message`) after `polls_to_finish` status
    reads. On success it runs `body(parameters)`, which by default does what the sample's pipeline does:
    copy the named raw CSVs to Parquet under {featuresContainer}/{featuresFolder}/ (a test passes
    another body to write bad output). `start` is idempotent on the reference, like the adapter."""

    def __init__(self, lake: FakeDataLake, polls_to_finish: int = 2) -> None:
        self.lake = lake
        self.runs: dict[str, PipelineRun] = {}
        self.parameters: dict[str, dict[str, Any]] = {}  # run id -> the parameters it was started with
        self.polls: dict[str, int] = {}
        self.starts: list[tuple[str, dict[str, Any]]] = []  # every start call, duplicates included
        self.cancelled: list[str] = []
        self.polls_to_finish = polls_to_finish
        self.final_state = "succeeded"
        self.message = ""
        self.body: Callable[[dict[str, Any]], None] = self.copy_raw_to_features

    def copy_raw_to_features(self, parameters: dict[str, Any]) -> None:
        import pandas as pd

        from core.kernel.datafiles import read_csv, to_parquet

        frames = [
            read_csv(self.lake.read(parameters["sourceContainer"], p)) for p in parameters["sourcePaths"]
        ]
        frame = pd.concat(frames, ignore_index=True)
        for column in frame.columns:  # the Copy activity's column mapping types the columns
            numeric = pd.to_numeric(frame[column], errors="coerce")
            if numeric.notna().all():
                frame[column] = numeric
        folder = parameters["featuresFolder"]
        self.lake.write(parameters["featuresContainer"], f"{folder}/part-00000.parquet", to_parquet(frame))

    def start(self, pipeline: str, parameters: dict[str, Any], *, reference: str) -> PipelineRun:
        self.starts.append((pipeline, dict(parameters)))
        for run in self.runs.values():
            if run.parameters.get("runId") == reference:
                return run
        run_id = f"adf-{len(self.runs) + 1:04d}"
        params = {k: json.dumps(v) if not isinstance(v, str) else v for k, v in parameters.items()}
        self.runs[run_id] = PipelineRun(run_id, pipeline, "queued", parameters=params)
        self.polls[run_id] = 0
        self.parameters[run_id] = dict(parameters)
        return self.runs[run_id]

    def status(self, run_id: str) -> PipelineRun:
        run = self.runs[run_id]
        self.polls[run_id] += 1
        if not run.done:
            if self.polls[run_id] >= self.polls_to_finish:
                if self.final_state == "succeeded":
                    self.body(self.parameters[run_id])
                run = dataclasses.replace(run, state=self.final_state, message=self.message)  # type: ignore[arg-type]
            else:
                run = dataclasses.replace(run, state="running")
            self.runs[run_id] = run
        return run

    def cancel(self, run_id: str) -> PipelineRun:
        self.cancelled.append(run_id)
        run = self.runs[run_id]
        if not run.done:
            self.runs[run_id] = run = dataclasses.replace(run, state="canceled", message="Cancelled by user")
        return run


# --------------------------------------------------------------------------- online feature store


class FakeOnlineFeatureStore:
    """Vectors in a dict keyed by (feature set, version, entity id); `versions` newest first."""

    def __init__(self) -> None:
        self.vectors: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.ttl: dict[tuple[str, str, str], int] = {}
        self.recorded: list[FeatureSetVersion] = []
        self.lookups: list[list[str]] = []

    def materialize(self, feature_set, version, vectors, *, entity_column, ttl_seconds, materialized_at):
        for entity, features in vectors.items():
            self.vectors[(feature_set, version, entity)] = dict(features)
            self.ttl[(feature_set, version, entity)] = ttl_seconds
        names = sorted({k for v in vectors.values() for k in v})
        record = FeatureSetVersion(feature_set, version, len(vectors), materialized_at, entity_column, names)
        self.recorded = [r for r in self.recorded if (r.feature_set, r.version) != (feature_set, version)]
        self.recorded.append(record)
        return record

    def lookup(self, feature_set, version, entity_ids):
        self.lookups.append(list(entity_ids))
        return {e: self.vectors.get((feature_set, version, e)) for e in entity_ids}

    def versions(self, feature_set):
        mine = [r for r in self.recorded if r.feature_set == feature_set]
        return sorted(mine, key=lambda r: r.materialized_at, reverse=True)


def evaluation_metrics(
    challenger: float, champion: float | None, metric: str = "auc", rows: int = 100
) -> dict[str, bytes]:
    """The evaluation job's `metrics` output as samples/churn/evaluate.py writes it."""
    body = {
        "challenger": {metric: challenger, "n": rows},
        "champion": None if champion is None else {metric: champion, "n": rows},
        "eval_rows": rows,
    }
    return {"metrics.json": json.dumps(body).encode()}


# --------------------------------------------------------------------------- model registry


class FakeModelRegistry:
    def __init__(self) -> None:
        self.models: dict[str, list[ModelVersion]] = {}
        self.champions: dict[str, str] = {}
        self.register_calls = 0

    def register(self, name: str, source_uri: str, tags: dict[str, str]) -> ModelVersion:
        self.register_calls += 1
        lifecycle_id = tags.get("lifecycle_id")
        for v in self.models.get(name, []):
            if lifecycle_id and v.tags.get("lifecycle_id") == lifecycle_id:
                return v
        versions = self.models.setdefault(name, [])
        mv = ModelVersion(name, str(len(versions) + 1), source_uri, dict(tags), _now())
        versions.append(mv)
        return mv

    def get(self, name: str, version: str) -> ModelVersion:
        for v in self.models.get(name, []):
            if v.version == version:
                return v
        raise KeyError(f"model {name} version {version} not found")

    def versions(self, name: str) -> list[ModelVersion]:
        return list(self.models.get(name, []))

    def champion(self, name: str) -> ModelVersion | None:
        version = self.champions.get(name)
        return self.get(name, version) if version else None

    def set_champion(self, name: str, version: str) -> None:
        self.get(name, version)
        self.champions[name] = version

    def download(self, name: str, version: str, dest: Path) -> Path:
        mv = self.get(name, version)
        Path(dest).mkdir(parents=True, exist_ok=True)
        (Path(dest) / "MLmodel").write_text(f"source: {mv.source_uri}\n")
        return Path(dest)


class FakeModelRegistryShare:
    """The shared registry: copies keep the dev version's tags (never its champion marks) and
    number their own versions, like the local MLflow store; `copy_polls` makes a copy readable
    only after that many `get`s (Azure ML imports in the background)."""

    def __init__(self, registry: str, source: FakeModelRegistry, copy_polls: int = 0) -> None:
        self.registry = registry
        self.source = source
        self.store = FakeModelRegistry()
        self.copy_polls = copy_polls
        self._pending: dict[tuple[str, str], int] = {}

    def share(self, source: ModelVersion, *, name: str | None = None) -> ModelVersion:
        for v in self.store.versions(name or source.name):
            if v.tags.get("source_version") == source.version:
                return v
        tags = {k: v for k, v in source.tags.items() if k not in ("champion", "champion_since")}
        tags.update(source_model=source.name, source_version=source.version)
        copy = self.store.register(name or source.name, f"shared://{self.registry}/{source.name}", tags)
        self._pending[(copy.name, copy.version)] = self.copy_polls
        return copy

    def get(self, name: str, version: str) -> ModelVersion:
        left = self._pending.get((name, version), 0)
        if left > 0:
            self._pending[(name, version)] = left - 1
            raise KeyError(f"{name}:{version} is still being copied")
        return self.store.get(name, version)

    def versions(self, name: str) -> list[ModelVersion]:
        return self.store.versions(name)

    def download(self, name: str, version: str, dest: Path) -> Path:
        return self.store.download(name, version, dest)


# --------------------------------------------------------------------------- endpoints


class FakeEndpoints:
    """Deployments become `succeeded` after `polls_to_ready` deployment() calls; traffic rules as Azure ML."""

    def __init__(self, polls_to_ready: int = 1) -> None:
        self.endpoints: dict[str, EndpointInfo] = {}
        self.polls: dict[tuple[str, str], int] = {}
        self.polls_to_ready = polls_to_ready
        self.invocations: list[tuple[str, str | None, dict[str, Any]]] = []
        self.score: Callable[[str, dict[str, Any]], Any] = lambda deployment, payload: (
            [0.5] * len(payload.get("input_data", {}).get("data", []))
        )
        self.traffic_history: list[tuple[dict[str, int], dict[str, int]]] = []

    def ensure_endpoint(self, endpoint: str) -> EndpointInfo:
        if endpoint not in self.endpoints:
            self.endpoints[endpoint] = EndpointInfo(endpoint, f"https://{endpoint}.fake/score", {}, {}, {})
        return self.endpoints[endpoint]

    def get(self, endpoint: str) -> EndpointInfo:
        if endpoint not in self.endpoints:
            raise KeyError(f"endpoint {endpoint} not found")
        return self.endpoints[endpoint]

    def begin_deploy(
        self,
        endpoint,
        deployment,
        model,
        *,
        instance_type="Standard_DS3_v2",
        instance_count=1,
        environment_variables=None,
    ):
        ep = self.ensure_endpoint(endpoint)
        info = DeploymentInfo(deployment, model.name, model.version, "creating")
        existing = ep.deployments.get(deployment)
        if existing and (existing.model_name, existing.model_version) == (model.name, model.version):
            return existing
        self.polls[(endpoint, deployment)] = 0
        self.endpoints[endpoint] = dataclasses.replace(ep, deployments={**ep.deployments, deployment: info})
        return info

    def deployment(self, endpoint: str, deployment: str) -> DeploymentInfo:
        ep = self.get(endpoint)
        info = ep.deployments.get(deployment)
        if info is None:
            return DeploymentInfo(deployment, "", "", "missing")
        key = (endpoint, deployment)
        self.polls[key] = self.polls.get(key, 0) + 1
        if info.state == "creating" and self.polls[key] >= self.polls_to_ready:
            info = dataclasses.replace(info, state="succeeded")
            self.endpoints[endpoint] = dataclasses.replace(
                ep, deployments={**ep.deployments, deployment: info}
            )
        return info

    def set_traffic(self, endpoint, traffic, mirror_traffic=None) -> EndpointInfo:
        ep = self.get(endpoint)
        mirror = dict(mirror_traffic if mirror_traffic is not None else ep.mirror_traffic)
        for d in [*traffic, *mirror]:
            if d not in ep.deployments:
                raise TrafficRuleError(f"deployment {d} does not exist on {endpoint}")
        total = sum(traffic.values())
        if any(v < 0 or v > 100 for v in traffic.values()) or total not in (0, 100):
            raise TrafficRuleError(f"traffic must sum to 100 (or all 0), got {traffic}")
        if len([v for v in mirror.values() if v]) > 1 or any(v > 50 or v < 0 for v in mirror.values()):
            raise TrafficRuleError(
                f"mirror traffic goes to at most one deployment, at most 50%, got {mirror}"
            )
        if any(mirror.get(d, 0) and traffic.get(d, 0) for d in mirror):
            raise TrafficRuleError("a deployment cannot receive live and mirrored traffic")
        new = dataclasses.replace(
            ep, traffic=dict(traffic), mirror_traffic={k: v for k, v in mirror.items() if v}
        )
        self.endpoints[endpoint] = new
        self.traffic_history.append((dict(new.traffic), dict(new.mirror_traffic)))
        return new

    def invoke(self, endpoint: str, payload: dict[str, Any], deployment: str | None = None) -> Any:
        self.get(endpoint)
        self.invocations.append((endpoint, deployment, payload))
        return self.score(deployment or "", payload)

    def delete_deployment(self, endpoint: str, deployment: str) -> None:
        ep = self.get(endpoint)
        if ep.traffic.get(deployment, 0):
            raise TrafficRuleError(
                f"deployment {deployment} still has {ep.traffic[deployment]}% live traffic"
            )
        deployments = {k: v for k, v in ep.deployments.items() if k != deployment}
        self.endpoints[endpoint] = dataclasses.replace(
            ep,
            deployments=deployments,
            traffic={k: v for k, v in ep.traffic.items() if k != deployment},
            mirror_traffic={k: v for k, v in ep.mirror_traffic.items() if k != deployment},
        )


# --------------------------------------------------------------------------- batch endpoints


class FakeBatchEndpoints:
    """Batch endpoints in memory. Deployments are `succeeded` after `polls_to_ready` deployment()
    calls (a model in `broken_versions` scores NaN: a smoke test must catch it); a job reads the
    CSV/Parquet files of its (local) input, and completes after `polls_to_finish` status() calls
    with `score(deployment, frame)` as its predictions. Submit is idempotent on the job name."""

    def __init__(self, polls_to_ready: int = 1, polls_to_finish: int = 1) -> None:
        self.endpoints: dict[str, BatchEndpointInfo] = {}
        self.polls: dict[tuple[str, str], int] = {}
        self.polls_to_ready = polls_to_ready
        self.polls_to_finish = polls_to_finish
        self.broken_versions: set[str] = set()
        self.failing_jobs: set[str] = set()  # job names that end failed
        self.jobs: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []
        self.defaults: list[str] = []  # every set_default, in order
        self._clock = itertools.count()

    def ensure_endpoint(self, endpoint: str) -> BatchEndpointInfo:
        if endpoint not in self.endpoints:
            self.endpoints[endpoint] = BatchEndpointInfo(endpoint, f"https://{endpoint}.fake/jobs", None, {})
        return self.endpoints[endpoint]

    def get(self, endpoint: str) -> BatchEndpointInfo:
        if endpoint not in self.endpoints:
            raise KeyError(f"batch endpoint {endpoint} not found")
        return self.endpoints[endpoint]

    def add(self, endpoint: str, name: str, version: str, *, default: bool = False, age: int = 0) -> None:
        """A deployment that exists already (tests set up an endpoint's history with it)."""
        ep = self.ensure_endpoint(endpoint)
        created = datetime(2026, 1, 1, tzinfo=UTC).replace(day=1 + age)
        info = BatchDeploymentInfo(name, "churn", version, "succeeded", created_at=created)
        self.endpoints[endpoint] = dataclasses.replace(
            ep,
            deployments={**ep.deployments, name: info},
            default_deployment=name if default else ep.default_deployment,
        )

    def begin_deploy(
        self, endpoint, deployment, model, *, compute=None, instance_count=1, mini_batch_size=10
    ):
        ep = self.get(endpoint)
        existing = ep.deployments.get(deployment)
        if existing and (existing.model_name, existing.model_version) == (model.name, model.version):
            return existing
        created = datetime(2026, 2, 1, tzinfo=UTC) + timedelta(minutes=next(self._clock))
        info = BatchDeploymentInfo(deployment, model.name, model.version, "creating", created_at=created)
        self.polls[(endpoint, deployment)] = 0
        self.endpoints[endpoint] = dataclasses.replace(ep, deployments={**ep.deployments, deployment: info})
        return info

    def deployment(self, endpoint: str, deployment: str) -> BatchDeploymentInfo:
        ep = self.get(endpoint)
        info = ep.deployments.get(deployment)
        if info is None:
            return BatchDeploymentInfo(deployment, "", "", "missing")
        key = (endpoint, deployment)
        self.polls[key] = self.polls.get(key, 0) + 1
        if info.state == "creating" and self.polls[key] >= self.polls_to_ready:
            info = dataclasses.replace(info, state="succeeded")
            self.endpoints[endpoint] = dataclasses.replace(
                ep, deployments={**ep.deployments, deployment: info}
            )
        return info

    def set_default(self, endpoint: str, deployment: str) -> BatchEndpointInfo:
        ep = self.get(endpoint)
        dep = ep.deployments.get(deployment)
        if dep is None or dep.state != "succeeded":
            raise ValueError(f"deployment {deployment} is not a succeeded deployment of {endpoint}")
        self.defaults.append(deployment)
        self.endpoints[endpoint] = dataclasses.replace(ep, default_deployment=deployment)
        return self.endpoints[endpoint]

    def delete_deployment(self, endpoint: str, deployment: str) -> None:
        ep = self.get(endpoint)
        if deployment not in ep.deployments:
            return
        if ep.default_deployment == deployment:
            raise BatchDefaultError(f"{deployment} is the default of {endpoint}")
        self.deleted.append(deployment)
        self.endpoints[endpoint] = dataclasses.replace(
            ep, deployments={k: v for k, v in ep.deployments.items() if k != deployment}
        )

    def submit(
        self, endpoint, *, job_name, input_uri, output_uri, deployment=None, tags=None
    ) -> BatchJobStatus:
        if job_name in self.jobs:
            return self.status(job_name)
        ep = self.get(endpoint)
        chosen = deployment or ep.default_deployment
        dep = ep.deployments.get(chosen or "")
        if dep is None or dep.state != "succeeded":
            raise ValueError(f"batch endpoint {endpoint} has no succeeded deployment {chosen!r}")
        import pandas as pd

        from adapters.local.batch_endpoints import input_files

        files = input_files(Path(input_uri.removeprefix("file://")))
        frame = pd.concat(
            [pd.read_csv(f) if f.suffix == ".csv" else pd.read_parquet(f) for f in files], ignore_index=True
        )
        self.jobs[job_name] = {
            "endpoint": endpoint,
            "deployment": chosen,
            "model": dep,
            "input_uri": input_uri,
            "output_uri": output_uri,
            "rows": len(frame),
            "columns": list(frame.columns),
            "tags": dict(tags or {}),
            "polls": 0,
        }
        return self.status(job_name)

    def status(self, job_name: str) -> BatchJobStatus:
        job = self.jobs.get(job_name)
        if job is None:
            raise KeyError(f"no batch job {job_name}")
        job["polls"] += 1
        state = "running"
        if job["polls"] > self.polls_to_finish:
            state = "failed" if job_name in self.failing_jobs else "completed"
        dep: BatchDeploymentInfo = job["model"]
        return BatchJobStatus(
            job_name,
            job["endpoint"],
            job["deployment"],
            state,
            job["input_uri"],
            job["output_uri"],
            message="scoring failed: boom" if state == "failed" else "",
            model_name=dep.model_name,
            model_version=dep.model_version,
            rows=job["rows"] if state == "completed" else None,
        )

    def download_output(self, job_name: str, dest: Path) -> Path:
        """predictions.csv as an MLflow batch deployment writes it (how-to-mlflow-batch.md; the
        official notebook heart-classifier-mlflow/mlflow-for-batch-tabular.ipynb reads it with
        names=["row", "prediction", "file"]): no header row."""
        job = self.jobs[job_name]
        dep: BatchDeploymentInfo = job["model"]
        value = "" if dep.model_version in self.broken_versions else "0.25"
        dest.mkdir(parents=True, exist_ok=True)
        # what an MLflow batch deployment writes: no header; row, prediction, file (core/batch/runs.py)
        lines = [f"{i},{value},input.csv" for i in range(job["rows"])]
        (dest / "predictions.csv").write_text("\n".join(lines) + "\n")
        return dest / "predictions.csv"


# --------------------------------------------------------------------------- telemetry


class FakeTrafficStats:
    """Returns the stats a test put in `stats[deployment]` (or an empty window)."""

    def __init__(self) -> None:
        self.stats: dict[str, DeploymentStats] = {}
        self.ingested_until: datetime | None = None
        self.queries: list[tuple[str, list[str], datetime, datetime]] = []

    def window(self, endpoint, deployments, start, end, *, slow_threshold_ms=None) -> WindowStats:
        self.queries.append((endpoint, list(deployments), start, end))
        by = {d: self.stats.get(d, DeploymentStats(d, 0, 0, 0, None, None, None)) for d in deployments}
        if slow_threshold_ms is not None:
            by = {d: self._over(s, slow_threshold_ms) for d, s in by.items()}
        return WindowStats(endpoint, start, end, self.ingested_until or end, by, query="fake")

    @staticmethod
    def _over(s: DeploymentStats, threshold: float) -> DeploymentStats:
        """Requests above a threshold: the stats' own `slow` at its own threshold; at or beyond the
        deployment's p99, the 1% its p99 leaves above (a world with no worse tail than its p99 says)."""
        if s.slow_threshold_ms == threshold or s.p99_ms is None or threshold < s.p99_ms:
            return dataclasses.replace(s, slow_threshold_ms=threshold)
        return dataclasses.replace(s, slow=s.requests // 100, slow_threshold_ms=threshold)


class FakePredictionLog:
    """Returns the records a test put in `records` that fall in the window (by endpoint, deployment
    and time), or, if a test set `answer`, the records it gives for the window (a world that answers
    whatever window is asked: orchestrator tests run on a skipping clock); `ingested_until` None
    means "complete up to the window's end"."""

    def __init__(self, endpoint: str = "churn-endpoint") -> None:
        self.endpoint = endpoint
        self.records: list[PredictionRecord] = []
        self.answer: Callable[[datetime, datetime], list[PredictionRecord]] | None = None
        self.ingested_until: datetime | None = None
        self.queries: list[tuple[str, list[str], datetime, datetime]] = []

    def add(self, *records: PredictionRecord) -> None:
        self.records.extend(records)

    def window(
        self, endpoint: str, deployments: list[str], start: datetime, end: datetime
    ) -> PredictionWindow:
        self.queries.append((endpoint, list(deployments), start, end))
        if endpoint != self.endpoint:
            return PredictionWindow([], self.ingested_until or end)
        if self.answer is not None:
            return PredictionWindow(
                [r for r in self.answer(start, end) if r.deployment in deployments],
                self.ingested_until or end,
            )
        chosen = [
            r
            for r in self.records
            if r.deployment in deployments and start <= datetime.fromisoformat(r.time) <= end
        ]
        return PredictionWindow(chosen, self.ingested_until or end)


# --------------------------------------------------------------------------- run ledger


class FakeRunLedger:
    """In-memory ledger with the port's etag and dedupe semantics; thread-safe like the real ones."""

    def __init__(self) -> None:
        self.runs: dict[str, RunRecord] = {}
        self.log: list[LedgerEntry] = []
        self.requests: dict[str, RetrainRequest] = {}
        self.dedupe_keys: set[str] = set()
        self._lock = threading.RLock()
        self._seq = itertools.count(1)

    def put_run(self, record: RunRecord) -> RunRecord:
        with self._lock:
            current = self.runs.get(record.run_id)
            if record.etag is not None and (current is None or current.etag != record.etag):
                raise ConcurrencyConflict(f"run {record.run_id}: etag {record.etag} is stale")
            now = _now()
            saved = dataclasses.replace(
                record,
                created_at=current.created_at if current else (record.created_at or now),
                updated_at=now,
                etag=uuid.uuid4().hex,
            )
            self.runs[record.run_id] = saved
            return saved

    def get_run(self, run_id: str) -> RunRecord | None:
        return self.runs.get(run_id)

    def update_run(self, run_id: str, **changes: Any) -> RunRecord:
        with self._lock:
            current = self.runs.get(run_id)
            if current is None:
                raise KeyError(f"run {run_id} not found")
            return self.put_run(merge_run_changes(current, changes))

    def list_runs(self, model=None, status=None, limit=100) -> list[RunRecord]:
        runs = [
            r
            for r in self.runs.values()
            if (model is None or r.model == model) and (status is None or r.status == status)
        ]
        runs.sort(key=lambda r: r.created_at or datetime.min.replace(tzinfo=UTC), reverse=True)
        return runs[:limit]

    def append(self, run_id: str, kind: str, data: dict[str, Any]) -> LedgerEntry:
        with self._lock:
            entry = LedgerEntry(run_id, kind, dict(data), _now(), next(self._seq))
            self.log.append(entry)
            return entry

    def entries(self, run_id: str, kind: str | None = None) -> list[LedgerEntry]:
        return [e for e in self.log if e.run_id == run_id and (kind is None or e.kind == kind)]

    def add_request(self, request: RetrainRequest) -> bool:
        with self._lock:
            if request.dedupe_key in self.dedupe_keys or request.request_id in self.requests:
                return False
            self.dedupe_keys.add(request.dedupe_key)
            self.requests[request.request_id] = request
            return True

    def pending_requests(self, model: str) -> list[RetrainRequest]:
        pending = [r for r in self.requests.values() if r.model == model and r.consumed_by is None]
        return sorted(pending, key=lambda r: (r.received_at, r.request_id))

    def pending_besides(self, model: str, request_id: str) -> bool:
        return any(
            r.model == model and r.consumed_by is None and r.request_id != request_id
            for r in list(self.requests.values())
        )

    def record_requests(self, requests: list[RetrainRequest]) -> list[RequestRecorded]:
        return [
            RequestRecorded(self.add_request(r), self.pending_besides(r.model, r.request_id))
            for r in requests
        ]

    def consume_requests(self, model: str, request_ids: list[str], run_id: str) -> None:
        with self._lock:
            for rid in request_ids:
                r = self.requests.get(rid)
                if r is not None and r.model == model and r.consumed_by is None:
                    self.requests[rid] = dataclasses.replace(r, consumed_by=run_id)

    def requests_for_run(self, run_id: str) -> list[RetrainRequest]:
        return sorted(
            (r for r in self.requests.values() if r.consumed_by == run_id),
            key=lambda r: (r.received_at, r.request_id),
        )


# --------------------------------------------------------------------------- events


class FakeEventPublisher:
    def __init__(self) -> None:
        self.published: list[LifecycleEvent] = []
        self.fail_next: Exception | None = None

    def publish(self, events: list[LifecycleEvent]) -> None:
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        self.published.extend(events)

    def types(self) -> list[str]:
        return [e.type for e in self.published]


# --------------------------------------------------------------------------- all together


@dataclasses.dataclass
class FakeAdapters:
    """Every port, faked; pass `**fakes.as_overrides()` to wiring.override."""

    data_lake: FakeDataLake = dataclasses.field(default_factory=FakeDataLake)
    training_jobs: FakeTrainingJobs = dataclasses.field(default_factory=FakeTrainingJobs)
    registry: FakeModelRegistry = dataclasses.field(default_factory=FakeModelRegistry)
    endpoints: FakeEndpoints = dataclasses.field(default_factory=FakeEndpoints)
    traffic_stats: FakeTrafficStats = dataclasses.field(default_factory=FakeTrafficStats)
    prediction_log: FakePredictionLog = dataclasses.field(default_factory=FakePredictionLog)
    ledger: FakeRunLedger = dataclasses.field(default_factory=FakeRunLedger)
    events: FakeEventPublisher = dataclasses.field(default_factory=FakeEventPublisher)
    batch_endpoints: FakeBatchEndpoints = dataclasses.field(default_factory=FakeBatchEndpoints)
    model_share: FakeModelRegistryShare | None = None
    data_pipelines: FakeDataPipelines = dataclasses.field(init=False)
    online_features: FakeOnlineFeatureStore = dataclasses.field(default_factory=FakeOnlineFeatureStore)

    def __post_init__(self) -> None:
        self.data_pipelines = FakeDataPipelines(self.data_lake)

    def as_overrides(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def ports(self, settings: Settings, policies: Mapping[str, Policy], code_version: str = "test") -> Ports:
        """The fakes as the one ports object wiring hands out (`wiring.override(ports=...)`, or
        `LifecycleActivities(fakes.ports(...))` to call an activity class directly)."""
        return Ports(
            settings=settings,
            policies=StaticPolicies(policies),
            code_version=code_version,
            **self.as_overrides(),
        )
