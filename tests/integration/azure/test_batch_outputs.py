"""The Azure batch adapter reads predictions where Azure ML writes them: the child scoring job's
`score` output, not the invoked (parent) job's.

MLClient has no local stand-in for job outputs (a download walks datastores and blobs), so the fake
below plays what the official sample shows: azureml-examples
sdk/python/endpoints/batch/deploy-models/heart-classifier-mlflow/mlflow-for-batch-tabular.ipynb
(commit 085cd6ea) lists the child with `ml_client.jobs.list(parent_job_name=job.name)` and downloads
`output_name="score"` from it into `named-outputs/score/predictions.csv`. Asked for the parent's
`score`, azure-ai-ml 1.35.2 logs at debug level and writes nothing; the fake does the same."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from adapters.azure.batch_endpoints import AzureMLBatchEndpoints

PREDICTIONS = b"0,0,input.csv\n1,1,input.csv\n"


class BatchJobs:
    def __init__(self, children: dict[str, list[str]]) -> None:
        self.children = children
        self.downloads: list[tuple[str, str | None]] = []

    def get(self, name: str) -> Any:
        return SimpleNamespace(name=name, status="Completed", outputs={})

    def list(self, *, parent_job_name: str | None = None, **kw: Any) -> list[Any]:
        return [SimpleNamespace(name=n) for n in self.children.get(parent_job_name or "", [])]

    def download(self, name: str, *, download_path: str, output_name: str | None = None, **kw: Any) -> None:
        self.downloads.append((name, output_name))
        if output_name == "score" and name not in self.children:  # a child (scoring) job
            out = Path(download_path) / "named-outputs" / "score"
            out.mkdir(parents=True)
            (out / "predictions.csv").write_bytes(PREDICTIONS)


def _adapter(jobs: BatchJobs) -> AzureMLBatchEndpoints:
    return AzureMLBatchEndpoints(SimpleNamespace(jobs=jobs))  # type: ignore[arg-type]


def test_predictions_come_from_the_child_scoring_jobs_score_output(tmp_path):
    jobs = BatchJobs({"batchjob-run-1-a": ["batchjob-run-1-a-score"]})
    path = _adapter(jobs).download_output("batchjob-run-1-a", tmp_path)
    assert path.read_bytes() == PREDICTIONS
    assert jobs.downloads == [("batchjob-run-1-a-score", "score")]


def test_a_job_without_a_scoring_child_is_an_error_not_an_empty_result(tmp_path):
    with pytest.raises(FileNotFoundError, match="no child scoring job"):
        _adapter(BatchJobs({})).download_output("batchjob-run-1-a", tmp_path)
