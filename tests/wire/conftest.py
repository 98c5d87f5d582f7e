"""The real SDK clients over the recording stand-in (tests/wire/armstandin.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.wire.armstandin import RESOURCE_GROUP, SUBSCRIPTION, WORKSPACE, AzureStandIn, FakeCredential


@pytest.fixture
def standin() -> AzureStandIn:
    return AzureStandIn()


@pytest.fixture
def ml_client(standin: AzureStandIn, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield standin_ml_client(standin, monkeypatch)


def standin_ml_client(standin: AzureStandIn, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An MLClient whose every request goes to the stand-in, including the code upload: azure-ai-ml
    builds its own blob clients for that (no `transport=` reaches them), so they get the stand-in's."""
    import azure.ai.ml._artifacts._blob_storage_helper as blob_helper
    from azure.ai.ml import MLClient
    from azure.storage.blob import BlobServiceClient, ContainerClient

    class StandInContainerClient(ContainerClient):
        @classmethod
        def from_container_url(cls, container_url: str, credential: Any = None, **kwargs: Any) -> Any:
            return ContainerClient.from_container_url(
                container_url, credential=credential, transport=standin.transport(), **kwargs
            )

    def service_client(**kwargs: Any) -> BlobServiceClient:
        return BlobServiceClient(**kwargs, transport=standin.transport())

    monkeypatch.setattr(blob_helper, "BlobServiceClient", service_client)
    monkeypatch.setattr(blob_helper, "ContainerClient", StandInContainerClient)
    monkeypatch.setenv("AZUREML_LOG_LEVEL", "ERROR")
    return MLClient(FakeCredential(), SUBSCRIPTION, RESOURCE_GROUP, WORKSPACE, transport=standin.transport())
