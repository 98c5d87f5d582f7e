"""Payloads of batch scoring: the `batch_deploy` sub-orchestration (a new champion on the model's
batch endpoint, smoke-tested before it becomes the default) and the `batch_score` orchestration
(one scoring run of one input)."""

from __future__ import annotations

import hashlib
import re
from typing import Literal

from pydantic import Field

from core.kernel.activity import Activity
from core.kernel.payload import BlobRef, Payload
from core.kernel.policy import BatchPolicy
from core.kernel.ports import BatchDeploymentInfo, BatchEndpointInfo, BatchJobStatus

BATCH_DEPLOY_SUFFIX = "-batch"  # a lifecycle's batch_deploy sub-orchestration is `{run_id}-batch`
BATCH_RUN_RE = re.compile(r"^batch-(?P<model>[a-z0-9][a-z0-9-]{0,30}[a-z0-9])-(?P<key>[0-9a-f]{16})$")


def batch_request_scope(model: str) -> str:
    """The ledger's request namespace of a model's scoring runs: the same dedupe table as
    retrain requests, under a name no coordinator claims (a model name has no ':')."""
    return f"batch:{model}"


def batch_run_id(model: str, dedupe_key: str) -> str:
    """A scoring run's id (and durable instance id): one per input delivery, so a redelivered
    blob event or a doubled schedule tick finds the run it started instead of starting another."""
    digest = hashlib.sha256(f"{model}|{dedupe_key}".encode("utf-8", "surrogatepass")).hexdigest()
    return f"batch-{model}-{digest[:16]}"


def batch_index_id(model: str) -> str:
    """Where the ledger lists a model's scoring runs (a start and an end entry per run)."""
    return f"batch-runs-{model}"


# --------------------------------------------------------------------------- endpoint and deployments


class BatchDeployInput(Payload):
    """What a lifecycle hands `batch_deploy` once its rollout ended."""

    run_id: str  # the lifecycle's id: facts are recorded under it
    model: str
    version: str  # the online champion now (promoted), or the one kept (rollout rolled back)
    batch: BatchPolicy  # the run's snapshot of the policy's batch section
    eval_ref: BlobRef | None = None  # smoke rows come from the run's evaluation split
    mode: Literal["deploy", "restore"] = "deploy"  # restore: the online rollout rolled back


class BatchEndpointInput(Payload):
    endpoint: str


class BatchDeploymentResult(Payload):
    name: str
    model_name: str
    model_version: str
    state: Literal["creating", "succeeded", "failed", "deleting", "missing"]
    message: str = ""

    @classmethod
    def of(cls, info: BatchDeploymentInfo) -> BatchDeploymentResult:
        return cls(
            name=info.name,
            model_name=info.model_name,
            model_version=info.model_version,
            state=info.state,
            message=info.message[-1000:],
        )


class BatchEndpointResult(Payload):
    name: str
    default: str | None
    deployments: dict[str, BatchDeploymentResult] = Field(default_factory=dict)

    @classmethod
    def of(cls, info: BatchEndpointInfo) -> BatchEndpointResult:
        return cls(
            name=info.name,
            default=info.default_deployment,
            deployments={n: BatchDeploymentResult.of(d) for n, d in info.deployments.items()},
        )


class BatchBeginDeployInput(Payload):
    endpoint: str
    deployment: str
    model: str
    version: str
    compute: str | None = None
    instance_count: int = 1
    mini_batch_size: int = 10


class BatchDeploymentInput(Payload):
    endpoint: str
    deployment: str


class BatchSetDefaultInput(Payload):
    run_id: str
    endpoint: str
    deployment: str


class BatchPruneInput(Payload):
    endpoint: str
    default: str | None
    previous_default: str | None
    keep_last: int


class BatchPruneResult(Payload):
    deleted: list[str] = Field(default_factory=list)


# --------------------------------------------------------------------------- jobs


class BatchSmokeInput(Payload):
    """Stage the smoke rows of a deployment (features only) as a batch job input."""

    run_id: str
    model: str
    rows: int
    eval_ref: BlobRef | None
    transform: str | None = None


class StagedInput(Payload):
    arm: str  # a | b | smoke
    input_uri: str  # what the batch job reads (a lake URL on Azure, a staged folder locally)
    rows: int


class BatchSubmitInput(Payload):
    endpoint: str
    job_name: str
    input_uri: str
    output_uri: str
    deployment: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class BatchJobInput(Payload):
    job_name: str


class BatchJobResult(Payload):
    name: str
    deployment: str
    state: Literal["queued", "running", "completed", "failed", "canceled"]
    done: bool
    message: str = ""
    model_name: str = ""
    model_version: str = ""
    rows: int | None = None
    output_uri: str = ""

    @classmethod
    def of(cls, status: BatchJobStatus) -> BatchJobResult:
        return cls(
            name=status.name,
            deployment=status.deployment,
            state=status.state,
            done=status.done,
            message=status.message[-2000:],
            model_name=status.model_name,
            model_version=status.model_version,
            rows=status.rows,
            output_uri=status.output_uri,
        )


class BatchJudgeSmokeInput(Payload):
    job_name: str
    expected_rows: int
    job_state: str
    message: str = ""


class BatchJudgeSmokeResult(Payload):
    passed: bool
    expected_rows: int
    scored_rows: int
    reasons: list[str] = Field(default_factory=list)


class BatchOutputInput(Payload):
    """Where a scoring job writes (an azureml:// datastore path on Azure, a folder locally)."""

    run_id: str
    arm: str


class BatchOutputResult(Payload):
    output_uri: str


# --------------------------------------------------------------------------- scoring runs


class BatchScoreInput(Payload):
    """A scoring run: a landed blob (or, from the schedule, every data file under the prefix)."""

    run_id: str  # = the instance id, from the dedupe key
    model: str
    source: Literal["blob", "schedule", "operator"]
    request_id: str
    dedupe_key: str
    blobs: list[BlobRef] = Field(default_factory=list)  # empty: the whole scoring prefix


class BatchScoreStartResult(Payload):
    """The live policy's batch section and the endpoint as the run found it."""

    batch: BatchPolicy
    policy_hash: str
    default: str | None
    ab_b: str | None = None  # the challenger arm (A/B), when the policy asks for one and there is one
    ab_reasons: list[str] = Field(default_factory=list)


class BatchPrepareInput(Payload):
    run_id: str
    model: str
    blobs: list[BlobRef] = Field(default_factory=list)
    ab: bool = False  # split by the policy's A/B key


class BatchPrepareResult(Payload):
    status: Literal["accepted", "rejected"]
    rows_in: int = 0
    inputs: list[StagedInput] = Field(default_factory=list)
    sources: list[BlobRef] = Field(default_factory=list)
    report_uri: str | None = None
    failures: list[str] = Field(default_factory=list)


class BatchCollectInput(Payload):
    """Copy one arm's predictions into the lake, with the model version and run id on each row."""

    run_id: str
    model: str
    arm: str
    job_name: str


class BatchCollectResult(Payload):
    arm: str
    deployment: str
    model_version: str
    rows: int
    uri: str


# --------------------------------------------------------------------------- activities

BATCH_ENSURE_ENDPOINT = Activity("batch_ensure_endpoint", BatchEndpointInput, BatchEndpointResult)
BATCH_BEGIN_DEPLOY = Activity("batch_begin_deploy", BatchBeginDeployInput, BatchDeploymentResult)
BATCH_DEPLOYMENT_STATE = Activity("batch_deployment_state", BatchDeploymentInput, BatchDeploymentResult)
BATCH_SET_DEFAULT = Activity("batch_set_default", BatchSetDefaultInput, BatchEndpointResult)
BATCH_PRUNE = Activity("batch_prune", BatchPruneInput, BatchPruneResult)
BATCH_STAGE_SMOKE = Activity("batch_stage_smoke", BatchSmokeInput, StagedInput)
BATCH_OUTPUT = Activity("batch_output", BatchOutputInput, BatchOutputResult)
BATCH_SUBMIT = Activity("batch_submit", BatchSubmitInput, BatchJobResult)
BATCH_JOB_STATUS = Activity("batch_job_status", BatchJobInput, BatchJobResult)
BATCH_JUDGE_SMOKE = Activity("batch_judge_smoke", BatchJudgeSmokeInput, BatchJudgeSmokeResult)
BATCH_SCORE_START = Activity("batch_score_start", BatchScoreInput, BatchScoreStartResult)
BATCH_PREPARE = Activity("batch_prepare", BatchPrepareInput, BatchPrepareResult)
BATCH_COLLECT = Activity("batch_collect", BatchCollectInput, BatchCollectResult)
