"""TrainingJobs on azure-ai-ml: the model's own job YAML, submitted to an AML compute cluster.

The YAML is the same file the local adapter runs as a subprocess; here `load_job` reads it with
`params_override` carrying what the lifecycle decides per run: data inputs (each registered as an AML `Data` asset
so the job's lineage names the exact data version), compute, experiment, lineage tags and a
deterministic job name (the orchestrator derives it from the run id, so a replayed activity
finds the job it already submitted instead of training twice).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from azure.ai.ml import MLClient, load_job
from azure.ai.ml.constants import AssetTypes
from azure.ai.ml.entities import Data, Job
from azure.core.exceptions import ResourceNotFoundError

from core.kernel.ports import JobState, JobStatus
from core.training.jobs import check_job_name

# Every AML job status (azure.ai.ml JobStatus / REST JobStatus), mapped onto the port's five states.
# Non-terminal states that are not plainly "queued" count as running, so the orchestrator keeps
# polling and the policy's training deadline decides when a stuck job is cancelled.
AML_STATES: dict[str, JobState] = {
    "NotStarted": "queued",
    "Queued": "queued",
    "Preparing": "queued",
    "Provisioning": "queued",
    "Starting": "queued",
    "Paused": "queued",
    "Running": "running",
    "Finalizing": "running",
    "CancelRequested": "running",
    "NotResponding": "running",
    "Unknown": "running",
    "Completed": "completed",
    "Failed": "failed",
    "Canceled": "canceled",
}
_DATA_TYPES = {AssetTypes.URI_FOLDER, AssetTypes.URI_FILE, AssetTypes.MLTABLE}
_MODEL_TYPES = {AssetTypes.MLFLOW_MODEL, AssetTypes.CUSTOM_MODEL, AssetTypes.TRITON_MODEL}
_MODEL_REF = re.compile(
    r"^(azureml:[^:/]+:[^:/]+|azureml://jobs/.+/outputs/.+|azureml://.*/models/.+|runs:/.+|models:/.+)$"
)
_ASSET_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


def map_state(aml_status: str | None) -> JobState:
    if aml_status is None:
        return "queued"
    try:
        return AML_STATES[aml_status]
    except KeyError:
        return "running"  # a state added by a newer service version: keep polling, the deadline still applies


def _infer_type(value: str) -> str | None:
    """Type of an input the YAML does not declare (e.g. an optional `$[[...]]` champion model)."""
    if _MODEL_REF.match(value):
        return AssetTypes.MLFLOW_MODEL
    if "://" in value or value.startswith("azureml:"):
        return AssetTypes.URI_FOLDER
    return None  # a literal


def _asset_token(value: str) -> str:
    return _ASSET_CHARS.sub("-", value).strip("-.")[:100] or "x"


class AzureMLTrainingJobs:
    def __init__(self, ml_client: MLClient, *, default_compute: str | None = None):
        self._ml = ml_client
        self._default_compute = default_compute

    @classmethod
    def connect(
        cls, credential: Any, subscription_id: str, resource_group: str, workspace: str
    ) -> AzureMLTrainingJobs:
        """Azure: the identity needs "AzureML Data Scientist" on the workspace."""
        return cls(MLClient(credential, subscription_id, resource_group, workspace))

    # ------------------------------------------------------------------ building the job

    def register_data(
        self, experiment: str, input_name: str, uri: str, asset_type: str, tags: dict[str, str]
    ) -> str:
        """Register (once) the data version as an AML Data asset and return its `azureml:name:version`."""
        name = _asset_token(f"{experiment}-{input_name}")
        version = _asset_token(tags.get("data_version") or hashlib.sha256(uri.encode()).hexdigest()[:16])
        try:
            existing = self._ml.data.get(name=name, version=version)
            if existing.path and existing.path.rstrip("/") != uri.rstrip("/"):
                raise ValueError(
                    f"AML data asset {name}:{version} already points at {existing.path}, not {uri}; "
                    "data versions are immutable: give the new data a new data_version"
                )
        except ResourceNotFoundError:
            asset = Data(
                name=name,
                version=version,
                type=asset_type,
                path=uri,
                description=f"input {input_name} of experiment {experiment}",
                tags={k: v for k, v in tags.items() if k in ("model", "data_version", "lifecycle_id")},
            )
            self._ml.data.create_or_update(asset)
        return f"azureml:{name}:{version}"

    def build_job(
        self,
        job_yaml: Path,
        *,
        name: str,
        inputs: dict[str, str],
        experiment: str,
        tags: dict[str, str],
        compute: str | None = None,
    ) -> Job:
        check_job_name(name)
        yaml_job = load_job(source=job_yaml)
        declared = dict(yaml_job.inputs or {})
        # Everything decided per run goes in through `params_override`, so it is part of the job as
        # built: azure-ai-ml serializes a command job from the inputs captured at construction
        # (`Command._job_inputs`), and an input set on the loaded job afterwards never reaches Azure.
        overrides: list[dict[str, Any]] = []
        for input_name, value in inputs.items():
            spec = getattr(declared.get(input_name), "_data", None)
            asset_type = getattr(spec, "type", None) if input_name in declared else _infer_type(value)
            mode = getattr(spec, "mode", None)
            override: Any = value
            if asset_type in _DATA_TYPES:
                path = (
                    value
                    if value.startswith("azureml:")
                    else self.register_data(experiment, input_name, value, asset_type, tags)
                )
                override = {"type": asset_type, "path": path, **({"mode": mode} if mode else {})}
            elif asset_type in _MODEL_TYPES:
                override = {"type": asset_type, "path": value, **({"mode": mode} if mode else {})}
            overrides.append({f"inputs.{input_name}": override})
        overrides += [
            {"name": name},
            {"experiment_name": experiment},
            {"display_name": yaml_job.display_name or name},
            {"tags": {**(yaml_job.tags or {}), **tags}},
        ]
        chosen = compute or self._default_compute
        if chosen:
            overrides.append({"compute": chosen})
        return load_job(source=job_yaml, params_override=overrides)

    # ------------------------------------------------------------------ the port

    def _status(self, job: Job) -> JobStatus:
        state = map_state(job.status)
        outputs: dict[str, str] = {}
        for out_name, out in (job.outputs or {}).items():
            data = getattr(out, "_data", out)  # builder nodes wrap the Output in NodeOutput._data
            path = getattr(data, "path", None) if not isinstance(data, str) else data
            outputs[out_name] = (
                path
                or f"azureml://jobs/{job.name}/outputs/{out_name}"  # how AML names an output as an input or model path
            )
        message = "" if state in ("completed", "queued") else f"AML status {job.status}"
        if job.status == "Failed":
            error = getattr(job, "error", None) or {}
            message = f"AML job {job.name} failed: {getattr(error, 'message', error) or 'see the job logs in studio'}"
        return JobStatus(
            name=str(job.name),
            state=state,
            message=message,
            studio_url=getattr(job, "studio_url", "") or "",
            outputs=outputs,
        )

    def submit(
        self,
        job_yaml: Path,
        *,
        name: str,
        inputs: dict[str, str],
        experiment: str,
        tags: dict[str, str],
        compute: str | None = None,
    ) -> JobStatus:
        try:
            return self._status(self._ml.jobs.get(name))
        except ResourceNotFoundError:
            pass
        job = self.build_job(
            job_yaml, name=name, inputs=inputs, experiment=experiment, tags=tags, compute=compute
        )
        return self._status(self._ml.jobs.create_or_update(job, experiment_name=experiment))

    def status(self, name: str) -> JobStatus:
        return self._status(self._ml.jobs.get(name))

    def cancel(self, name: str) -> JobStatus:
        """Requests cancellation and returns at once; the orchestrator polls until `canceled`."""
        current = self._ml.jobs.get(name)
        if map_state(current.status) in ("completed", "failed", "canceled"):
            return self._status(current)
        self._ml.jobs.begin_cancel(name)
        return self._status(self._ml.jobs.get(name))

    def download_output(self, name: str, output: str, dest: Path) -> Path:
        status = self.status(name)
        if status.state != "completed":
            raise RuntimeError(
                f"job {name} is {status.state}; outputs can only be downloaded from a completed job"
            )
        dest.mkdir(parents=True, exist_ok=True)
        self._ml.jobs.download(name, download_path=str(dest), output_name=output)
        # azure-ai-ml lays named outputs out as <dest>/named-outputs/<output>
        named = dest / "named-outputs" / output
        return named if named.exists() else dest
