"""Batch scoring use cases: the I/O around core/batch/rules.py's pure decisions, through the ports.

A scoring run reads its input from the lake, checks it against the model's data contract with
the label left out (scoring data has no label yet), quarantines it with a report when it breaks
a rule (as ingest does), and stages one input per arm (A/B) for the batch job. Once a job
completed, `collect` copies its predictions into `predictions/{model}/{run_id}/` with the model
name and version, the deployment and the run id on every row (and the input's id column, joined
back by row order), so a prediction can always be traced to the model that made it.

The staged inputs live in the features container under `batch-inputs/{model}/{run_id}/{arm}/`
(a folder per arm: an AML uri_folder input mounts all of it); the arm's row ids sit beside it
in `{arm}-ids.json`, outside the folder the job reads.
"""

from __future__ import annotations

import importlib
import io
import json
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pandas as pd

from core.batch.payloads import (
    BatchCollectInput,
    BatchCollectResult,
    BatchJudgeSmokeResult,
    BatchPrepareInput,
    BatchPrepareResult,
    BatchSmokeInput,
    StagedInput,
)
from core.batch.rules import judge_smoke, predictions_location, split_rows
from core.kernel.blob_paths import check_blob_path, within_prefix
from core.kernel.contract import DataContract, ValidationReport, validate
from core.kernel.datafiles import (
    Containers,
    RawFile,
    quarantine_files,
    read_csv,
    stage_job_input,
    typed_frame,
)
from core.kernel.payload import BlobRef
from core.kernel.policy import BatchPolicy, Policy
from core.kernel.ports import BatchEndpoints, BlobNotFound, DataLake

INPUT_FILE = "input.csv"

Transform = Callable[[pd.DataFrame], pd.DataFrame]


def features_contract(contract: DataContract) -> DataContract:
    """The contract without its label: what a row to be scored must satisfy (one row is enough)."""
    return contract.model_copy(
        update={"columns": [c for c in contract.columns if c.name != contract.label], "min_rows": 1}
    )


def load_transform(spec: str | None) -> Transform | None:
    """The policy's `batch.transform` ('package.module:function'), imported from the app."""
    if spec is None:
        return None
    module, _, name = spec.partition(":")
    found = getattr(importlib.import_module(module), name, None)
    if not callable(found):
        raise ValueError(f"batch.transform {spec!r}: {module} has no function {name!r}")
    return found


def model_rows(frame: pd.DataFrame, contract: DataContract, transform: Transform | None) -> pd.DataFrame:
    """What the model scores: the typed features without label and id, through the transform."""
    typed = typed_frame(frame, features_contract(contract))
    drop = [c for c in (contract.label, contract.id_column) if c and c in typed.columns]
    rows = typed.drop(columns=drop)
    return transform(rows) if transform is not None else rows


def _batch(policy: Policy) -> BatchPolicy:
    if policy.batch is None:
        raise ValueError(f"policy of {policy.model} has no batch section: nothing to score")
    return policy.batch


def inputs_folder(model: str, run_id: str) -> str:
    folder = f"batch-inputs/{model}/{run_id}"
    check_blob_path(folder, what="batch input folder")
    return folder


# --------------------------------------------------------------------------- scoring input


def scoring_blobs(
    lake: DataLake, policy: Policy, contract: DataContract, blobs: Sequence[BlobRef]
) -> list[BlobRef]:
    """The named blobs, or every data file under the scoring prefix (a scheduled run). A named
    blob outside the scoring prefix is refused: the edge routes by it, this does not trust it."""
    prefix = _batch(policy).scoring_prefix or ""
    container = policy.data.container
    if blobs:
        for ref in blobs:
            if ref.container != container or not prefix or not within_prefix(ref.path, prefix):
                raise ValueError(f"{ref.container}/{ref.path[:300]} is not under {container}/{prefix}")
        return sorted(blobs, key=lambda b: b.path)
    if not prefix:
        raise ValueError(f"policy of {policy.model} has no batch.scoring_prefix: name the blobs to score")
    return [
        BlobRef(container=b.container, path=b.path, etag=b.etag)
        for b in lake.list(container, prefix)
        if within_prefix(b.path, prefix) and contract.not_data(b.path, b.size, b.metadata) is None
    ]


def prepare_scoring(
    lake: DataLake,
    policy: Policy,
    contract: DataContract,
    req: BatchPrepareInput,
    containers: Containers,
    local_copy_root: Path | None,
) -> BatchPrepareResult:
    """Validate the input (features only), quarantine it if it breaks a rule, else stage it for
    the batch job: one input, or two when the run splits rows across two deployments (A/B)."""
    batch = _batch(policy)
    refs = scoring_blobs(lake, policy, contract, req.blobs)
    files: list[RawFile] = []
    problems: list[str] = []
    for ref in refs:
        try:
            files.append(RawFile(ref, lake.read(ref.container, ref.path)))
        except BlobNotFound:
            problems.append(f"{ref.container}/{ref.path}: blob not found (deleted after it landed?)")
    if not refs:
        problems.append(
            f"no data files ({contract.files}) under {policy.data.container}/{batch.scoring_prefix}"
        )
    scoring = features_contract(contract)
    reports: dict[str, ValidationReport | None] = {}
    frames: list[pd.DataFrame] = []
    for f in files:
        try:
            frame = read_csv(f.data)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            reports[f.ref.path] = None
            problems.append(f"{f.ref.path}: file.readable: not a parseable CSV ({exc})")
            continue
        frame = frame.drop(columns=[contract.label], errors="ignore")  # a label is allowed, not used
        report = reports[f.ref.path] = validate(frame, scoring)
        problems += [f"{f.ref.path}: {line}" for line in report.summary()]
        frames.append(frame)
    rows_in = sum(len(f) for f in frames)
    key = batch.ab.key if (req.ab and batch.ab is not None) else None
    if key is not None and frames and any(key not in f.columns for f in frames):
        problems.append(f"the A/B key column {key!r} is missing from the input")
    if problems:
        rejected = quarantine_files(lake, containers, policy, req.run_id, files, reports, problems, rows_in)
        return BatchPrepareResult(
            status="rejected",
            rows_in=rows_in,
            sources=[f.ref for f in files],
            report_uri=rejected.report_uri,
            failures=problems,
        )
    frame = pd.concat(frames, ignore_index=True)
    arms: dict[str, list[int]] = {"a": list(range(len(frame)))}
    if key is not None and batch.ab is not None:
        a, b = split_rows(frame[key].astype(str).tolist(), batch.ab.percent, batch.ab.salt)
        arms = {"a": a, "b": b} if b and a else ({"b": b} if b else {"a": a})
    transform = load_transform(batch.transform)
    staged = [
        _stage(
            lake,
            policy.model,
            req.run_id,
            arm,
            frame.iloc[rows],
            contract,
            transform,
            containers,
            local_copy_root,
        )
        for arm, rows in arms.items()
    ]
    return BatchPrepareResult(
        status="accepted", rows_in=rows_in, inputs=staged, sources=[f.ref for f in files]
    )


def _stage(
    lake: DataLake,
    model: str,
    run_id: str,
    arm: str,
    frame: pd.DataFrame,
    contract: DataContract,
    transform: Transform | None,
    c: Containers,
    local_copy_root: Path | None,
) -> StagedInput:
    folder = inputs_folder(model, run_id)
    rows = model_rows(frame, contract, transform)
    lake.write(c.features, f"{folder}/{arm}/{INPUT_FILE}", rows.to_csv(index=False).encode(), overwrite=True)
    ids = frame[contract.id_column].astype(str).tolist() if contract.id_column in frame.columns else []
    lake.write(c.features, f"{folder}/{arm}-ids.json", json.dumps(ids).encode(), overwrite=True)
    uri = stage_job_input(lake, c.features, f"{folder}/{arm}/", local_copy_root)
    return StagedInput(arm=arm, input_uri=uri, rows=len(rows))


def stage_smoke(
    lake: DataLake,
    contract: DataContract,
    req: BatchSmokeInput,
    containers: Containers,
    local_copy_root: Path | None,
) -> StagedInput:
    """The first `rows` rows of the run's evaluation split, as a scoring input (no label)."""
    if req.eval_ref is None:
        raise ValueError("no evaluation split was handed to batch_deploy: nothing to smoke-test with")
    parts = [b for b in lake.list(req.eval_ref.container, req.eval_ref.path) if b.path.endswith(".parquet")]
    if not parts:
        raise FileNotFoundError(f"the evaluation split {req.eval_ref.path} has no parquet file")
    frame = pd.read_parquet(io.BytesIO(lake.read(req.eval_ref.container, parts[0].path))).head(req.rows)
    text = frame.astype("string")  # typed again by model_rows, as a scoring input would be
    return _stage(
        lake,
        req.model,
        req.run_id,
        "smoke",
        text,
        contract,
        load_transform(req.transform),
        containers,
        local_copy_root,
    )


# --------------------------------------------------------------------------- outputs


# What an MLflow batch deployment (no scoring script, output_action append_row) writes to
# predictions.csv: NO header row, one line per scored row, the columns in this order (the row index
# only for tabular input). Azure ML docs, how-to-mlflow-batch.md; the official notebook
# azureml-examples sdk/python/endpoints/batch/deploy-models/heart-classifier-mlflow/
# mlflow-for-batch-tabular.ipynb reads it with `names=["row", "prediction", "file"]`.
PREDICTION_COLUMNS = ("row", "prediction", "file")


def parse_predictions(data: bytes) -> pd.DataFrame:
    """A batch deployment's predictions.csv as a frame with the columns named, in input order
    (mini-batches are appended as they finish: sorted by file, then row). Never reads a header:
    the first line is a prediction like any other."""
    try:
        frame = pd.read_csv(io.BytesIO(data), header=None)
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=list(PREDICTION_COLUMNS))
    width = frame.shape[1]
    if width not in (2, 3):
        raise ValueError(
            f"predictions.csv has {width} columns; an MLflow batch deployment writes "
            "[row,] prediction, file (a model with several outputs needs a scoring script)"
        )
    frame.columns = list(PREDICTION_COLUMNS[3 - width :])
    order = ["file", "row"] if width == 3 else ["file"]
    return frame.sort_values(order, kind="stable").reset_index(drop=True)


def read_predictions(batch: BatchEndpoints, job_name: str) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as tmp:
        return parse_predictions(batch.download_output(job_name, Path(tmp)).read_bytes())


def judge_smoke_job(
    batch: BatchEndpoints, job_name: str, expected_rows: int, job_state: str, message: str
) -> BatchJudgeSmokeResult:
    predictions: list[object] = []
    if job_state == "completed":
        predictions = read_predictions(batch, job_name)["prediction"].tolist()
    verdict = judge_smoke(expected_rows, predictions, job_state=job_state, message=message[-500:])
    return BatchJudgeSmokeResult(
        passed=verdict.passed,
        expected_rows=verdict.expected_rows,
        scored_rows=verdict.scored_rows,
        reasons=verdict.reasons,
    )


def collect(
    batch: BatchEndpoints,
    lake: DataLake,
    policy: Policy,
    contract: DataContract,
    req: BatchCollectInput,
    c: Containers,
) -> BatchCollectResult:
    """Copy a completed job's predictions into the lake, one row per input row, each with the
    model name and version, the deployment, the arm and the scoring run id (and the row's id)."""
    status = batch.status(req.job_name)
    frame = read_predictions(batch, req.job_name)
    stamp = {
        "model_name": status.model_name or policy.model,
        "model_version": status.model_version,
        "deployment": status.deployment,
        "run_id": req.run_id,
        "arm": req.arm,
    }
    for column, value in stamp.items():
        if column not in frame.columns or column in ("run_id", "arm") or not frame[column].notna().all():
            frame[column] = value
    ids_path = f"{inputs_folder(req.model, req.run_id)}/{req.arm}-ids.json"
    ids = json.loads(lake.read(c.features, ids_path)) if lake.exists(c.features, ids_path) else []
    if contract.id_column and len(ids) == len(frame):
        frame.insert(0, contract.id_column, ids)
    container, prefix = predictions_location(_batch(policy).output_prefix, policy.model, req.run_id)
    path = f"{prefix}predictions-{req.arm}.csv"
    lake.write(container, path, frame.to_csv(index=False).encode(), overwrite=True, content_type="text/csv")
    return BatchCollectResult(
        arm=req.arm,
        deployment=status.deployment,
        model_version=str(stamp["model_version"]),
        rows=len(frame),
        uri=lake.url(container, path),
    )


# --------------------------------------------------------------------------- routing (pure)


def route_scoring(policies: Iterable[Policy], container: str, path: str) -> str | None:
    """The model whose batch.scoring_prefix claims container/path (the longest prefix wins).
    Policies refuse a scoring prefix that overlaps a training prefix, so a blob is either scored
    or trained on, never both."""
    best: tuple[int, str] | None = None
    for policy in policies:
        prefix = policy.batch.scoring_prefix if policy.batch is not None else None
        if prefix is None or policy.data.container != container or not within_prefix(path, prefix):
            continue
        if best is None or (len(prefix), policy.model) > best:
            best = (len(prefix), policy.model)
    return best[1] if best else None
