"""Training and evaluation jobs: the job-name rule, staging data as job inputs, submitting a job
with the run's rules and reading an evaluation's verdict. The use cases take their ports as
arguments (wiring hands them in; tests pass fakes)."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from core.kernel.datafiles import stage_job_input
from core.kernel.policy import Policy
from core.kernel.ports import DataLake, JobStatus, TrainingJobs
from core.training.payloads import EvaluationInput, EvaluationResult, SubmitJobInput
from core.training.verdict import judge_challenger, parse_evaluation_metrics

# Azure ML's job-name rule (local jobs obey it too, so a name that runs locally is valid on Azure)
JOB_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
JOB_NAME_RULE = "letters, digits, '-' and '_', at most 255, starting with a letter or digit"


def check_job_name(name: str) -> str:
    if not JOB_NAME_RE.match(name):
        raise ValueError(f"job name {name!r} is not a valid AML job name ({JOB_NAME_RULE})")
    return name


def job_name(model: str, kind: str, run_id: str, data_version: str) -> str:
    """Deterministic, valid job name: a replayed submit finds the job it already started."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", run_id).strip("-_")[:150] or "run"
    return check_job_name(f"{model}-{kind}-{safe}-{data_version.removeprefix('dv-')[:10]}")


def submit_job(
    jobs: TrainingJobs, lake: DataLake, policy: Policy, req: SubmitJobInput, local_copy_root: Path | None
) -> JobStatus:
    """Submit the run's training or evaluation job with the run's rules (job YAML, experiment,
    compute); idempotent on the job name."""
    job_yaml = policy.path(policy.training.job if req.kind == "train" else policy.training.evaluation_job)
    inputs = {
        **req.inputs,
        **{
            k: stage_job_input(lake, r.container, r.path, local_copy_root) for k, r in req.data_inputs.items()
        },
    }
    return jobs.submit(
        job_yaml,
        name=check_job_name(req.job_name),
        inputs=inputs,
        experiment=policy.training.experiment,
        tags=req.tags,
        compute=policy.training.compute,
    )


def read_evaluation(jobs: TrainingJobs, policy: Policy, req: EvaluationInput) -> EvaluationResult:
    """The finished evaluation job's metrics, judged by the run's evaluation rule."""
    rule = policy.evaluation
    with tempfile.TemporaryDirectory(prefix="evaluation-") as tmp:
        folder = jobs.download_output(req.job_name, "metrics", Path(tmp) / "metrics")
        found = [folder] if folder.is_file() else sorted(folder.rglob("metrics.json"))
        if not found:
            raise FileNotFoundError(
                f"evaluation job {req.job_name} wrote no metrics.json to its 'metrics' output"
            )
        doc = json.loads(found[0].read_text(encoding="utf-8"))
    challenger, champion, rows = parse_evaluation_metrics(
        doc, rule.metric, expect_champion=req.champion_version is not None
    )
    decision = judge_challenger(
        metric=rule.metric,
        direction=rule.direction,
        challenger=challenger[rule.metric],
        champion=None if champion is None else champion[rule.metric],
        min_abs_gain=rule.min_abs_gain,
        min_rel_gain=rule.min_rel_gain,
    )
    return EvaluationResult(
        job_name=req.job_name,
        challenger_metrics=challenger,
        champion_metrics=champion,
        rows=rows,
        decision=decision,
    )
