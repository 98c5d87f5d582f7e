"""Ingest: raw CSV blobs -> validated, typed data under a content-addressed data version.

The transform and versioning are pure (bytes and contract in, frames and version out), so the
same input always yields the same data version and the same Parquet files; `run_ingest` does the
I/O through the DataLake port. Content addressing makes ingest idempotent: a replayed or
duplicate run finds its files already written and writes nothing new. Invalid input is copied
to quarantine with a report, and nothing else is written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.kernel.blob_paths import within_prefix
from core.kernel.contract import DataContract, ValidationReport, validate
from core.kernel.datafiles import (
    PART,
    Containers,
    IngestResult,
    RawFile,
    _plain,
    quarantine_files,
    read_csv,
    to_parquet,
    typed_frame,
)
from core.kernel.payload import BlobRef
from core.kernel.policy import Policy
from core.kernel.ports import BlobNotFound, DataLake

# Bump when typed_frame/split change what they produce: it is part of every data version.
TRANSFORM_VERSION = "typed-v1"


@dataclass(frozen=True)
class Prepared:
    data_version: str
    features: pd.DataFrame
    train: pd.DataFrame
    eval: pd.DataFrame


def data_version(files: Sequence[RawFile], contract: DataContract, eval_fraction: float, seed: int) -> str:
    """sha256 over the input bytes (in path order), the contract, the split and the transform."""
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: (f.ref.container, f.ref.path, f.sha256)):
        h.update(f.sha256.encode())
    h.update(contract.canonical_json().encode())
    h.update(f"{TRANSFORM_VERSION}|{eval_fraction!r}|{seed}".encode())
    return "dv-" + h.hexdigest()[:24]


def split(
    df: pd.DataFrame, contract: DataContract, eval_fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deterministic train/eval split.

    With an id column each row's side depends only on its id and the seed, so a customer seen in
    two data versions lands on the same side (no leakage between a champion's training data and a
    challenger's evaluation split built from overlapping files)."""
    if contract.id_column:
        keys = pd.util.hash_pandas_object(
            df[contract.id_column].astype(str), index=False, hash_key=f"{seed:016d}"[-16:]
        )
        u = (keys.to_numpy(dtype=np.uint64) % np.uint64(1_000_000)).astype(np.float64) / 1_000_000
    else:
        u = np.random.default_rng(seed).random(len(df))
    is_eval = u < eval_fraction
    return df[~is_eval].reset_index(drop=True), df[is_eval].reset_index(drop=True)


def prepare(files: Sequence[RawFile], contract: DataContract, eval_fraction: float, seed: int) -> Prepared:
    frames = [typed_frame(read_csv(f.data), contract) for f in sorted(files, key=lambda f: f.ref.path)]
    features = pd.concat(frames, ignore_index=True)
    train, evaluation = split(features, contract, eval_fraction, seed)
    return Prepared(data_version(files, contract, eval_fraction, seed), features, train, evaluation)


@dataclass(frozen=True)
class Inputs:
    data: list[BlobRef]
    ignored: list[dict[str, str]]  # non-data objects skipped, with why
    refused: list[str]  # named blobs outside the policy's container and prefix


def _find_inputs(lake: DataLake, policy: Policy, contract: DataContract, blobs: Sequence[BlobRef]) -> Inputs:
    """The data files to ingest: the named blobs (from events) or every blob under the policy's
    prefix, minus what is not data (folder placeholders, markers, empty blobs: see
    DataContract.not_data). A named blob outside the policy's container, or whose name has dot
    segments, is refused and never read: the edge checks this too (and the prefix), ingest does
    not trust it. Named blobs elsewhere in the container are allowed (an operator may name them)."""
    data: list[BlobRef] = []
    ignored: list[dict[str, str]] = []
    refused: list[str] = []
    if blobs:
        for ref in sorted(blobs, key=lambda b: (b.container, b.path)):
            if ref.container != policy.data.container or not _plain(ref.path):
                refused.append(
                    f"{ref.container}/{ref.path[:300]}: outside the policy's container "
                    f"{policy.data.container} (or a name with '.'/'..' segments)"
                )
                continue
            try:
                info = lake.info(ref.container, ref.path)
            except BlobNotFound:
                data.append(ref)  # reported as not found when it is read
                continue
            if (why := contract.not_data(ref.path, info.size, info.metadata)) is not None:
                ignored.append({"path": ref.path, "why": why})
            else:
                data.append(ref)
        return Inputs(data, ignored, refused)
    for b in lake.list(policy.data.container, policy.data.prefix):
        if not within_prefix(b.path, policy.data.prefix):
            ignored.append(
                {"path": b.path[:300], "why": "a name with '.'/'..' segments or outside the prefix"}
            )
        elif (why := contract.not_data(b.path, b.size, b.metadata)) is not None:
            ignored.append({"path": b.path, "why": why})
        else:
            data.append(BlobRef(container=b.container, path=b.path, etag=b.etag))
    return Inputs(data, ignored, refused)


def run_ingest(
    lake: DataLake,
    policy: Policy,
    contract: DataContract,
    run_id: str,
    blobs: Sequence[BlobRef] = (),
    containers: Containers = Containers(),
) -> IngestResult:
    c = containers
    inputs = _find_inputs(lake, policy, contract, blobs)
    refs = inputs.data
    files: list[RawFile] = []
    problems: list[str] = list(inputs.refused)
    for ref in refs:
        try:
            files.append(RawFile(ref, lake.read(ref.container, ref.path)))
        except BlobNotFound:
            problems.append(f"{ref.container}/{ref.path}: blob not found (deleted after it landed?)")
    if not refs:
        problems.append(
            f"no data files ({contract.files}) under {policy.data.container}/{policy.data.prefix}"
            + (f"; skipped {len(inputs.ignored)} non-data object(s)" if inputs.ignored else "")
        )
    reports: dict[str, ValidationReport | None] = {}
    rows_in = 0
    for f in files:
        try:
            frame = read_csv(f.data)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            reports[f.ref.path] = None
            problems.append(f"{f.ref.path}: file.readable: not a parseable CSV ({exc})")
            continue
        rows_in += len(frame)
        report = validate(frame, contract)
        reports[f.ref.path] = report
        problems += [f"{f.ref.path}: {line}" for line in report.summary()]
    if problems:
        return quarantine_files(lake, c, policy, run_id, files, reports, problems, rows_in)

    split_policy = policy.data.split
    prepared = prepare(files, contract, split_policy.eval_fraction, split_policy.seed)
    dv = prepared.data_version
    base = f"{policy.model}/{dv}"
    features_path = f"{base}/features.parquet"
    lake.write(
        c.features,
        features_path,
        to_parquet(prepared.features),
        content_type="application/vnd.apache.parquet",
    )
    lake.write(
        c.training,
        f"{base}/train/{PART}",
        to_parquet(prepared.train),
        content_type="application/vnd.apache.parquet",
    )
    lake.write(
        c.training,
        f"{base}/eval/{PART}",
        to_parquet(prepared.eval),
        content_type="application/vnd.apache.parquet",
    )
    manifest = {
        "model": policy.model,
        "data_version": dv,
        "transform_version": TRANSFORM_VERSION,
        "contract": {"name": contract.name, "version": contract.version},
        "split": split_policy.model_dump(),
        "rows": {
            "in": rows_in,
            "out": len(prepared.features),
            "train": len(prepared.train),
            "eval": len(prepared.eval),
        },
        "sources": [
            {"container": f.ref.container, "path": f.ref.path, "etag": f.ref.etag, "sha256": f.sha256}
            for f in files
        ],
        "ignored": inputs.ignored,
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
        rows_out=len(prepared.features),
        sources=[f.ref for f in files],
        data_version=dv,
        train_uri=lake.url(c.training, f"{base}/train/"),
        eval_uri=lake.url(c.training, f"{base}/eval/"),
        train_ref=BlobRef(container=c.training, path=f"{base}/train/"),
        eval_ref=BlobRef(container=c.training, path=f"{base}/eval/"),
        features_uri=lake.url(c.features, features_path),
        train_rows=len(prepared.train),
        eval_rows=len(prepared.eval),
    )
