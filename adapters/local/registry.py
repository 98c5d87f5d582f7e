"""MlflowModelRegistry: the ModelRegistry port on the MLflow model registry (SQLite locally).

The champion is the MLflow alias `champion` (one version per model name, moved atomically by
`set_registered_model_alias`). Lineage travels as model-version tags; registering the same
lifecycle twice (a replayed activity) returns the version it already made, found by
`tags.lifecycle_id`.

MLflow 3 notes (checked against mlflow 3.17): a version's `source` may be a local folder,
`runs:/<run>/model` or `models:/m-<logged model id>`; the registry stores it as given and reads
it on download. Job outputs are scratch space, so a local folder is first copied into the
registry's own artifact store (beside the SQLite file) and the version points at the copy.
Every call goes through one MlflowClient bound to this registry's URI: no global
`mlflow.set_tracking_uri`, so several registries can live in one process (tests do).
"""

from __future__ import annotations

import re
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.local.mlflow_uris import (
    absolute_tracking_uri,
    default_artifact_root,
    download_model,
    ensure_store,
)
from core.kernel.ports import ModelVersion

CHAMPION_ALIAS = "champion"
_REMOTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class MlflowModelRegistry:
    def __init__(self, tracking_uri: str, artifact_root: Path | None = None) -> None:
        self.tracking_uri = absolute_tracking_uri(tracking_uri)
        self.artifact_root = (
            Path(artifact_root) if artifact_root else default_artifact_root(self.tracking_uri)
        )
        self._mlflow: Any = None

    @property
    def _client(self) -> Any:
        """Built on first use: importing mlflow and migrating a new database take seconds."""
        if self._mlflow is None:
            from mlflow import MlflowClient

            ensure_store(self.tracking_uri)
            self._mlflow = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        return self._mlflow

    # ------------------------------------------------------------------ port

    def register(self, name: str, source_uri: str, tags: dict[str, str]) -> ModelVersion:
        lifecycle_id = tags.get("lifecycle_id")
        if lifecycle_id:
            existing = self._search(f"name={_quote(name)} and tags.lifecycle_id={_quote(lifecycle_id)}")
            if existing:
                return existing[0]
        self._ensure_model(name)
        source, run_id = self._source(name, source_uri, key=lifecycle_id or uuid.uuid4().hex)
        mv = self._client.create_model_version(
            name,
            source,
            run_id=run_id,
            tags={k: str(v) for k, v in tags.items()},
            description=tags.get("description"),
        )
        return self._to_port(mv)

    def get(self, name: str, version: str) -> ModelVersion:
        from mlflow.exceptions import MlflowException

        try:
            return self._to_port(self._client.get_model_version(name, str(version)))
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise KeyError(f"model {name!r} has no version {version!r} in {self.tracking_uri}") from exc
            raise

    def versions(self, name: str) -> list[ModelVersion]:
        return self._search(f"name={_quote(name)}")

    def champion(self, name: str) -> ModelVersion | None:
        from mlflow.exceptions import MlflowException

        try:
            return self._to_port(self._client.get_model_version_by_alias(name, CHAMPION_ALIAS))
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None  # no such model yet, or no champion alias yet
            raise

    def set_champion(self, name: str, version: str) -> None:
        self.get(name, version)  # a clear KeyError beats MLflow's message for a missing version
        self._client.set_registered_model_alias(name, CHAMPION_ALIAS, str(version))

    def download(self, name: str, version: str, dest: Path) -> Path:
        """Materialise the version's MLflow model folder (the folder holding MLmodel) under dest."""
        self.get(name, version)
        return download_model(self.tracking_uri, f"models:/{name}/{version}", Path(dest))

    # ------------------------------------------------------------------ helpers

    def _search(self, filter_string: str) -> list[ModelVersion]:
        found = self._client.search_model_versions(filter_string)
        return sorted((self._to_port(mv) for mv in found), key=lambda v: int(v.version))

    def _ensure_model(self, name: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self._client.create_registered_model(name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise

    def _source(self, name: str, source_uri: str, *, key: str) -> tuple[str, str | None]:
        """(source to register, run id): local folders are copied into the registry's store."""
        if source_uri.startswith("runs:/"):
            return source_uri, source_uri.removeprefix("runs:/").split("/", 1)[0]
        if _REMOTE.match(source_uri) and not source_uri.startswith("file:"):
            return source_uri, None
        folder = Path(source_uri.removeprefix("file://"))
        if not (folder / "MLmodel").is_file():
            raise FileNotFoundError(
                f"{folder} is not an MLflow model folder (no MLmodel file); pass a job's model output"
            )
        if self.artifact_root is None:
            raise ValueError(
                f"cannot keep a copy of the local model {folder}: {self.tracking_uri} is not a SQLite store; "
                "pass artifact_root= to MlflowModelRegistry"
            )
        safe_key = re.sub(r"[^A-Za-z0-9_.-]", "_", key)
        target = self.artifact_root / "registry" / re.sub(r"[^A-Za-z0-9_.-]", "_", name) / safe_key
        if target.exists():
            shutil.rmtree(target)  # a half-finished earlier attempt of this same lifecycle
        shutil.copytree(folder, target)
        return str(target), None

    @staticmethod
    def _to_port(mv: Any) -> ModelVersion:
        created = (
            datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=UTC) if mv.creation_timestamp else None
        )
        return ModelVersion(
            name=mv.name,
            version=str(mv.version),
            source_uri=str(mv.source),
            tags=dict(mv.tags or {}),
            created_at=created,
        )
