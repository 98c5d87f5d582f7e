"""Deterministic raw customer-churn data, so every run of the lifecycle can be reproduced.

`drift` (0..1) moves BOTH the feature distributions (a price rise, more fibre customers, younger
and newer customers, more support calls) AND the label relationship (loyalty matters less, price
and repeated support calls matter more, older customers and card payers start leaving, fibre got
better while DSL customers leave). A model trained on drift=0 therefore ranks drifted customers
badly, and a model retrained on drifted data really beats it on drifted evaluation data; two
samples with the same drift (and different seeds) give near-equal models.

`corrupt` makes malformed files (bad types, out-of-range values, a missing column, nulls) for the
ingest step's quarantine path.

    python -m samples.churn.data --rows 5000 --seed 1 --drift 0 --out raw.csv
    python -m samples.churn.data --rows 500 --seed 2 --malformed bad_types --out bad.csv
    python -m samples.churn.data --labels-for scored.csv --drift 1 --seed 3 --out labels/churn/1.csv

`delayed_labels` gives the ground truth of scored customers some minutes later (entity id, label,
time), for the online accuracy gate's labels prefix. `--worse-live-accuracy` makes the world where
the retraining batch looked drifted but live customers did not (live rows and labels at drift 0):
the challenger trained on the batch wins offline and loses on live labels.
"""

from __future__ import annotations

import argparse
import io
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

try:  # run from the repo (package) or from the job's code snapshot (samples/churn only)
    from samples.churn.features import CATEGORIES, LABEL
except ModuleNotFoundError:  # pragma: no cover
    from features import CATEGORIES, LABEL  # type: ignore[no-redef]

COLUMNS = (
    "customer_id",
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "contract",
    "payment_method",
    "internet_service",
    "support_calls",
    "age",
    LABEL,
)

# Value ranges the generator guarantees (the data contract should accept exactly these).
RANGES: dict[str, tuple[float, float]] = {
    "tenure_months": (0, 72),
    "monthly_charges": (10.0, 150.0),
    "total_charges": (0.0, 12000.0),
    "support_calls": (0, 20),
    "age": (18, 90),
    LABEL: (0, 1),
}

MALFORMED_KINDS = ("bad_types", "out_of_range", "missing_column", "nulls")

_CONTRACT_P = ((0.50, 0.25, 0.25), (0.65, 0.20, 0.15))
_PAYMENT_P = ((0.35, 0.20, 0.22, 0.23), (0.25, 0.15, 0.25, 0.35))
_INTERNET_P = ((0.35, 0.45, 0.20), (0.20, 0.65, 0.15))
_INTERNET_CHARGE = {"dsl": (45.0, 65.0), "fiber-optic": (70.0, 110.0), "none": (18.0, 30.0)}

# Label relationship before (0) and after (1) drift: logit contributions.
_CONTRACT_W = (
    {"month-to-month": 1.1, "one-year": -0.2, "two-year": -1.3},
    {"month-to-month": 0.4, "one-year": 0.0, "two-year": -0.4},
)
_PAYMENT_W = (
    {"electronic-check": 0.6, "mailed-check": 0.0, "bank-transfer": 0.0, "credit-card": -0.15},
    {"electronic-check": -0.2, "mailed-check": 0.0, "bank-transfer": -0.1, "credit-card": 0.9},
)
_INTERNET_W = (
    {"dsl": 0.0, "fiber-optic": 0.45, "none": -0.5},
    {"dsl": 0.8, "fiber-optic": -0.4, "none": 0.2},
)


def _mix(d: float, before: tuple[float, ...], after: tuple[float, ...]) -> np.ndarray:
    p = (1 - d) * np.asarray(before) + d * np.asarray(after)
    return p / p.sum()


def _churn_logit(
    contract: np.ndarray,
    payment: np.ndarray,
    internet: np.ndarray,
    tenure: np.ndarray,
    monthly: np.ndarray,
    support: np.ndarray,
    age: np.ndarray,
    d: float,
) -> np.ndarray:
    """The world's label relationship at drift d: a mix of the original (0) and drifted (1) logits."""

    def logit(k: int) -> np.ndarray:
        cw, pw, iw = _CONTRACT_W[k], _PAYMENT_W[k], _INTERNET_W[k]
        z = np.array([cw[c] + pw[p] + iw[i] for c, p, i in zip(contract, payment, internet, strict=True)])
        if k == 0:
            return z - 0.9 - 0.045 * tenure + 0.018 * (monthly - 65) + 0.28 * support - 0.025 * (age - 45)
        return (
            z
            - 1.6
            - 0.01 * tenure
            + 0.045 * (monthly - 75)
            + 0.55 * np.maximum(support - 2, 0)
            + 0.035 * (age - 45)
        )

    return (1 - d) * logit(0) + d * logit(1)


def churn_probability(customers: pd.DataFrame, drift: float) -> np.ndarray:
    """P(churn) of each customer row in the world at `drift` (the generator's own truth)."""
    c = customers
    return 1 / (
        1
        + np.exp(
            -_churn_logit(
                c["contract"].to_numpy(),
                c["payment_method"].to_numpy(),
                c["internet_service"].to_numpy(),
                c["tenure_months"].to_numpy(dtype=float),
                c["monthly_charges"].to_numpy(dtype=float),
                c["support_calls"].to_numpy(dtype=float),
                c["age"].to_numpy(dtype=float),
                float(drift),
            )
        )
    )


def live_drift(drift: float, worse_live_accuracy: bool) -> float:
    """The drift of the live world. In the "worse live accuracy" world the batch that triggered
    retraining looked drifted (`drift`) but live customers still behave as before (0): a challenger
    trained on that batch wins the offline evaluation and loses on live labels."""
    return 0.0 if worse_live_accuracy else drift


def delayed_labels(
    customers: pd.DataFrame,
    *,
    drift: float,
    seed: int,
    scored_at: datetime,
    delay_seconds: tuple[float, float] = (60.0, 600.0),
    noise: float = 0.02,
) -> pd.DataFrame:
    """Ground truth for scored customers, known some time after they were scored: one row per
    customer (entity id, label, time), drawn from the world at `drift`. Files of these rows go
    under the policy's labels prefix."""
    low, high = delay_seconds
    if not 0 <= low <= high:
        raise ValueError(f"delay_seconds must be (min, max) with 0 <= min <= max, got {delay_seconds}")
    rng = np.random.default_rng(seed)
    p = churn_probability(customers, drift)
    label = (rng.random(len(customers)) < p).astype(int)
    label = np.where(rng.random(len(customers)) < noise, 1 - label, label)
    delays = rng.uniform(low, high, len(customers))
    times = [(scored_at + timedelta(seconds=float(s))).isoformat() for s in delays]
    frame = pd.DataFrame(
        {"customer_id": customers["customer_id"].to_numpy(), LABEL: label, "label_time": times}
    )
    return frame.sort_values("label_time", kind="stable").reset_index(drop=True)


def generate(rows: int = 5000, seed: int = 0, noise: float = 0.02, drift: float = 0.0) -> pd.DataFrame:
    """Raw customer rows with the `churned` label; the same arguments always give the same frame."""
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    if not 0.0 <= noise <= 0.5:
        raise ValueError(f"noise is the label-flip probability and must be in [0, 0.5], got {noise}")
    if not 0.0 <= drift <= 1.0:
        raise ValueError(f"drift must be in [0, 1] (0 = original world, 1 = fully drifted), got {drift}")
    d = float(drift)
    rng = np.random.default_rng(seed)

    contract = rng.choice(CATEGORIES["contract"], size=rows, p=_mix(d, *_CONTRACT_P))
    payment = rng.choice(CATEGORIES["payment_method"], size=rows, p=_mix(d, *_PAYMENT_P))
    internet = rng.choice(CATEGORIES["internet_service"], size=rows, p=_mix(d, *_INTERNET_P))
    tenure = np.clip(np.rint(rng.gamma(1.5, 20.0 * (1 - 0.4 * d), size=rows)), 0, 72).astype(int)
    low = np.array([_INTERNET_CHARGE[i][0] for i in internet])
    high = np.array([_INTERNET_CHARGE[i][1] for i in internet])
    monthly = np.round(np.clip(rng.uniform(low, high) + 12.0 * d + rng.normal(0, 3, rows), 10.0, 150.0), 2)
    total = np.round(np.clip(tenure * monthly * rng.uniform(0.95, 1.05, rows), 0.0, 12000.0), 2)
    support = np.clip(rng.poisson(1.2 + 1.0 * d, rows), 0, 20).astype(int)
    age = np.clip(np.rint(rng.normal(45 - 5 * d, 14, rows)), 18, 90).astype(int)

    z = _churn_logit(contract, payment, internet, tenure, monthly, support, age, d)
    churned = (rng.random(rows) < 1 / (1 + np.exp(-z))).astype(int)
    flip = rng.random(rows) < noise
    churned = np.where(flip, 1 - churned, churned)

    return pd.DataFrame(
        {
            "customer_id": [f"C{seed:05d}-{i:07d}" for i in range(rows)],
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": total,
            "contract": contract,
            "payment_method": payment,
            "internet_service": internet,
            "support_calls": support,
            "age": age,
            LABEL: churned,
        },
        columns=list(COLUMNS),
    )


def corrupt(frame: pd.DataFrame, kind: str, fraction: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """A malformed copy of `frame`: `fraction` of the rows (at least one) broken in the way `kind` says."""
    if kind not in MALFORMED_KINDS:
        raise ValueError(f"unknown malformed kind {kind!r}; choose one of {list(MALFORMED_KINDS)}")
    if kind == "missing_column":
        return frame.drop(columns=["monthly_charges"])
    rng = np.random.default_rng(seed)
    n = max(1, round(len(frame) * fraction))
    rows = np.sort(rng.choice(len(frame), size=min(n, len(frame)), replace=False))
    out = frame.astype(object).copy()
    col = out.columns.get_loc
    for j, r in enumerate(rows):
        if kind == "bad_types":
            out.iat[r, col("tenure_months")] = "twelve" if j % 2 == 0 else "1O"
            out.iat[r, col("monthly_charges")] = "abc"
        elif kind == "out_of_range":
            out.iat[r, col("age")] = 150 if j % 2 == 0 else -3
            out.iat[r, col("tenure_months")] = -5
            out.iat[r, col("contract")] = "lifetime"
        else:  # nulls
            out.iat[r, col("support_calls")] = None
            out.iat[r, col("contract")] = None
    return out


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m samples.churn.data", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, default=0.02, help="label-flip probability")
    parser.add_argument("--drift", type=float, default=0.0, help="0 = original world, 1 = fully drifted")
    parser.add_argument("--malformed", choices=MALFORMED_KINDS, help="write a malformed file of this kind")
    parser.add_argument("--malformed-fraction", type=float, default=0.05)
    parser.add_argument("--out", type=Path, help="CSV file to write (default: stdout)")
    parser.add_argument(
        "--labels-for",
        type=Path,
        metavar="CUSTOMERS_CSV",
        help="write delayed labels (customer_id, churned, label_time) for these scored customers instead",
    )
    parser.add_argument("--scored-at", help="ISO time the customers were scored (default: now, UTC)")
    parser.add_argument(
        "--worse-live-accuracy",
        action="store_true",
        help="the world where live customers did not drift: live rows and labels follow drift 0",
    )
    args = parser.parse_args(argv)
    drift = live_drift(args.drift, args.worse_live_accuracy)
    if args.labels_for is not None:
        scored_at = datetime.fromisoformat(args.scored_at) if args.scored_at else datetime.now(UTC)
        customers = pd.read_csv(args.labels_for)
        frame = delayed_labels(customers, drift=drift, seed=args.seed, scored_at=scored_at, noise=args.noise)
    else:
        frame = generate(args.rows, args.seed, args.noise, drift)
    if args.malformed:
        frame = corrupt(frame, args.malformed, args.malformed_fraction, args.seed)
    data = to_csv_bytes(frame)
    if args.out is None:
        sys.stdout.buffer.write(data)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
