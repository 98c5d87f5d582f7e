"""Where local MLflow state lives, shared by LocalTrainingJobs and MlflowModelRegistry.

A relative `sqlite:///.local/mlflow.db` is relative to the current directory, but jobs run in
their code folder: URIs are made absolute once. MLflow's default artifact root for a SQLite
store is `./mlruns` of whichever process creates an experiment; keeping artifacts beside the
database instead keeps the repo clean and the state dir self-contained.
"""

from __future__ import annotations

from pathlib import Path


def absolute_tracking_uri(uri: str) -> str:
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str(Path(uri.removeprefix("sqlite:///")).resolve())
    if "://" not in uri and not uri.startswith(("databricks", "azureml")):
        return Path(uri).resolve().as_uri()
    return uri


def default_artifact_root(tracking_uri: str) -> Path | None:
    """`<db folder>/mlartifacts` for sqlite:////abs/mlflow.db (or file: stores); None for servers."""
    uri = absolute_tracking_uri(tracking_uri)
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts"
    if uri.startswith("file://"):
        return Path(uri.removeprefix("file://")) / "mlartifacts"
    return None
