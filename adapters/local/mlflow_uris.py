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


_READY: set[str] = set()


def ensure_store(tracking_uri: str) -> None:
    """Create/migrate a SQLite MLflow store under a file lock, once per process.

    MLflow migrates a new database on first use; two processes doing that at once (two jobs
    starting, or a job and the registry) fail with "duplicate column name"."""
    uri = absolute_tracking_uri(tracking_uri)
    if uri in _READY or not uri.startswith("sqlite:///"):
        return
    import fcntl

    from mlflow import MlflowClient

    db = Path(uri.removeprefix("sqlite:///"))
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            MlflowClient(tracking_uri=uri, registry_uri=uri).search_experiments(max_results=1)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    _READY.add(uri)
