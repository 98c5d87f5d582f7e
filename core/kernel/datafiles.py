"""Data files in the lake, shared by training's ingest and batch scoring: reading raw CSV into the
contract's types, Parquet out, quarantining rejected files with a report, and staging a folder of
the lake as a job input."""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from core.kernel.blob_paths import BlobPathError, check_blob_path, within_prefix
from core.kernel.contract import DataContract, ValidationReport, report_json
from core.kernel.payload import BlobRef, Payload
from core.kernel.policy import Policy
from core.kernel.ports import DataLake

if TYPE_CHECKING:  # pandas and pyarrow load when data is read, not with the module (cold start)
    import pandas as pd

# Training data is laid out as one folder per split (training/{model}/{version}/train/, .../eval/)
# because Azure ML job inputs of type uri_folder mount a folder: a shared folder would leak the
# evaluation rows into training.
PART = "part-000.parquet"


class IngestResult(Payload):
    status: Literal["accepted", "rejected"]
    model: str
    rows_in: int
    rows_out: int = 0
    sources: list[BlobRef] = Field(default_factory=list)
    data_version: str | None = None
    train_uri: str | None = None  # folder URLs (uri_folder job inputs)
    eval_uri: str | None = None
    train_ref: BlobRef | None = None  # the same folders as container + prefix, for staging job inputs
    eval_ref: BlobRef | None = None
    features_uri: str | None = None
    train_rows: int = 0
    eval_rows: int = 0
    quarantine_uri: str | None = None  # folder holding the raw file(s) and report.json
    report_uri: str | None = None
    failures: list[str] = Field(default_factory=list)  # one line per failed rule


@dataclass(frozen=True)
class RawFile:
    ref: BlobRef
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


# --------------------------------------------------------------------------- pure


def read_csv(data: bytes) -> pd.DataFrame:
    """Every cell as text, so validation sees exactly what the producer wrote."""
    import pandas as pd

    return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=True, skipinitialspace=True)


def typed_frame(df: pd.DataFrame, contract: DataContract) -> pd.DataFrame:
    """Cast validated text to the contract's types, in the contract's column order."""
    import pandas as pd

    out: dict[str, pd.Series] = {}
    for col in contract.columns:
        text = df[col.name].astype("string").str.strip()
        text = text.where(text != "")
        if col.dtype == "int":
            values = pd.to_numeric(text, errors="raise")
            out[col.name] = values.astype("Int64" if col.nullable else "int64")
        elif col.dtype == "float":
            out[col.name] = pd.to_numeric(text, errors="raise").astype("float64")
        elif col.dtype == "bool":
            mapping = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
            values = text.str.lower().map(mapping)
            out[col.name] = values.astype("boolean" if col.nullable else "bool")
        elif col.dtype == "datetime":
            out[col.name] = pd.to_datetime(text, utc=True)
        elif col.dtype == "category":
            out[col.name] = text.str.lower().astype(object)
        else:
            out[col.name] = text.astype(object)
    return pd.DataFrame(out).reset_index(drop=True)


def to_parquet(df: pd.DataFrame) -> bytes:
    """Byte-stable Parquet for byte-stable input (no write timestamps, no index)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="snappy", write_statistics=True)
    return buf.getvalue()


# --------------------------------------------------------------------------- I/O through the port


@dataclass(frozen=True)
class Containers:
    raw: str = "raw"
    features: str = "features"
    training: str = "training"
    quarantine: str = "quarantine"


def _plain(path: str) -> bool:
    try:
        check_blob_path(path)
    except BlobPathError:
        return False
    return True


def quarantine_name(path: str, index: int, sha256: str) -> str:
    """A file name for a quarantined copy that cannot leave the run's quarantine folder:
    the blob's own name when it is a plain name, else one made from its content hash."""
    name = posixpath.basename(path.rstrip("/"))
    try:
        check_blob_path(name)
    except BlobPathError:
        return f"blob-{index:03d}-{sha256[:16]}"
    return name


def quarantine_files(
    lake: DataLake,
    c: Containers,
    policy: Policy,
    run_id: str,
    files: Sequence[RawFile],
    reports: dict[str, ValidationReport | None],
    problems: list[str],
    rows_in: int,
) -> IngestResult:
    folder = f"{policy.model}/{run_id}"
    check_blob_path(folder, what="quarantine folder")
    used: set[str] = {"report.json"}
    for index, f in enumerate(files):
        report = reports.get(f.ref.path)
        if report is None or not report.valid:
            name = quarantine_name(f.ref.path, index, f.sha256)
            if name in used:  # two folders, one file name: keep both
                name = f"{index:03d}-{name}"
            used.add(name)
            lake.write(
                c.quarantine,
                f"{folder}/{name}",
                f.data,
                overwrite=True,
                content_type="text/csv",
            )
    body = {
        "model": policy.model,
        "run_id": run_id,
        "verdict": "rejected",
        "problems": problems,
        "files": [
            {
                "container": f.ref.container,
                "path": f.ref.path,
                "etag": f.ref.etag,
                "sha256": f.sha256,
                "report": json.loads(report_json(r)) if (r := reports.get(f.ref.path)) else None,
            }
            for f in files
        ],
    }
    report_path = f"{folder}/report.json"
    lake.write(
        c.quarantine,
        report_path,
        json.dumps(body, indent=2, sort_keys=True).encode(),
        overwrite=True,
        content_type="application/json",
    )
    return IngestResult(
        status="rejected",
        model=policy.model,
        rows_in=rows_in,
        sources=[f.ref for f in files],
        quarantine_uri=lake.url(c.quarantine, folder + "/"),
        report_uri=lake.url(c.quarantine, report_path),
        failures=problems,
    )


def inside(root: Path, relative: str) -> Path:
    """`root / relative`, resolved, refused unless it stays inside `root` (a name from outside,
    e.g. a blob name, must not write or read beside the folder it is staged into)."""
    base = root.resolve()
    target = (base / relative).resolve()
    if target != base and base not in target.parents:
        raise ValueError(f"{relative[:200]!r} resolves outside {base}; refusing to use it")
    return target


def stage_folder(lake: DataLake, container: str, prefix: str, root: Path) -> Path:
    """Copy the blobs under container/prefix to root/container/prefix (a local job reads
    files). Every name is checked and every target resolved inside root first; data versions
    are immutable, so a copy of the right size is reused."""
    check_blob_path(container, what="container")
    check_blob_path(prefix, what="prefix", prefix=True)
    folder = inside(root, f"{container}/{prefix.strip('/')}")
    blobs = lake.list(container, prefix)
    if not blobs:
        raise FileNotFoundError(f"no blobs under {container}/{prefix}: nothing to stage as a job input")
    for blob in blobs:
        if not within_prefix(blob.path, prefix):
            raise ValueError(
                f"blob {blob.path[:200]!r} is not a plain name under {prefix!r}; refusing to stage it"
            )
        target = inside(folder, blob.path[len(prefix) :].lstrip("/"))
        if not target.exists() or target.stat().st_size != blob.size:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            tmp.write_bytes(lake.read(container, blob.path))
            tmp.replace(target)
    return folder


def stage_job_input(lake: DataLake, container: str, prefix: str, local_copy_root: Path | None) -> str:
    """A data lake folder as a job input: its URL when jobs read the lake themselves (Azure ML
    mounts it; `local_copy_root` is None), else a copy under `local_copy_root/container/prefix`
    (local jobs read files)."""
    if local_copy_root is None:
        return lake.url(container, prefix)
    return str(stage_folder(lake, container, prefix, local_copy_root))
