"""The data contract: each rule reports the rows that broke it, so a producer can fix its data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core.kernel.contract import MAX_FAILING_ROWS, ContractError, DataContract, load_contract, validate
from samples.churn.data import corrupt, generate

CONTRACT = load_contract(Path(__file__).resolve().parents[3] / "samples" / "churn" / "contract.yaml")


def _as_csv_text(frame: pd.DataFrame) -> pd.DataFrame:
    """What ingest sees: every cell as text, empty cells as NaN."""
    return frame.astype(object).where(frame.notna(), None).astype("string").astype(object)


def _failed(report) -> dict[str, object]:
    return {r.rule: r for r in report.failures}


def test_generated_churn_data_satisfies_the_sample_contract():
    report = validate(_as_csv_text(generate(300, seed=1)), CONTRACT)
    assert report.valid, report.summary()
    assert report.rows == 300


def test_bad_types_are_reported_per_column_with_their_rows():
    frame = generate(300, seed=2)
    bad = corrupt(frame, "bad_types", fraction=0.02, seed=2)
    failed = _failed(validate(_as_csv_text(bad), CONTRACT))
    changed = [i for i in range(len(frame)) if str(bad.iat[i, 1]) != str(frame.iat[i, 1])]
    assert failed["tenure_months.dtype"].failing_rows == changed
    assert "monthly_charges.dtype" in failed


def test_out_of_range_and_unknown_categories_fail_their_rules():
    failed = _failed(validate(_as_csv_text(corrupt(generate(300, seed=3), "out_of_range", seed=3)), CONTRACT))
    assert {"age.range", "tenure_months.range", "contract.allowed"} <= set(failed)
    assert "outside [18.0, 90.0]" in failed["age.range"].message


def test_a_missing_column_is_named():
    report = validate(_as_csv_text(corrupt(generate(300), "missing_column")), CONTRACT)
    assert not report.valid
    assert "missing column(s): monthly_charges" in report.summary()[0]


def test_empty_cells_in_non_nullable_columns_fail():
    failed = _failed(validate(_as_csv_text(corrupt(generate(300), "nulls", fraction=0.01)), CONTRACT))
    assert failed["support_calls.not_null"].failing_count == 3


def test_too_few_rows_fail_the_min_rows_rule():
    report = validate(_as_csv_text(generate(50)), CONTRACT)
    assert _failed(report)["rows.min"].message == "50 row(s), the contract needs at least 200"


def test_unexpected_columns_fail_unless_the_contract_allows_them():
    frame = _as_csv_text(generate(300)).assign(extra="x")
    assert "columns.no_extra" in _failed(validate(frame, CONTRACT))
    assert validate(frame, CONTRACT.model_copy(update={"allow_extra_columns": True})).valid


def test_failing_rows_are_capped_but_counted():
    frame = _as_csv_text(generate(400)).assign(age="200")
    rule = _failed(validate(frame, CONTRACT))["age.range"]
    assert rule.failing_count == 400
    assert len(rule.failing_rows) == MAX_FAILING_ROWS


def test_a_label_that_is_not_a_column_is_a_contract_error(tmp_path):
    (tmp_path / "c.yaml").write_text("name: x\nlabel: y\ncolumns: [{name: a, dtype: int}]\n")
    with pytest.raises(ContractError, match="label 'y' is not one of the columns"):
        load_contract(tmp_path / "c.yaml")


def test_nullable_columns_accept_empty_cells():
    contract = DataContract(
        name="t", label="y", min_rows=1, columns=[{"name": "y", "dtype": "float", "nullable": True}]
    )
    assert validate(pd.DataFrame({"y": ["1.5", None]}), contract).valid
