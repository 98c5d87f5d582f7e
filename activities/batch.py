"""Activities of batch scoring (orchestrators/batch.py). `BatchActivities` is built with its ports
and each method is one port call or one core function (core.batch.rules, core.batch.runs); `serve`
registers each method under the reference it implements."""

from __future__ import annotations

from activities.blueprint import implements, serve
from core.batch.payloads import (
    BATCH_BEGIN_DEPLOY,
    BATCH_COLLECT,
    BATCH_DEPLOYMENT_STATE,
    BATCH_ENSURE_ENDPOINT,
    BATCH_JOB_STATUS,
    BATCH_JUDGE_SMOKE,
    BATCH_OUTPUT,
    BATCH_PREPARE,
    BATCH_PRUNE,
    BATCH_SCORE_START,
    BATCH_SET_DEFAULT,
    BATCH_STAGE_SMOKE,
    BATCH_SUBMIT,
    BatchBeginDeployInput,
    BatchCollectInput,
    BatchCollectResult,
    BatchDeploymentInput,
    BatchDeploymentResult,
    BatchEndpointInput,
    BatchEndpointResult,
    BatchJobInput,
    BatchJobResult,
    BatchJudgeSmokeInput,
    BatchJudgeSmokeResult,
    BatchOutputInput,
    BatchOutputResult,
    BatchPrepareInput,
    BatchPrepareResult,
    BatchPruneInput,
    BatchPruneResult,
    BatchScoreInput,
    BatchScoreStartResult,
    BatchSetDefaultInput,
    BatchSmokeInput,
    BatchSubmitInput,
    StagedInput,
    batch_request_scope,
)
from core.batch.rules import ab_arms, deployments_to_prune
from core.batch.runs import collect, judge_smoke_job, prepare_scoring, stage_smoke
from core.kernel.contract import load_contract
from core.kernel.policy import Policy
from core.run.runs import run_rules
from wiring import Ports

# Azure ML batch jobs write to a datastore; `collect` copies the predictions into the lake.
AZURE_OUTPUT = "azureml://datastores/workspaceblobstore/paths/batch-scoring/{run_id}/{arm}/"


class BatchActivities:
    def __init__(self, ports: Ports) -> None:
        self.ports = ports

    # ------------------------------------------------------------------ endpoint and deployments

    @implements(BATCH_ENSURE_ENDPOINT)
    def ensure_endpoint(self, req: BatchEndpointInput) -> BatchEndpointResult:
        return BatchEndpointResult.of(self.ports.batch_endpoints.ensure_endpoint(req.endpoint))

    @implements(BATCH_BEGIN_DEPLOY)
    def begin_deploy(self, req: BatchBeginDeployInput) -> BatchDeploymentResult:
        """Create the deployment of a registered version (not the default; the orchestrator polls)."""
        model = self.ports.registry.get(req.model, req.version)
        info = self.ports.batch_endpoints.begin_deploy(
            req.endpoint,
            req.deployment,
            model,
            compute=req.compute,
            instance_count=req.instance_count,
            mini_batch_size=req.mini_batch_size,
        )
        return BatchDeploymentResult.of(info)

    @implements(BATCH_DEPLOYMENT_STATE)
    def deployment_state(self, req: BatchDeploymentInput) -> BatchDeploymentResult:
        return BatchDeploymentResult.of(self.ports.batch_endpoints.deployment(req.endpoint, req.deployment))

    @implements(BATCH_SET_DEFAULT)
    def set_default(self, req: BatchSetDefaultInput) -> BatchEndpointResult:
        return BatchEndpointResult.of(self.ports.batch_endpoints.set_default(req.endpoint, req.deployment))

    @implements(BATCH_PRUNE)
    def prune(self, req: BatchPruneInput) -> BatchPruneResult:
        """Delete all but the newest `keep_last` deployments (never the default or the previous one)."""
        batch = self.ports.batch_endpoints
        info = batch.get(req.endpoint)
        doomed = deployments_to_prune(
            list(info.deployments.values()),
            default=req.default,
            previous_default=req.previous_default,
            keep_last=req.keep_last,
        )
        for name in doomed:
            batch.delete_deployment(req.endpoint, name)
        return BatchPruneResult(deleted=doomed)

    # ------------------------------------------------------------------ jobs

    @implements(BATCH_STAGE_SMOKE)
    def stage_smoke(self, req: BatchSmokeInput) -> StagedInput:
        """The smoke rows (the lifecycle run's evaluation split, features only) as a job input."""
        p = self.ports
        contract = run_rules(p.ledger, req.run_id).contract
        return stage_smoke(p.data_lake, contract, req, p.containers, p.job_input_root)

    @implements(BATCH_OUTPUT)
    def output(self, req: BatchOutputInput) -> BatchOutputResult:
        s = self.ports.settings
        if s.mode == "azure":
            return BatchOutputResult(output_uri=AZURE_OUTPUT.format(run_id=req.run_id, arm=req.arm))
        folder = s.local_state_dir / "batch-outputs" / req.run_id / req.arm
        return BatchOutputResult(output_uri=folder.resolve().as_uri())

    @implements(BATCH_SUBMIT)
    def submit(self, req: BatchSubmitInput) -> BatchJobResult:
        """Idempotent on the job name: a replayed submit returns the job it started."""
        status = self.ports.batch_endpoints.submit(
            req.endpoint,
            job_name=req.job_name,
            input_uri=req.input_uri,
            output_uri=req.output_uri,
            deployment=req.deployment,
            tags=req.tags,
        )
        return BatchJobResult.of(status)

    @implements(BATCH_JOB_STATUS)
    def job_status(self, req: BatchJobInput) -> BatchJobResult:
        return BatchJobResult.of(self.ports.batch_endpoints.status(req.job_name))

    @implements(BATCH_JUDGE_SMOKE)
    def judge_smoke(self, req: BatchJudgeSmokeInput) -> BatchJudgeSmokeResult:
        return judge_smoke_job(
            self.ports.batch_endpoints, req.job_name, req.expected_rows, req.job_state, req.message
        )

    # ------------------------------------------------------------------ scoring runs

    @implements(BATCH_SCORE_START)
    def score_start(self, req: BatchScoreInput) -> BatchScoreStartResult:
        """The live batch policy, the endpoint's default and the A/B arms; consumes the request."""
        p = self.ports
        policy = p.policies.get(req.model)
        if policy.batch is None:
            raise ValueError(f"the policy of {req.model} no longer has a batch section: nothing to score")
        info = p.batch_endpoints.ensure_endpoint(policy.batch.endpoint)
        b, reasons = None, []
        if policy.batch.ab is not None and info.default_deployment is not None:
            arms = ab_arms(info)
            b, reasons = arms.b, arms.reasons
        p.ledger.consume_requests(batch_request_scope(req.model), [req.request_id], req.run_id)
        return BatchScoreStartResult(
            batch=policy.batch,
            policy_hash=policy.hash,
            default=info.default_deployment,
            ab_b=b,
            ab_reasons=reasons,
        )

    @implements(BATCH_PREPARE)
    def prepare(self, req: BatchPrepareInput) -> BatchPrepareResult:
        p = self.ports
        policy = p.policies.get(req.model)
        return prepare_scoring(p.data_lake, policy, _contract(policy), req, p.containers, p.job_input_root)

    @implements(BATCH_COLLECT)
    def collect(self, req: BatchCollectInput) -> BatchCollectResult:
        p = self.ports
        policy = p.policies.get(req.model)
        return collect(p.batch_endpoints, p.data_lake, policy, _contract(policy), req, p.containers)


def _contract(policy: Policy):  # -> DataContract
    return load_contract(policy.path(policy.data.contract))


FUNCTIONS = serve(BatchActivities)
