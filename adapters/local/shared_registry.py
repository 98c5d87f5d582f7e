"""MlflowSharedRegistry: the ModelRegistryShare port as a second MLflow store (SQLite).

The local analog of an Azure ML registry: dev's registry and this one are separate MLflow stores,
so the prod side can only deploy what was copied here. `share` downloads the dev version's
MLflow model folder and registers a copy of it (the same bytes) with the dev version's lineage
tags plus `source_registry`, `source_model`, `source_version`; a copy is found again by those
tags, so sharing is idempotent (a replayed activity, or a champion promoted twice).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from adapters.local.registry import MlflowModelRegistry, _quote
from core.kernel.ports import ModelRegistry, ModelVersion

# champion markers belong to one environment; the registry copy never carries them
_ENVIRONMENT_TAGS = ("champion", "champion_since")


class MlflowSharedRegistry:
    def __init__(
        self,
        registry: str,
        tracking_uri: str,
        source: ModelRegistry,
        *,
        source_name: str = "dev",
        artifact_root: Path | None = None,
    ) -> None:
        """`source` is the registry versions are shared from (dev's workspace registry), named
        `source_name` in the copies' tags. Prod builds this with any source: it only reads."""
        self.registry = registry
        self.source = source
        self.source_name = source_name
        self._store = MlflowModelRegistry(tracking_uri, artifact_root)

    @property
    def tracking_uri(self) -> str:
        return self._store.tracking_uri

    def share(self, source: ModelVersion, *, name: str | None = None) -> ModelVersion:
        target = name or source.name
        existing = self._store._search(
            f"name={_quote(target)} and tags.source_registry={_quote(self.source_name)} "
            f"and tags.source_model={_quote(source.name)} and tags.source_version={_quote(source.version)}"
        )
        if existing:
            return existing[0]
        tags = {k: v for k, v in source.tags.items() if k not in _ENVIRONMENT_TAGS}
        tags.update(source_registry=self.source_name, source_model=source.name, source_version=source.version)
        staging = Path(tempfile.mkdtemp(prefix="share-"))
        try:
            folder = self.source.download(source.name, source.version, staging)
            return self._store.register(target, str(folder), tags)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def get(self, name: str, version: str) -> ModelVersion:
        try:
            return self._store.get(name, version)
        except KeyError:
            raise KeyError(f"registry {self.registry!r} has no {name}:{version}") from None

    def versions(self, name: str) -> list[ModelVersion]:
        return self._store.versions(name)

    def download(self, name: str, version: str, dest: Path) -> Path:
        return self._store.download(name, version, dest)
