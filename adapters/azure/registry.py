"""ModelRegistry on azure-ai-ml models (MLflow format, lineage tags).

Azure ML has no MLflow aliases, so the champion is a tag: `champion=true` on exactly one version,
plus `champion_since` (ISO time) so that, in the instant between setting the new champion and
clearing the old one, readers still pick one answer (the most recent). Moving the champion sets
the new tag first, then clears the old: a crash in between leaves two tagged versions, which the
next move or read resolves, never zero.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azure.ai.ml import MLClient
from azure.ai.ml.constants import AssetTypes
from azure.ai.ml.entities import Model
from azure.core.exceptions import ResourceNotFoundError

from core.kernel.ports import ModelVersion

CHAMPION_TAG = "champion"
CHAMPION_SINCE_TAG = "champion_since"


def _created_at(model: Model) -> datetime | None:
    ctx = getattr(model, "creation_context", None)
    created = getattr(ctx, "created_at", None)
    if isinstance(created, datetime):
        return created if created.tzinfo else created.replace(tzinfo=UTC)
    return None


def _to_version(model: Model) -> ModelVersion:
    return ModelVersion(
        name=str(model.name),
        version=str(model.version),
        source_uri=f"azureml:{model.name}:{model.version}",
        tags=dict(model.tags or {}),
        created_at=_created_at(model),
    )


class AzureMLModelRegistry:
    def __init__(self, ml_client: MLClient, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self._ml = ml_client
        self._clock = clock

    @classmethod
    def connect(
        cls, credential: Any, subscription_id: str, resource_group: str, workspace: str
    ) -> AzureMLModelRegistry:
        return cls(MLClient(credential, subscription_id, resource_group, workspace))

    def _models(self, name: str) -> list[Model]:
        try:
            return list(self._ml.models.list(name=name))
        except ResourceNotFoundError:
            return []

    def register(self, name: str, source_uri: str, tags: dict[str, str]) -> ModelVersion:
        """`source_uri` is the job's MLflow model output (azureml://… or a runs:/ URI)."""
        lifecycle_id = tags.get("lifecycle_id")
        if lifecycle_id:
            for existing in self._models(name):
                if (existing.tags or {}).get("lifecycle_id") == lifecycle_id:
                    return _to_version(existing)
        clean = {k: str(v) for k, v in tags.items() if k not in (CHAMPION_TAG, CHAMPION_SINCE_TAG)}
        model = Model(
            name=name,
            path=source_uri,
            type=AssetTypes.MLFLOW_MODEL,
            tags=clean,
            description=f"registered by the ML lifecycle (lifecycle_id={lifecycle_id})",
        )
        return _to_version(self._ml.models.create_or_update(model))  # version auto-increments

    def get(self, name: str, version: str) -> ModelVersion:
        try:
            return _to_version(self._ml.models.get(name=name, version=version))
        except ResourceNotFoundError:
            raise KeyError(f"model {name} version {version} is not registered in the AML workspace") from None

    def versions(self, name: str) -> list[ModelVersion]:
        return sorted(
            (_to_version(m) for m in self._models(name)),
            key=lambda v: int(v.version) if v.version.isdigit() else 0,
        )

    def champion(self, name: str) -> ModelVersion | None:
        tagged = [m for m in self._models(name) if (m.tags or {}).get(CHAMPION_TAG) == "true"]
        if not tagged:
            return None
        return _to_version(max(tagged, key=lambda m: (m.tags or {}).get(CHAMPION_SINCE_TAG, "")))

    def set_champion(self, name: str, version: str) -> None:
        try:
            new = self._ml.models.get(name=name, version=version)
        except ResourceNotFoundError:
            raise KeyError(f"cannot make {name}:{version} champion: it is not registered") from None
        new.tags = {**(new.tags or {}), CHAMPION_TAG: "true", CHAMPION_SINCE_TAG: self._clock().isoformat()}
        self._ml.models.create_or_update(new)  # same name+version: updates tags only
        for old in self._models(name):
            if str(old.version) != str(version) and (old.tags or {}).get(CHAMPION_TAG) == "true":
                old.tags = {
                    k: v for k, v in (old.tags or {}).items() if k not in (CHAMPION_TAG, CHAMPION_SINCE_TAG)
                }
                self._ml.models.create_or_update(old)

    def download(self, name: str, version: str, dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        self._ml.models.download(name=name, version=version, download_path=str(dest))
        for mlmodel in sorted(dest.rglob("MLmodel")):
            return mlmodel.parent
        raise FileNotFoundError(
            f"model {name}:{version} was downloaded to {dest} but contains no MLmodel file"
        )
