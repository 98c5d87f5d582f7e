"""What an Azure ML MLflow batch deployment writes back is read as it is written.

The file below has the shape Azure ML documents for a no-code MLflow batch deployment with
output_action append_row (how-to-mlflow-batch.md): `predictions.csv` with NO header, one line per
scored row, columns row (tabular input only), prediction, file name. The official notebook
azureml-examples sdk/python/endpoints/batch/deploy-models/heart-classifier-mlflow/
mlflow-for-batch-tabular.ipynb reads it with `pd.read_csv(..., names=["row", "prediction", "file"])`;
its input files are heart-unlabeled-{0..3}.csv. The notebook stores no output, so the rows are ours."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.batch.runs import judge_smoke_job, parse_predictions

# mini-batches are appended as they finish, so a later file can come first
PUBLISHED_SHAPE = b"""0,0,heart-unlabeled-1.csv
1,1,heart-unlabeled-1.csv
2,0,heart-unlabeled-1.csv
0,1,heart-unlabeled-0.csv
1,0,heart-unlabeled-0.csv
"""


class DownloadedOutput:
    """A BatchEndpoints whose completed job's `score` output holds `data` as predictions.csv."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def download_output(self, job_name: str, dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "predictions.csv").write_bytes(self.data)
        return dest / "predictions.csv"


def test_every_line_of_the_headerless_file_is_a_prediction_in_input_order():
    frame = parse_predictions(PUBLISHED_SHAPE)
    assert list(frame.columns) == ["row", "prediction", "file"]
    assert len(frame) == 5  # a header-reading parser keeps 4
    assert frame[["file", "row", "prediction"]].values.tolist() == [
        ["heart-unlabeled-0.csv", 0, 1],
        ["heart-unlabeled-0.csv", 1, 0],
        ["heart-unlabeled-1.csv", 0, 0],
        ["heart-unlabeled-1.csv", 1, 1],
        ["heart-unlabeled-1.csv", 2, 0],
    ]


def test_non_tabular_input_has_no_row_column():
    frame = parse_predictions(b"0.25,a.parquet\n0.75,a.parquet\n")
    assert list(frame.columns) == ["prediction", "file"] and frame["prediction"].tolist() == [0.25, 0.75]


def test_an_empty_output_is_no_predictions_and_an_unknown_layout_is_refused():
    assert parse_predictions(b"").empty
    with pytest.raises(ValueError, match="needs a scoring script"):
        parse_predictions(b"0,1,2,3,x.csv\n")


def test_a_smoke_run_judges_the_predictions_not_the_file_names_and_counts_every_row():
    verdict = judge_smoke_job(DownloadedOutput(PUBLISHED_SHAPE), "smoke-job", 5, "completed", "")  # type: ignore[arg-type]
    assert verdict.passed, verdict.reasons
    assert verdict.scored_rows == 5
