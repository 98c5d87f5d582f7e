"""Has what the model sees drifted from what it was trained on? One check of one window, judged.

The evidence (numbers, no action):

* Each watched column is binned on the REFERENCE (the champion's training data): numeric columns
  by the reference's quantiles (`bins` equal-share bins, ties merged, the outer bins open so any
  live value has a bin), categories by value (rare ones and unseen live values share an
  "other" bin). The score, when watched, is one more numeric column.
* Per column the window's bin counts are compared with the reference's in two ways: the
  population stability index (PSI, the effect size practitioners read and tune) and a chi-square
  test of homogeneity on the 2 x K table (window vs reference). The test counts the reference's
  own sampling noise, and its p-value says how surprising the window is if nothing drifted,
  however many rows the hour happened to bring: a night window of 60 rows is not judged like a
  noon window of 600, which is where a fixed PSI threshold raises its false alarms.

The decision (`judge_drift`, pure, verdict with reasons and per-column numbers):

* The false-alarm budget is the EXPECTED number of alerts per 30 days on traffic that has not
  drifted, across every column and every check. By linearity of expectation, testing each
  column at level budget / (checks in 30 days x columns) keeps the expected count of false
  alerts at or below the budget, however the windows overlap and the columns correlate (a
  Bonferroni split over features and over repeated checks; no independence is assumed). The
  level is the same in every check, so a check need not know its history.
* A column drifts when its test rejects at that level AND its PSI is at least `min_psi`: with
  enough rows any difference becomes certain, and a certain but negligible drift is not worth
  a retrain.
* Fewer than `min_rows` rows in the window is need_more_data, never "no drift"; an alert within
  `cooldown_seconds` of the previous one is cooling_down (the retrain it started needs time).

`fixed_psi_alarm` and `ks_alarm` are the peers' rules (Azure ML model monitoring, SageMaker Model
Monitor, Evidently): a fixed threshold per feature per window. bench/drift.py compares all three.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
from croniter import croniter
from scipy.stats import chi2_contingency, ks_2samp

from core.kernel.policy import MonitoringPolicy
from core.monitoring.facts import ColumnFigures, DriftEvaluated, DriftVerdictKind

OTHER = "(other)"  # the bin of rare and unseen categories
DAYS = 30
RARE_SHARE = 0.005  # categories rarer than this in the reference share the other bin


# --------------------------------------------------------------------------- binning the reference


@dataclass(frozen=True)
class ColumnReference:
    """One column's bins and reference counts. Numeric: `edges` are the interior cut points (a value
    v falls in bin searchsorted(edges, v, 'right')). Category: `categories` name the bins, the last
    is OTHER."""

    column: str
    kind: Literal["numeric", "category"]
    counts: tuple[int, ...]
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        return sum(self.counts)

    def bin_counts(self, values: Sequence[object] | np.ndarray) -> np.ndarray:
        """The window's counts in this column's bins (missing values are left out)."""
        if self.kind == "numeric":
            numbers = np.asarray(values, dtype=float)
            numbers = numbers[~np.isnan(numbers)]
            index = np.searchsorted(np.asarray(self.edges), numbers, side="right")
            return np.bincount(index, minlength=len(self.counts))
        position = {name: i for i, name in enumerate(self.categories)}
        other = len(self.categories) - 1
        index = np.fromiter(
            (position.get(str(v), other) for v in values if v is not None and v == v),
            dtype=int,
        )
        return np.bincount(index, minlength=len(self.counts))


def reference_for(column: str, values: Sequence[object] | np.ndarray, bins: int) -> ColumnReference:
    """Bins of one column from its reference values: numeric when every value is a number."""
    array = np.asarray(values, dtype=object)
    try:
        numbers = array.astype(float)
    except (TypeError, ValueError):
        numbers = None
    if numbers is not None and not all(isinstance(v, str) for v in array[:50]):
        numbers = numbers[~np.isnan(numbers)]
        if numbers.size == 0:
            raise ValueError(f"column {column!r} has no reference values")
        edges = np.unique(np.quantile(numbers, np.linspace(0, 1, bins + 1)[1:-1]))
        counts = np.bincount(np.searchsorted(edges, numbers, side="right"), minlength=edges.size + 1)
        return ColumnReference(
            column, "numeric", tuple(int(c) for c in counts), edges=tuple(map(float, edges))
        )
    names, counts = np.unique([str(v) for v in array if v is not None and v == v], return_counts=True)
    if names.size == 0:
        raise ValueError(f"column {column!r} has no reference values")
    total = counts.sum()
    kept = [(str(n), int(c)) for n, c in zip(names, counts, strict=True) if c / total >= RARE_SHARE]
    rare = int(total - sum(c for _, c in kept))
    return ColumnReference(
        column,
        "category",
        (*(c for _, c in kept), rare),
        categories=(*(n for n, _ in kept), OTHER),
    )


def references_for(
    columns: Mapping[str, Sequence[object] | np.ndarray], bins: int
) -> dict[str, ColumnReference]:
    return {name: reference_for(name, values, bins) for name, values in columns.items()}


# --------------------------------------------------------------------------- the window


def window_start(
    times: Sequence[float] | np.ndarray,
    end: float,
    window_seconds: float,
    max_window_seconds: float,
    min_rows: int,
) -> float:
    """Where a check's window starts (epoch seconds): the trailing `window_seconds`, reaching back
    to the `min_rows`-th most recent row while that window is short of rows (a quiet night), but
    never further than `max_window_seconds`. A fixed-length window judges a night hour of 60 rows
    like a noon hour of 600; a window that reaches back for rows keeps every check's power alike."""
    start = end - window_seconds
    seen = np.asarray(times, dtype=float)
    seen = seen[seen < end]
    if int((seen >= start).sum()) >= min_rows or seen.size == 0:
        return start
    enough = np.sort(seen)[-min_rows] if seen.size >= min_rows else float(seen.min())
    return max(end - max_window_seconds, min(start, float(enough)))


# --------------------------------------------------------------------------- per-column evidence


def psi(reference: np.ndarray, window: np.ndarray) -> float:
    """PSI = sum (w_i - r_i) ln(w_i / r_i) over shared bins (half a count added to every bin so an
    empty bin does not make it infinite, as core/rollout/shadow_gate.py does)."""
    r = (reference + 0.5) / (reference.sum() + 0.5 * reference.size)
    w = (window + 0.5) / (window.sum() + 0.5 * window.size)
    return float(np.sum((w - r) * np.log(w / r)))


def homogeneity_p_value(reference: np.ndarray, window: np.ndarray) -> tuple[float, float]:
    """Pearson's chi-square test that the window and the reference come from one distribution, on
    the bins either of them uses; (statistic, p-value). Bins empty on both sides are dropped."""
    table = np.vstack([reference, window]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or table[1].sum() == 0:
        return 0.0, 1.0
    statistic, p_value, _, _ = chi2_contingency(table, correction=False)
    return float(statistic), float(p_value)


@dataclass(frozen=True)
class ColumnDrift:
    """One column in one window: its rows, PSI, test statistic and p-value (no judgement)."""

    column: str
    rows: int
    psi: float
    statistic: float
    p_value: float


def measure(reference: ColumnReference, values: Sequence[object] | np.ndarray) -> ColumnDrift:
    window = reference.bin_counts(values)
    ref = np.asarray(reference.counts)
    statistic, p_value = homogeneity_p_value(ref, window)
    return ColumnDrift(reference.column, int(window.sum()), psi(ref, window), statistic, p_value)


def measure_window(
    references: Mapping[str, ColumnReference], window: Mapping[str, Sequence[object] | np.ndarray]
) -> list[ColumnDrift]:
    """Every watched column of one window; a column the window lacks is measured on no rows."""
    return [measure(ref, window.get(name, ())) for name, ref in references.items()]


# --------------------------------------------------------------------------- the decision


@functools.lru_cache(maxsize=64)
def checks_per_30_days(schedule: str) -> int:
    """How often an NCRONTAB schedule fires in 30 days (counted over a fixed span, so the number
    does not depend on when it is asked; a schedule that is the same every day is counted over one)."""
    fields = schedule.split()
    every_day = fields[3:] == ["*", "*", "*"]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=1 if every_day else DAYS)
    runs = croniter(" ".join([*fields[1:], fields[0]]), start - timedelta(seconds=1))
    count = 0
    while runs.get_next(datetime) < end:
        count += 1
    return max(count * (DAYS if every_day else 1), 1)


@dataclass(frozen=True)
class DriftConfig:
    """The decision's rules, from the policy's `monitoring:` section and the watched columns."""

    false_alarms_per_30_days: float = 1.0
    checks_per_30_days: int = 720
    columns: int = 1
    min_rows: int = 200
    min_psi: float = 0.05
    cooldown_seconds: int = 86400

    @classmethod
    def from_policy(cls, policy: MonitoringPolicy, columns: int) -> DriftConfig:
        return cls(
            false_alarms_per_30_days=policy.false_alarms_per_30_days,
            checks_per_30_days=checks_per_30_days(policy.schedule),
            columns=columns,
            min_rows=policy.min_rows,
            min_psi=policy.min_psi,
            cooldown_seconds=policy.cooldown_seconds,
        )

    @property
    def level(self) -> float:
        """Each column's test level in each check: the budget split over all checks and columns."""
        return min(self.false_alarms_per_30_days / (self.checks_per_30_days * max(self.columns, 1)), 0.5)


@dataclass(frozen=True)
class ColumnJudgement:
    column: str
    rows: int
    psi: float
    statistic: float
    p_value: float
    level: float
    min_psi: float
    drifted: bool


@dataclass(frozen=True)
class DriftVerdict:
    verdict: DriftVerdictKind
    reasons: tuple[str, ...]
    rows: int
    columns: tuple[ColumnJudgement, ...]
    level: float

    @property
    def alert(self) -> bool:
        return self.verdict == "drift"

    @property
    def drifted(self) -> tuple[str, ...]:
        return tuple(c.column for c in self.columns if c.drifted)

    def fact(self, **context: Any) -> DriftEvaluated:
        """The check as the ledger records it; `context` names the model, check and window."""
        return DriftEvaluated(
            verdict=self.verdict,
            reasons=list(self.reasons),
            alert=self.alert,
            rows=self.rows,
            level=self.level,
            columns=[ColumnFigures(**vars(c)) for c in self.columns],
            **context,
        )


def judge_drift(
    figures: Sequence[ColumnDrift],
    config: DriftConfig,
    now: datetime | None = None,
    last_alert_at: datetime | None = None,
) -> DriftVerdict:
    """Drift, no drift, not enough rows, or drift seen while a previous alert cools down."""
    level = config.level
    rows = max((f.rows for f in figures), default=0)
    judged = tuple(
        ColumnJudgement(
            f.column,
            f.rows,
            round(f.psi, 6),
            round(f.statistic, 4),
            f.p_value,
            level,
            config.min_psi,
            f.rows >= config.min_rows and f.p_value < level and f.psi >= config.min_psi,
        )
        for f in figures
    )
    if rows < config.min_rows:
        reason = f"{rows} rows in the window, fewer than the {config.min_rows} a check needs"
        return DriftVerdict("need_more_data", (reason,), rows, judged, level)
    drifted = [c for c in judged if c.drifted]
    if not drifted:
        worst = min(judged, key=lambda c: c.p_value, default=None)
        reasons = [
            f"no column drifted at level {level:.3g} (budget {config.false_alarms_per_30_days:g} false alarms "
            f"per 30 days over {config.checks_per_30_days} checks x {config.columns} columns) "
            f"with PSI >= {config.min_psi:g}"
        ]
        if worst is not None:
            reasons.append(f"closest: {worst.column} p={worst.p_value:.3g}, PSI {worst.psi:.3f}")
        return DriftVerdict("no_drift", tuple(reasons), rows, judged, level)
    reasons = [
        f"{c.column} drifted: PSI {c.psi:.3f} >= {c.min_psi:g} and p={c.p_value:.3g} < {level:.3g} on {c.rows} rows"
        for c in sorted(drifted, key=lambda c: c.p_value)
    ]
    if last_alert_at is not None and now is not None:
        since = (now - last_alert_at).total_seconds()
        if since < config.cooldown_seconds:
            reasons.append(
                f"the last alert was {since:.0f} s ago, within the {config.cooldown_seconds} s cooldown: no alert"
            )
            return DriftVerdict("cooling_down", tuple(reasons), rows, judged, level)
    return DriftVerdict("drift", tuple(reasons), rows, judged, level)


# --------------------------------------------------------------------------- the peers' rules


def fixed_psi_alarm(figures: Sequence[ColumnDrift], threshold: float = 0.2) -> bool:
    """Alarm when any column's PSI in the window exceeds a fixed threshold (the common 0.2)."""
    return any(f.rows > 0 and f.psi > threshold for f in figures)


def ks_p_value(reference: np.ndarray, window: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov p-value (numeric columns)."""
    if window.size == 0:
        return 1.0
    return float(ks_2samp(reference, window).pvalue)


def ks_alarm(p_values: Sequence[float], alpha: float = 0.05) -> bool:
    """Alarm when any column's test rejects at a fixed alpha in the window (no correction for the
    number of columns or checks)."""
    return any(p < alpha for p in p_values)
