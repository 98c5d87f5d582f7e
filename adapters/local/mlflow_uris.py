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


def download_model(tracking_uri: str, uri: str, dest: Path) -> Path:
    """Download an MLflow model (`models:/name/version`, `models:/name@alias`, `models:/m-<id>`,
    `runs:/id/path` or a plain artifact URI) under dest; return the folder holding MLmodel.

    `models:/` URIs are resolved here with a client bound to this store: mlflow 3.17's
    `download_artifacts(registry_uri=...)` ignores that argument for them and uses the global
    registry URI."""
    import mlflow.artifacts
    from mlflow import MlflowClient

    uri = str(uri)
    ensure_store(tracking_uri)
    store = absolute_tracking_uri(tracking_uri)
    if uri.startswith("models:/"):
        client = MlflowClient(tracking_uri=store, registry_uri=store)
        ref = uri.removeprefix("models:/").strip("/")
        if "/" not in ref and "@" not in ref:  # a logged model id (MLflow 3)
            uri = client.get_logged_model(ref).artifact_location
        else:
            name, _, rest = ref.partition("@") if "@" in ref else ref.partition("/")
            version = client.get_model_version_by_alias(name, rest).version if "@" in ref else rest
            uri = client.get_model_version_download_uri(name, version)
    dest.mkdir(parents=True, exist_ok=True)
    local = Path(
        mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dest), tracking_uri=store)
    )
    if (local / "MLmodel").is_file():
        return local
    found = sorted(p.parent for p in local.rglob("MLmodel"))
    if not found:
        raise FileNotFoundError(f"{uri} has no MLmodel file: it is not an MLflow model")
    return found[0]
