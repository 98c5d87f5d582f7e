"""BatchEndpoints on azure-ai-ml batch endpoints: one endpoint per model, a `ModelBatchDeployment`
per model version (MLflow models need no scoring script or environment), one default.

As with online endpoints, every long-running operation is begun (`begin_create_or_update`,
`begin_delete`) and never waited for: the orchestrator polls `deployment()` / `status()` with
durable timers. A scoring job is `batch_endpoints.invoke(..., job_name=...)`: the job name comes
from the orchestrator, so a replayed activity finds the job it started (`jobs.get`) instead of
scoring twice. Predictions are the deployment's `predictions.csv` (output action append_row; no
header, core/batch/runs.py reads it) under the `score` output of the job's child scoring job;
`submit` points that output at the caller's output location.

azure-ai-ml 1.35.2's `invoke` builds its headers in the class-level dict
`EndpointInvokeFields.DEFAULT_HEADER`, so a deployment pinned once (`azureml-model-deployment`)
stays pinned for every later invoke in the process, and concurrent invokes overwrite each
other's. `submit` therefore always names the deployment (the endpoint's default when the caller
names none), clears the header first, and invokes under one process-wide lock.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from azure.ai.ml import Input, MLClient, Output
from azure.ai.ml.constants import AssetTypes, BatchDeploymentOutputAction
from azure.ai.ml.constants._endpoint import EndpointInvokeFields
from azure.ai.ml.entities import (
    BatchEndpoint,
    ModelBatchDeployment,
    ModelBatchDeploymentSettings,
    ResourceConfiguration,
)
from azure.core.exceptions import ResourceNotFoundError

from adapters.azure.training_jobs import map_state
from core.kernel.ports import (
    BatchDefaultError,
    BatchDeploymentInfo,
    BatchEndpointInfo,
    BatchJobStatus,
    DeploymentState,
    ModelVersion,
)

PREDICTIONS_FILE = "predictions.csv"
OUTPUT_NAME = "score"  # the output of a model batch deployment's job
_PROVISIONING: dict[str, DeploymentState] = {
    "creating": "creating",
    "updating": "creating",
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "failed",
    "deleting": "deleting",
}
_INVOKE_LOCK = threading.Lock()  # see the module docstring: the SDK shares invoke headers
# tags a batch deployment carries, so the port can say which model version it serves
MODEL_TAG, VERSION_TAG = "model", "model_version"


def model_reference(model: ModelVersion) -> str:
    """The model a deployment points at: a registry version by its azureml://registries/ URI (prod),
    else the workspace model `azureml:name:version` (dev)."""
    if model.source_uri.startswith("azureml://registries/"):
        return model.source_uri
    return f"azureml:{model.name}:{model.version}"


def _text(value: Any) -> str:
    """An SDK enum (e.g. DeploymentProvisioningState.SUCCEEDED) or string, as its wire value."""
    return str(getattr(value, "value", value) or "")


def _state(value: Any) -> DeploymentState:
    return _PROVISIONING.get(_text(value).lower() or "creating", "creating")


def _deployment_info(dep: Any) -> BatchDeploymentInfo:
    tags = dict(dep.tags or {})
    ctx = getattr(dep, "creation_context", None)
    state = _state(dep.provisioning_state)
    return BatchDeploymentInfo(
        name=dep.name,
        model_name=tags.get(MODEL_TAG, ""),
        model_version=tags.get(VERSION_TAG, ""),
        state=state,
        message=""
        if state != "failed"
        else f"AML provisioning state {_text(dep.provisioning_state)}; see its logs",
        created_at=getattr(ctx, "created_at", None),
    )


def _default_of(ep: BatchEndpoint) -> str | None:
    defaults = ep.defaults
    if defaults is None:
        return None
    if isinstance(defaults, dict):
        return defaults.get("deployment_name") or defaults.get("deploymentName")
    return getattr(defaults, "deployment_name", None)


def _input_type(uri: str) -> str:
    last = uri.rstrip("/").rsplit("/", 1)[-1]
    return AssetTypes.URI_FILE if "." in last and not uri.endswith("/") else AssetTypes.URI_FOLDER


class AzureMLBatchEndpoints:
    def __init__(self, ml_client: MLClient) -> None:
        self._ml = ml_client

    @classmethod
    def connect(
        cls, credential: Any, subscription_id: str, resource_group: str, workspace: str
    ) -> AzureMLBatchEndpoints:
        return cls(MLClient(credential, subscription_id, resource_group, workspace))

    # ------------------------------------------------------------------ endpoints and deployments

    def ensure_endpoint(self, endpoint: str) -> BatchEndpointInfo:
        """infra/ creates the endpoint; this creates it (without waiting) only if it is missing."""
        try:
            return self.get(endpoint)
        except KeyError:
            ep = BatchEndpoint(name=endpoint, description="managed by the ML lifecycle")
            self._ml.batch_endpoints.begin_create_or_update(ep)
            return BatchEndpointInfo(name=endpoint, scoring_uri="", default_deployment=None)

    def get(self, endpoint: str) -> BatchEndpointInfo:
        try:
            ep = self._ml.batch_endpoints.get(name=endpoint)
        except ResourceNotFoundError:
            raise KeyError(f"batch endpoint {endpoint!r} does not exist in the AML workspace") from None
        deployments = {
            d.name: _deployment_info(d) for d in self._ml.batch_deployments.list(endpoint_name=endpoint)
        }
        return BatchEndpointInfo(
            name=endpoint,
            scoring_uri=ep.scoring_uri or "",
            default_deployment=_default_of(ep),
            deployments=deployments,
        )

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
        current = self.deployment(endpoint, deployment)
        if current.state in ("creating", "succeeded") and (current.model_name, current.model_version) == (
            model.name,
            model.version,
        ):
            return current  # idempotent: a replayed activity does not redeploy
        if not compute:
            raise ValueError(
                f"batch deployment {deployment} needs a compute cluster: set batch.compute in the policy"
            )
        dep = ModelBatchDeployment(
            name=deployment,
            endpoint_name=endpoint,
            model=model_reference(model),
            compute=compute,
            resources=ResourceConfiguration(instance_count=instance_count),
            settings=ModelBatchDeploymentSettings(
                mini_batch_size=mini_batch_size,
                output_action=BatchDeploymentOutputAction.APPEND_ROW,
                output_file_name=PREDICTIONS_FILE,
            ),
            tags={
                MODEL_TAG: model.name,
                VERSION_TAG: model.version,
                **{k: v for k, v in model.tags.items() if k == "lifecycle_id"},
            },
        )
        self._ml.batch_deployments.begin_create_or_update(dep)  # never the default until set_default
        return BatchDeploymentInfo(deployment, model.name, model.version, "creating", "creation requested")

    def deployment(self, endpoint: str, deployment: str) -> BatchDeploymentInfo:
        try:
            return _deployment_info(self._ml.batch_deployments.get(name=deployment, endpoint_name=endpoint))
        except ResourceNotFoundError:
            return BatchDeploymentInfo(deployment, "", "", "missing")

    def set_default(self, endpoint: str, deployment: str) -> BatchEndpointInfo:
        current = self.deployment(endpoint, deployment)
        if current.state != "succeeded":
            raise ValueError(
                f"deployment {deployment!r} is {current.state}: only a succeeded one can be default"
            )
        ep = self._ml.batch_endpoints.get(name=endpoint)
        ep.defaults = {"deployment_name": deployment}
        self._ml.batch_endpoints.begin_create_or_update(ep)  # applied in seconds; the orchestrator re-reads
        info = self.get(endpoint)
        return BatchEndpointInfo(info.name, info.scoring_uri, deployment, info.deployments)

    def delete_deployment(self, endpoint: str, deployment: str) -> None:
        try:
            ep = self._ml.batch_endpoints.get(name=endpoint)
        except ResourceNotFoundError:
            return
        if _default_of(ep) == deployment:
            raise BatchDefaultError(
                f"deployment {deployment!r} is the default of batch endpoint {endpoint!r}; "
                "make another deployment default first"
            )
        try:
            self._ml.batch_deployments.begin_delete(name=deployment, endpoint_name=endpoint)
        except ResourceNotFoundError:
            return  # already gone: deleting is idempotent

    # ------------------------------------------------------------------ jobs

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
        """`input_uri` and `output_uri` are azureml:// datastore paths (or https blob URLs for the
        input). AML batch jobs take no tags; the run id travels in the job name and output path."""
        try:
            return self._status(self._ml.jobs.get(name=job_name), endpoint, deployment, input_uri, output_uri)
        except ResourceNotFoundError:
            pass
        chosen = deployment or self.get(endpoint).default_deployment
        if not chosen:
            raise ValueError(
                f"batch endpoint {endpoint!r} has no default deployment; name one or set a default"
            )
        with _INVOKE_LOCK:
            EndpointInvokeFields.DEFAULT_HEADER.pop(EndpointInvokeFields.MODEL_DEPLOYMENT, None)
            job = self._ml.batch_endpoints.invoke(
                endpoint_name=endpoint,
                deployment_name=chosen,
                input=Input(type=_input_type(input_uri), path=input_uri),
                outputs={OUTPUT_NAME: Output(type=AssetTypes.URI_FOLDER, path=output_uri)},
                job_name=job_name,
            )
        return self._status(job, endpoint, chosen, input_uri, output_uri)

    def status(self, job_name: str) -> BatchJobStatus:
        try:
            job = self._ml.jobs.get(name=job_name)
        except ResourceNotFoundError:
            raise KeyError(f"no batch job named {job_name!r} in the AML workspace") from None
        return self._status(job, "", None, "", "")

    def download_output(self, job_name: str, dest: Path) -> Path:
        """The `score` output of the job's child scoring job, as the official samples download it
        (azureml-examples heart-classifier-mlflow/mlflow-for-batch-tabular.ipynb:
        `scoring_job = list(ml_client.jobs.list(parent_job_name=job.name))[0]`, then
        `jobs.download(name=scoring_job.name, output_name="score")`). The invoked job is a pipeline
        job whose step writes the predictions; asked for the parent's output, azure-ai-ml 1.35.2
        only logs at debug level that it has none and downloads nothing."""
        current = self.status(job_name)
        if current.state != "completed":
            raise RuntimeError(f"batch job {job_name!r} is {current.state}, not completed: no predictions")
        children = list(self._ml.jobs.list(parent_job_name=job_name))
        if not children:
            raise FileNotFoundError(
                f"batch job {job_name} has no child scoring job to download {OUTPUT_NAME} from"
            )
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        self._ml.jobs.download(name=children[0].name, download_path=str(dest), output_name=OUTPUT_NAME)
        for found in sorted(dest.rglob(PREDICTIONS_FILE)):
            return found
        raise FileNotFoundError(
            f"batch job {job_name}'s scoring job {children[0].name} has no {PREDICTIONS_FILE} "
            f"under its {OUTPUT_NAME} output"
        )

    @staticmethod
    def _status(
        job: Any, endpoint: str, deployment: str | None, input_uri: str, output_uri: str
    ) -> BatchJobStatus:
        outputs = getattr(job, "outputs", None) or {}
        score = outputs.get(OUTPUT_NAME) if isinstance(outputs, dict) else None
        return BatchJobStatus(
            name=job.name,
            endpoint=endpoint,
            deployment=deployment or "",
            state=map_state(_text(getattr(job, "status", None)) or None),
            input_uri=input_uri,
            output_uri=output_uri or str(getattr(score, "path", "") or ""),
            message=_text(getattr(job, "status", None)),
        )
