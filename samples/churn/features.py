"""The churn model's feature encoding, shared by training, evaluation and (via the model's
signature) serving, so the three cannot encode a customer differently.

The model is an XGBoost Booster saved in the MLflow xgboost flavour; its pyfunc wrapper builds a
plain `xgboost.DMatrix`, which accepts numbers only. So categorical columns are one-hot encoded
here against FIXED vocabularies (an unseen category becomes all zeros rather than a new column),
and the model's signature names the encoded columns. The raw columns are documented in README.md.
"""

from __future__ import annotations

import pandas as pd

LABEL = "churned"
ID_COLUMNS = ("customer_id",)

NUMERIC = ("tenure_months", "monthly_charges", "total_charges", "support_calls", "age")
CATEGORIES: dict[str, tuple[str, ...]] = {
    "contract": ("month-to-month", "one-year", "two-year"),
    "payment_method": ("electronic-check", "mailed-check", "bank-transfer", "credit-card"),
    "internet_service": ("dsl", "fiber-optic", "none"),
}
RAW_FEATURES = NUMERIC + tuple(CATEGORIES)
FEATURES: tuple[str, ...] = NUMERIC + tuple(
    f"{col}={value}" for col, values in CATEGORIES.items() for value in values
)


def to_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Raw (or already encoded) customer rows -> the model's float feature matrix, in FEATURES order.

    Accepting already-encoded columns keeps this usable whether the ingest step wrote raw columns
    or features."""
    if all(name in frame.columns for name in FEATURES):
        return frame.loc[:, list(FEATURES)].astype("float64")
    missing = [name for name in RAW_FEATURES if name not in frame.columns]
    if missing:
        raise ValueError(
            f"input is missing the churn feature columns {missing}; expected the raw columns "
            f"{list(RAW_FEATURES)} (see samples/churn/README.md) or the encoded columns {list(FEATURES)}"
        )
    out = pd.DataFrame(index=frame.index)
    for name in NUMERIC:
        out[name] = pd.to_numeric(frame[name], errors="raise").astype("float64")
    for col, values in CATEGORIES.items():
        text = frame[col].astype("string").str.strip().str.lower()
        for value in values:
            out[f"{col}={value}"] = (text == value).fillna(False).astype("float64")
    return out


def labels(frame: pd.DataFrame) -> pd.Series:
    if LABEL not in frame.columns:
        raise ValueError(f"input has no label column {LABEL!r}; columns are {list(frame.columns)}")
    return pd.to_numeric(frame[LABEL], errors="raise").astype("int64")
