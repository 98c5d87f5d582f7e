"""Ingest with a Data Factory pipeline: plan the run, then check what the pipeline wrote.

The other ingestion of `core/training/ingest.py`, chosen by the policy's `data.data_factory`. The
pipeline (infra/app/datafactory.bicep) copies the batch's raw CSVs to
`features/{model}/{data version}/` as Parquet with the contract's column mapping. It is code we do
not run, so its output is trusted no more than a raw file: `check_pipeline_output` validates it
against the same data contract, and only then splits it into `training/{model}/{data version}/train/`
and `eval/` with the same split rule as in-app ingestion (one rule, so a customer lands on the same
side whichever path prepared the data) and writes the same manifest. Both paths therefore leave the
same layout for training.

The data version of a pipeline run cannot hash the input bytes before the pipeline has read them, so
it hashes what names them exactly: each blob's container, path and ETag, with the contract, the split,
the pipeline and its parameters.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core.kernel.contract import DataContract, validate
from core.kernel.datafiles import PART, Containers, IngestResult, quarantine_files, to_parquet, typed_frame
from core.kernel.payload import BlobRef
from core.kernel.policy import DataFactoryIngestion, Policy
from core.kernel.ports import BlobNotFound, DataLake, PipelineRun
from core.training.ingest import _find_inputs, split

# Bump when what the pipeline is asked to produce changes: it is part of every data version.
PIPELINE_TRANSFORM_VERSION = "adf-typed-v1"


def data_factory(policy: Policy) -> DataFactoryIngestion:
    if policy.data.data_factory is None:
        raise ValueError(
            f"policy {policy.model!r} ingests in the app: it names no data.data_factory pipeline"
        )
    return policy.data.data_factory


@dataclass(frozen=True)
class PipelinePlan:
    """The pipeline run to start: which pipeline, for which blobs, under which data version."""

    pipeline: str
    data_version: str
    parameters: dict[str, Any]
    sources: list[BlobRef]


def pipeline_data_version(sources: Sequence[BlobRef], contract: DataContract, policy: Policy) -> str:
    """sha256 over the inputs' names and ETags, the contract, the split and the pipeline's request."""
    adf = data_factory(policy)
    h = hashlib.sha256()
    for ref in sorted(sources, key=lambda b: (b.container, b.path)):
        h.update(f"{ref.container}\0{ref.path}\0{ref.etag or ''}\n".encode())
    h.update(contract.canonical_json().encode())
    split_policy = policy.data.split
    h.update(f"{PIPELINE_TRANSFORM_VERSION}|{split_policy.eval_fraction!r}|{split_policy.seed}".encode())
    h.update(json.dumps({"pipeline": adf.pipeline, "parameters": adf.parameters}, sort_keys=True).encode())
    return "dv-" + h.hexdigest()[:24]


def pipeline_parameters(
    policy: Policy, run_id: str, data_version: str, sources: Sequence[BlobRef], containers: Containers
) -> dict[str, Any]:
    """The pipeline's parameters: the policy's own, then ours (ours win: the layout is not negotiable).
    `sourcePaths` is an Array parameter; the rest are Strings."""
    adf = data_factory(policy)
    return {
        **adf.parameters,
        "runId": run_id,
        "model": policy.model,
        "dataVersion": data_version,
        "sourceContainer": policy.data.container,
        "sourcePaths": [ref.path for ref in sorted(sources, key=lambda b: b.path)],
        "featuresContainer": containers.features,
        "featuresFolder": f"{policy.model}/{data_version}",
    }


def plan_pipeline_run(
    lake: DataLake,
    policy: Policy,
    contract: DataContract,
    run_id: str,
    blobs: Sequence[BlobRef] = (),
    containers: Containers = Containers(),
) -> PipelinePlan | IngestResult:
    """The run to start for these blobs (or every data blob under the policy's prefix), or a
    rejected ingest when there is nothing acceptable to hand the pipeline."""
    inputs = _find_inputs(lake, policy, contract, blobs)
    problems = list(inputs.refused)
    sources: list[BlobRef] = []
    for ref in inputs.data:
        try:
            info = lake.info(ref.container, ref.path)
        except BlobNotFound:
            problems.append(f"{ref.container}/{ref.path}: blob not found (deleted after it landed?)")
            continue
        sources.append(BlobRef(container=ref.container, path=ref.path, etag=info.etag))
    if not inputs.data:
        problems.append(
            f"no data files ({contract.files}) under {policy.data.container}/{policy.data.prefix}"
            + (f"; skipped {len(inputs.ignored)} non-data object(s)" if inputs.ignored else "")
        )
    if problems:
        return quarantine_files(lake, containers, policy, run_id, [], {}, problems, 0)
    dv = pipeline_data_version(sources, contract, policy)
    params = pipeline_parameters(policy, run_id, dv, sources, containers)
    return PipelinePlan(data_factory(policy).pipeline, dv, params, sources)


def run_outcome(run: PipelineRun) -> list[str]:
    """Why a finished pipeline run gives no data to train on (Data Factory's own text), or []."""
    if run.state == "succeeded":
        return []
    said = run.message.strip() or "(Data Factory gave no message)"
    return [f"Data Factory pipeline {run.pipeline} run {run.run_id} ended {run.state}: {said[:2000]}"]


def _output_parts(lake: DataLake, container: str, folder: str) -> list[str]:
    parts = []
    for blob in lake.list(container, folder + "/"):
        name = blob.path.rsplit("/", 1)[-1]
        folder_marker = any(
            k.lower() == "hdi_isfolder" and v.lower() == "true" for k, v in blob.metadata.items()
        )
        if name.endswith(".parquet") and blob.size > 0 and not folder_marker:
            parts.append(blob.path)
    return sorted(parts)


def _read_parquet(data: bytes) -> pd.DataFrame:
    return pq.read_table(io.BytesIO(data)).to_pandas()


def check_pipeline_output(
    lake: DataLake,
    policy: Policy,
    contract: DataContract,
    run_id: str,
    pipeline_run: PipelineRun,
    data_version: str,
    sources: Sequence[BlobRef],
    containers: Containers = Containers(),
) -> IngestResult:
    """Validate the pipeline's Parquet against the contract; accepted data is split and written where
    in-app ingestion writes it, rejected data leaves a report in quarantine and nothing for training."""
    c = containers
    base = f"{policy.model}/{data_version}"
    problems: list[str] = []
    frames: list[pd.DataFrame] = []
    parts = _output_parts(lake, c.features, base)
    if not parts:
        problems.append(
            f"Data Factory pipeline {pipeline_run.pipeline} run {pipeline_run.run_id} succeeded but wrote "
            f"no Parquet under {c.features}/{base}/"
        )
    for path in parts:
        try:
            frames.append(_read_parquet(lake.read(c.features, path)))
        except (pa.ArrowException, OSError) as exc:
            problems.append(f"{c.features}/{path}: file.readable: not a readable Parquet file ({exc})")
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    rows_in = len(frame)
    if frames and not problems:
        report = validate(frame, contract)
        problems += [f"{c.features}/{base}/: {line}" for line in report.summary()]
    if problems:
        rejected = quarantine_files(lake, c, policy, run_id, [], {}, problems, rows_in)
        return rejected.model_copy(update={"sources": list(sources), "data_version": data_version})

    features = typed_frame(frame, contract)
    split_policy = policy.data.split
    train, evaluation = split(features, contract, split_policy.eval_fraction, split_policy.seed)
    parquet = "application/vnd.apache.parquet"
    lake.write(c.training, f"{base}/train/{PART}", to_parquet(train), content_type=parquet)
    lake.write(c.training, f"{base}/eval/{PART}", to_parquet(evaluation), content_type=parquet)
    manifest = {
        "model": policy.model,
        "data_version": data_version,
        "transform_version": PIPELINE_TRANSFORM_VERSION,
        "prepared_by": {
            "service": "azure-data-factory",
            "pipeline": pipeline_run.pipeline,
            "run_id": pipeline_run.run_id,
            "features": parts,
        },
        "contract": {"name": contract.name, "version": contract.version},
        "split": split_policy.model_dump(),
        "rows": {"in": rows_in, "out": len(features), "train": len(train), "eval": len(evaluation)},
        "sources": [{"container": s.container, "path": s.path, "etag": s.etag} for s in sources],
    }
    lake.write(
        c.training,
        f"{base}/manifest.json",
        json.dumps(manifest, indent=2, sort_keys=True).encode(),
        content_type="application/json",
    )
    return IngestResult(
        status="accepted",
        model=policy.model,
        rows_in=rows_in,
        rows_out=len(features),
        sources=list(sources),
        data_version=data_version,
        train_uri=lake.url(c.training, f"{base}/train/"),
        eval_uri=lake.url(c.training, f"{base}/eval/"),
        train_ref=BlobRef(container=c.training, path=f"{base}/train/"),
        eval_ref=BlobRef(container=c.training, path=f"{base}/eval/"),
        features_uri=lake.url(c.features, f"{base}/"),
        train_rows=len(train),
        eval_rows=len(evaluation),
    )
