"""Payloads of the training steps: ingest, jobs, the champion, evaluation, registration."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from core.kernel.activity import Activity
from core.kernel.datafiles import IngestResult
from core.kernel.payload import BlobRef, Payload
from core.training.verdict import ChallengerVerdict

# --------------------------------------------------------------------------- ingest


class IngestInput(Payload):
    run_id: str
    model: str
    blobs: list[BlobRef] = Field(default_factory=list)


# --------------------------------------------------------------------------- jobs


class SubmitJobInput(Payload):
    run_id: str
    model: str
    kind: Literal["train", "evaluate"]
    job_name: str
    inputs: dict[str, str] = Field(default_factory=dict)  # literal values and model URIs
    data_inputs: dict[str, BlobRef] = Field(default_factory=dict)  # data lake folders, staged per mode
    tags: dict[str, str] = Field(default_factory=dict)


class JobInput(Payload):
    job_name: str


class JobResult(Payload):
    name: str
    state: Literal["queued", "running", "completed", "failed", "canceled"]
    done: bool
    message: str = ""
    studio_url: str = ""
    outputs: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)


# --------------------------------------------------------------------------- evaluate


class ChampionInput(Payload):
    model: str


class ChampionResult(Payload):
    model: str
    version: str | None = None
    source_uri: str | None = None


class EvaluationInput(Payload):
    run_id: str
    model: str
    job_name: str  # the finished evaluation job
    champion_version: str | None = None


class EvaluationResult(Payload):
    job_name: str
    challenger_metrics: dict[str, float]
    champion_metrics: dict[str, float] | None = None
    rows: int | None = None
    decision: ChallengerVerdict


# --------------------------------------------------------------------------- register


class RegisterInput(Payload):
    run_id: str
    model: str
    source_uri: str
    tags: dict[str, str]


class RegisterResult(Payload):
    name: str
    version: str
    source_uri: str
    tags: dict[str, str] = Field(default_factory=dict)


__all__ = ["IngestResult"]  # ingest's result is the kernel's (batch scoring quarantines the same way)


# --------------------------------------------------------------------------- activities

INGEST = Activity("lifecycle_ingest", IngestInput, IngestResult)
SUBMIT_JOB = Activity("lifecycle_submit_job", SubmitJobInput, JobResult)
JOB_STATUS = Activity("lifecycle_job_status", JobInput, JobResult)
CANCEL_JOB = Activity("lifecycle_cancel_job", JobInput, JobResult)
GET_CHAMPION = Activity("lifecycle_get_champion", ChampionInput, ChampionResult)
EVALUATION_RESULT = Activity("lifecycle_evaluation_result", EvaluationInput, EvaluationResult)
REGISTER = Activity("lifecycle_register", RegisterInput, RegisterResult)
