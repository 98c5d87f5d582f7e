"""ModelRegistryShare on an Azure ML registry: dev shares its champion, prod deploys from it.

Sharing is Azure ML's registry import (what `ml_client.models.share` does): the registry copies
the workspace version's artifact and metadata server-side, so prod deploys the exact bytes dev
evaluated. The registry version keeps the dev version's name and number (`churn:7` in dev is
`churn:7` in the registry), which makes sharing idempotent: a version already in the registry
is returned, never imported twice.

`models.share` waits for the import to finish; an activity must not, so `share` begins the same
import (`begin_import_registry_asset(..., wait=False)`, the SDK function `models.share` calls)
and returns at once. The registry version appears (to `get`) when the import has finished; the
orchestrator polls `get` with durable timers until it does. That call is SDK-internal (azure-ai-ml 1.35.2, pinned
exactly): the wire test pins the request it sends, and tests/integration/azure/test_sdk_private_apis.py
fails by name if an upgrade moves it or `models.share` stops going through it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from azure.ai.ml import MLClient
from azure.ai.ml._utils._registry_utils import begin_import_registry_asset
from azure.ai.ml.constants._common import ASSET_ID_FORMAT
from azure.ai.ml.entities import Model
from azure.ai.ml.entities._assets.workspace_asset_reference import WorkspaceAssetReference
from azure.core.exceptions import ResourceNotFoundError

from core.kernel.ports import ModelVersion

_ENVIRONMENT_TAGS = ("champion", "champion_since")


def registry_uri(registry: str, name: str, version: str) -> str:
    return f"azureml://registries/{registry}/models/{name}/versions/{version}"


class AzureMLSharedRegistry:
    def __init__(self, workspace: MLClient, registry_client: MLClient, registry: str) -> None:
        """`workspace` is dev's workspace client (the source of shared versions); `registry_client`
        is `MLClient(credential, registry_name=registry)`. Prod needs only the registry client:
        pass the same client twice."""
        self._ws = workspace
        self._reg = registry_client
        self.registry = registry

    @classmethod
    def connect(
        cls, credential: Any, subscription_id: str, resource_group: str, workspace: str, registry: str
    ) -> AzureMLSharedRegistry:
        return cls(
            MLClient(credential, subscription_id, resource_group, workspace),
            MLClient(credential, registry_name=registry),
            registry,
        )

    def share(self, source: ModelVersion, *, name: str | None = None) -> ModelVersion:
        target = name or source.name
        try:
            return self._to_version(self._reg.models.get(name=target, version=source.version))
        except ResourceNotFoundError:
            pass  # not shared yet
        ws = self._ws.workspaces.get(self._ws.workspace_name)
        asset_id = ASSET_ID_FORMAT.format(
            ws.location, ws._workspace_id, "models", source.name, source.version
        )
        reference = WorkspaceAssetReference(name=target, version=source.version, asset_id=asset_id)
        models: Any = self._reg.models
        begin_import_registry_asset(
            models._registry_service_client,
            models._operation_scope._resource_group_name,
            self.registry,
            reference._to_rest_object(),
            wait=False,  # the orchestrator polls get() with durable timers
        )
        # what get() will report once the import is done: the import copies the version's tags
        tags = {k: v for k, v in source.tags.items() if k not in _ENVIRONMENT_TAGS}
        return ModelVersion(target, source.version, registry_uri(self.registry, target, source.version), tags)

    def get(self, name: str, version: str) -> ModelVersion:
        """The registry version; KeyError while it is not there (not shared, or still importing)."""
        try:
            model = self._reg.models.get(name=name, version=version)
        except ResourceNotFoundError:
            raise KeyError(f"registry {self.registry!r} has no {name}:{version} (yet)") from None
        return self._to_version(model)

    def versions(self, name: str) -> list[ModelVersion]:
        try:
            found = [self._to_version(m) for m in self._reg.models.list(name=name)]
        except ResourceNotFoundError:
            return []
        return sorted(found, key=lambda v: int(v.version) if v.version.isdigit() else 0)

    def download(self, name: str, version: str, dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        self._reg.models.download(name=name, version=version, download_path=str(dest))
        for mlmodel in sorted(dest.rglob("MLmodel")):
            return mlmodel.parent
        raise FileNotFoundError(f"registry model {name}:{version} has no MLmodel file under {dest}")

    def _to_version(self, model: Model) -> ModelVersion:
        ctx = getattr(model, "creation_context", None)
        return ModelVersion(
            name=str(model.name),
            version=str(model.version),
            source_uri=registry_uri(self.registry, str(model.name), str(model.version)),
            # the import copies the workspace version's tags; champion marks belong to one environment
            tags={k: v for k, v in (model.tags or {}).items() if k not in _ENVIRONMENT_TAGS},
            created_at=getattr(ctx, "created_at", None),
        )
