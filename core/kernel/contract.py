"""The data contract: what raw data must look like before anything is trained on it.

Validation is pure (a DataFrame in, a report out) and reports every rule with the rows that
broke it, so a quarantined file comes with enough detail to fix the producer, not just "invalid".
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

if TYPE_CHECKING:  # pandas loads with validation, not with the contract (the trigger side reads it)
    import pandas as pd

MAX_FAILING_ROWS = 20

DType = Literal["int", "float", "string", "bool", "category", "datetime"]


class ContractError(ValueError):
    """A contract file that cannot be used (not a data-validation failure)."""


class ColumnRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    dtype: DType
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    allowed: list[str | int | bool] | None = None  # closed set of values (category/string/int/bool)


class DataContract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: Annotated[int, Field(ge=1)] = 1
    label: str
    id_column: str | None = None  # carried through, never a feature
    min_rows: Annotated[int, Field(ge=1)] = 1
    allow_extra_columns: bool = False
    # Which blobs under the policy's prefix are data files (a glob on the file name). Anything
    # else landing there (Spark's `_SUCCESS`, `.crc` files, directory placeholders) is not data.
    files: str = "*.csv"
    columns: list[ColumnRule]

    @model_validator(mode="after")
    def _label_is_a_column(self) -> DataContract:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError("column names must be unique")
        for role, col in (("label", self.label), ("id_column", self.id_column)):
            if col is not None and col not in names:
                raise ValueError(f"{role} {col!r} is not one of the columns {names}")
        return self

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def canonical_json(self) -> str:
        """What a data version hashes. `files` only chooses the inputs, whose bytes are hashed
        anyway, so it is left out: adding it did not change any existing data version."""
        return self.model_dump_json(exclude={"files"})

    def not_data(
        self, path: str, size: int | None = None, metadata: Mapping[str, str] | None = None
    ) -> str | None:
        """Why the blob at `path` is not a data file of this contract, or None if it is one.

        ADLS Gen2, ADF and Spark write 0-byte directory placeholders (metadata hdi_isfolder=true)
        and `_SUCCESS` markers next to the data; they must be skipped, not fail the batch."""
        if any(k.lower() == "hdi_isfolder" and str(v).lower() == "true" for k, v in (metadata or {}).items()):
            return "a directory placeholder (hdi_isfolder)"
        name = posixpath.basename(path)
        if not name or path.endswith("/"):
            return "a directory, not a file"
        if not fnmatch.fnmatchcase(name.lower(), self.files.lower()):
            return f"{name!r} does not match the contract's file pattern {self.files!r}"
        if size == 0:
            return "an empty (0-byte) blob"
        return None


def load_contract(path: Path) -> DataContract:
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        return DataContract.model_validate(doc)
    except FileNotFoundError:
        raise ContractError(f"{path}: data contract not found") from None
    except yaml.YAMLError as exc:
        raise ContractError(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in exc.errors()
        )
        raise ContractError(f"{path}: invalid data contract: {problems}") from None


# --------------------------------------------------------------------------- validation


class RuleResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str  # e.g. "columns.present", "tenure_months.range", "rows.min"
    column: str | None = None
    passed: bool
    failing_count: int = 0
    failing_rows: list[int] = Field(default_factory=list)  # 0-based data row indices, capped
    message: str = ""


class ValidationReport(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    contract: str
    contract_version: int
    rows: int
    valid: bool
    results: list[RuleResult]

    @property
    def failures(self) -> list[RuleResult]:
        return [r for r in self.results if not r.passed]

    def summary(self) -> list[str]:
        return [f"{r.rule}: {r.message}" for r in self.failures]


def _result(rule: str, column: str | None, bad: pd.Series | None, message: str) -> RuleResult:
    if bad is None:
        return RuleResult(rule=rule, column=column, passed=True)
    idx = [int(i) for i in bad[bad].index[:MAX_FAILING_ROWS]]
    count = int(bad.sum())
    if count == 0:
        return RuleResult(rule=rule, column=column, passed=True)
    return RuleResult(
        rule=rule,
        column=column,
        passed=False,
        failing_count=count,
        failing_rows=idx,
        message=f"{count} row(s) {message}",
    )


def _typed(series: pd.Series, dtype: DType) -> tuple[pd.Series, pd.Series]:
    """Coerce to the contract's type; returns (typed values, mask of present-but-uncoercible)."""
    import pandas as pd

    present = series.notna() & (series.astype("string").str.strip() != "")
    if dtype in ("int", "float"):
        values = pd.to_numeric(series, errors="coerce")
        bad = present & values.isna()
        if dtype == "int":
            bad |= values.notna() & (values != values.round())
        return values, bad
    if dtype == "bool":
        mapping = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
        lowered = series.astype("string").str.strip().str.lower()
        values = lowered.map(mapping)
        return values, present & values.isna()
    if dtype == "datetime":
        values = pd.to_datetime(series, errors="coerce", utc=True)
        return values, present & values.isna()
    values = series.astype("string").str.strip()
    return values.where(present), pd.Series(False, index=series.index)


def validate(df: pd.DataFrame, contract: DataContract) -> ValidationReport:
    """Check every rule of the contract; the data is valid only if all pass."""
    import pandas as pd

    df = df.reset_index(drop=True)
    results: list[RuleResult] = []
    missing = [c for c in contract.column_names if c not in df.columns]
    results.append(
        RuleResult(
            rule="columns.present",
            passed=not missing,
            message=f"missing column(s): {', '.join(missing)}" if missing else "",
        )
    )
    extra = [c for c in df.columns if c not in contract.column_names]
    if not contract.allow_extra_columns:
        results.append(
            RuleResult(
                rule="columns.no_extra",
                passed=not extra,
                message=f"unexpected column(s): {', '.join(map(str, extra))}" if extra else "",
            )
        )
    results.append(
        RuleResult(
            rule="rows.min",
            passed=len(df) >= contract.min_rows,
            message=f"{len(df)} row(s), the contract needs at least {contract.min_rows}"
            if len(df) < contract.min_rows
            else "",
        )
    )
    for col in contract.columns:
        if col.name not in df.columns:
            continue
        raw = df[col.name]
        values, bad_type = _typed(raw, col.dtype)
        results.append(_result(f"{col.name}.dtype", col.name, bad_type, f"are not {col.dtype}"))
        null = values.isna() & ~bad_type
        if not col.nullable:
            results.append(_result(f"{col.name}.not_null", col.name, null, "are empty"))
        ok = values.notna() & ~bad_type
        if col.min is not None or col.max is not None:
            lo = -float("inf") if col.min is None else col.min
            hi = float("inf") if col.max is None else col.max
            numeric = pd.to_numeric(values.where(ok), errors="coerce")
            out = ok & ((numeric < lo) | (numeric > hi))
            results.append(_result(f"{col.name}.range", col.name, out, f"are outside [{col.min}, {col.max}]"))
        if col.allowed is not None:
            allowed = {str(a).lower() for a in col.allowed}
            as_text = values.astype("string").str.lower()
            if col.dtype == "int":
                as_text = values.astype("Int64").astype("string")
            out = ok & ~as_text.isin(allowed)
            results.append(
                _result(f"{col.name}.allowed", col.name, out, f"are not one of {list(col.allowed)}")
            )
    return ValidationReport(
        contract=contract.name,
        contract_version=contract.version,
        rows=len(df),
        valid=all(r.passed for r in results),
        results=results,
    )


def report_json(report: ValidationReport, **context: Any) -> str:
    """The quarantine report: the validation results plus where the data came from."""
    return json.dumps({**context, **report.model_dump(mode="json")}, indent=2, sort_keys=True)
