"""False alarms and detection delay of the drift monitor, against the peers' fixed thresholds.

    python -m bench.drift [--seeds 6] [--trials 12] [--rows-per-hour 300]

Traffic: churn customers from samples/churn/data.py scored hourly, the volume following a day/night
cycle (Poisson, mean `rows_per_hour`, from 20% of it at 02:00 to 180% at 14:00). Watched: the
contract's eight features and the score (the drift-0 world's churn probability stands in for a
champion trained on drift-0 data). Reference: 5000 drift-0 rows, the generator's default training set.

* False alarms: checks that alert in 30 days of hourly checks on stationary traffic (every alert is
  counted, no cooldown), per method, over `seeds` independent months.
* Detection delay: hours from the shift's start to the first alert, for shifts of several sizes:
  one feature (monthly_charges moved so its PSI against the reference is 0.05, 0.1 or 0.2) and the
  generator's whole-world drift (0.25, 1.0). Capped at 72 h (reported as missed).

Methods: ours (core/monitoring/drift.py with the policy defaults: the trailing hour, reaching back up to
6 h for 200 rows at night; budget 1 false alarm per 30 days; PSI floor 0.05), PSI > 0.2 per feature per hourly window, and
a two-sample test at p < 0.05 per feature per hourly window (KS on numeric columns, chi-square on
categories, as Evidently does). Writes bench/results/drift.json.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.kernel.policy import MonitoringPolicy
from core.monitoring.drift import (
    ColumnReference,
    DriftConfig,
    fixed_psi_alarm,
    judge_drift,
    ks_alarm,
    ks_p_value,
    measure_window,
    references_for,
    window_start,
)
from samples.churn.data import churn_probability, generate

RESULTS = Path(__file__).resolve().parent / "results" / "drift.json"
FEATURES = (
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "contract",
    "payment_method",
    "internet_service",
    "support_calls",
    "age",
)
COLUMNS = (*FEATURES, "score")
HOURS = 24 * 30
CAP_HOURS = 72
REFERENCE_ROWS = 5000
METHODS = ("ours", "psi_gt_0.2", "ks_p_lt_0.05")


def hourly_volume(rng: np.random.Generator, hours: int, mean: float, start_hour: int = 0) -> np.ndarray:
    """Rows per hour with a day/night cycle: mean x (1 + 0.8 cos(2 pi (h - 14) / 24)), Poisson."""
    h = np.arange(start_hour, start_hour + hours)
    rate = mean * (1 + 0.8 * np.cos(2 * np.pi * (h % 24 - 14) / 24))
    return rng.poisson(rate)


def with_score(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["score"] = churn_probability(frame, 0.0)
    return out


def shift_charges(frame: pd.DataFrame, delta: float) -> pd.DataFrame:
    out = frame.copy()
    out["monthly_charges"] = np.clip(out["monthly_charges"] + delta, 10.0, 150.0)
    return out


@dataclass(frozen=True)
class Shift:
    name: str
    make: Callable[[int, int], pd.DataFrame]  # (rows, seed) -> drifted rows
    psi: float = 0.0  # measured max-column PSI on large samples


@dataclass
class Methods:
    references: dict[str, ColumnReference]
    reference_numeric: dict[str, np.ndarray]

    def alarms(self, frame: pd.DataFrame, times: np.ndarray, k: int) -> dict[str, bool]:
        """Which methods alert at the end of hour k (`times` sorted, seconds since hour 0)."""
        out: dict[str, bool] = {}
        policy = MonitoringPolicy()
        config = DriftConfig.from_policy(policy, len(COLUMNS))
        end = (k + 1) * 3600.0
        lo = int(np.searchsorted(times, end - policy.max_window_seconds))
        hi = int(np.searchsorted(times, end))
        start = window_start(
            times[lo:hi], end, policy.window_seconds, policy.max_window_seconds, policy.min_rows
        )
        window = frame.iloc[int(np.searchsorted(times, start)) : hi]
        figures = measure_window(self.references, {c: window[c].to_numpy() for c in COLUMNS})
        out["ours"] = judge_drift(figures, config).alert
        hour = frame.iloc[int(np.searchsorted(times, end - 3600)) : hi]
        figures = measure_window(self.references, {c: hour[c].to_numpy() for c in COLUMNS})
        out["psi_gt_0.2"] = fixed_psi_alarm(figures, 0.2)
        p_values = []
        for f in figures:
            if f.column in self.reference_numeric:
                p_values.append(
                    ks_p_value(self.reference_numeric[f.column], hour[f.column].to_numpy(dtype=float))
                )
            else:
                p_values.append(f.p_value)  # chi-square on the category bins
        out["ks_p_lt_0.05"] = ks_alarm(p_values, 0.05)
        return out


def row_times(rng: np.random.Generator, volume: np.ndarray) -> np.ndarray:
    """Each row's arrival (seconds since hour 0), uniform within its hour, sorted."""
    hour = np.repeat(np.arange(volume.size), volume)
    return np.sort(hour * 3600.0 + rng.uniform(0, 3600, hour.size))


def false_alarms(methods: Methods, seed: int, rows_per_hour: float) -> dict[str, int]:
    rng = np.random.default_rng(1000 + seed)
    volume = hourly_volume(rng, HOURS, rows_per_hour)
    frame = with_score(generate(int(volume.sum()), seed=1000 + seed))
    times = row_times(rng, volume)
    counts: dict[str, int] = {}
    for k in range(HOURS):
        for name, alarm in methods.alarms(frame, times, k).items():
            counts[name] = counts.get(name, 0) + int(alarm)
    return counts


def detection(methods: Methods, shift: Shift, trial: int, rows_per_hour: float) -> dict[str, int | None]:
    """Hours to the first alert after the shift (None: not within CAP_HOURS). The shift starts at a
    random hour of the day, after 6 stationary hours."""
    rng = np.random.default_rng(5000 + trial)
    start_hour = int(rng.integers(0, 24))
    before = 6
    volume = hourly_volume(rng, before + CAP_HOURS, rows_per_hour, start_hour)
    n_before = int(volume[:before].sum())
    stationary = with_score(generate(n_before, seed=7000 + trial))
    drifted = with_score(shift.make(int(volume[before:].sum()), 9000 + trial))
    frame = pd.concat([stationary, drifted], ignore_index=True)
    times = row_times(rng, volume)
    delays: dict[str, int | None] = {}
    for k in range(before, before + CAP_HOURS):
        for name, alarm in methods.alarms(frame, times, k).items():
            if alarm and name not in delays:
                delays[name] = k - before + 1
        if len(delays) == len(METHODS):
            break
    for name in METHODS:
        delays.setdefault(name, None)
    return delays


def measured_psi(methods: Methods, make: Callable[[int, int], pd.DataFrame]) -> float:
    big = with_score(make(50_000, 424242))
    figures = measure_window(methods.references, {c: big[c].to_numpy() for c in COLUMNS})
    return max(f.psi for f in figures)


def charges_shift(methods: Methods, target_psi: float) -> Shift:
    """monthly_charges moved by the amount that gives it `target_psi` (bisection on large samples)."""
    low, high = 0.0, 60.0
    for _ in range(18):
        mid = (low + high) / 2
        big = generate(50_000, seed=424242)
        ref = methods.references["monthly_charges"]
        got = measure_window(
            {"monthly_charges": ref}, {"monthly_charges": shift_charges(big, mid)["monthly_charges"]}
        )
        low, high = (mid, high) if got[0].psi < target_psi else (low, mid)
    delta = (low + high) / 2
    return Shift(
        f"monthly_charges_psi_{target_psi:g}",
        lambda rows, seed: shift_charges(generate(rows, seed=seed), delta),
        psi=target_psi,
    )


def world_shift(methods: Methods, drift: float) -> Shift:
    def make(rows: int, seed: int) -> pd.DataFrame:
        return generate(rows, seed=seed, drift=drift)

    return Shift(f"world_drift_{drift:g}", make, psi=measured_psi(methods, make))


def summarise(delays: list[int | None]) -> dict[str, float | int | None]:
    found = sorted(d for d in delays if d is not None)
    return {
        "detected": len(found),
        "trials": len(delays),
        "median_hours": float(np.median(found)) if found else None,
        "max_hours": max(found) if found else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=6, help="stationary 30-day months simulated")
    parser.add_argument("--trials", type=int, default=12, help="shifts simulated per size")
    parser.add_argument("--rows-per-hour", type=float, default=300.0)
    args = parser.parse_args(argv)
    started = time.perf_counter()

    reference = with_score(generate(REFERENCE_ROWS, seed=1))
    policy = MonitoringPolicy()
    methods = Methods(
        references=references_for({c: reference[c].to_numpy() for c in COLUMNS}, policy.bins),
        reference_numeric={
            c: reference[c].to_numpy(dtype=float)
            for c in COLUMNS
            if pd.api.types.is_numeric_dtype(reference[c])
        },
    )
    config = DriftConfig.from_policy(policy, len(COLUMNS))

    months = [false_alarms(methods, seed, args.rows_per_hour) for seed in range(args.seeds)]
    per_30_days = {name: float(np.mean([m[name] for m in months])) for name in months[0]}

    shifts = [charges_shift(methods, t) for t in (0.05, 0.1, 0.2)] + [
        world_shift(methods, d) for d in (0.25, 1.0)
    ]
    delay: dict[str, dict[str, object]] = {}
    for shift in shifts:
        runs = [detection(methods, shift, trial, args.rows_per_hour) for trial in range(args.trials)]
        delay[shift.name] = {
            "psi": round(shift.psi, 4),
            **{name: summarise([r[name] for r in runs]) for name in runs[0]},
        }

    result = {
        "rows_per_hour_mean": args.rows_per_hour,
        "seasonality": "x(1 + 0.8 cos(2 pi (hour - 14) / 24)), Poisson",
        "columns": list(COLUMNS),
        "reference_rows": REFERENCE_ROWS,
        "checks_per_30_days": HOURS,
        "ours": {
            "window_seconds": policy.window_seconds,
            "max_window_seconds": policy.max_window_seconds,
            "budget_false_alarms_per_30_days": policy.false_alarms_per_30_days,
            "level_per_column_per_check": config.level,
            "min_psi": policy.min_psi,
            "min_rows": policy.min_rows,
        },
        "stationary_months": args.seeds,
        "false_alarms_per_30_days": per_30_days,
        "false_alarms_per_month": months,
        "detection_trials": args.trials,
        "detection_cap_hours": CAP_HOURS,
        "detection": delay,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(f"false alarms per 30 days of hourly checks ({args.seeds} stationary months, mean):")
    for name, value in per_30_days.items():
        print(f"  {name:16s} {value:7.2f}")
    print(f"detection delay, hours (median / max / detected of {args.trials}; cap {CAP_HOURS} h):")
    for shift_name, row in delay.items():
        cells = []
        for name in per_30_days:
            s = row[name]
            assert isinstance(s, dict)
            cells.append(f"{name} {s['median_hours']}/{s['max_hours']}/{s['detected']}")
        print(f"  {shift_name:28s} PSI {row['psi']:.3f}  " + "  ".join(cells))
    print(f"{result['seconds']} s")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
