"""The two SDK-private calls the Azure adapters make are the ones the public API makes, at the
exact versions requirements.txt pins; an SDK upgrade that moves them fails here, by name, instead
of in Azure.

- Sharing a model into the registry: `ml_client.models.share(...)` is the supported call, but it
  waits for the import to finish (`begin_import_registry_asset(...)` with its default wait=True),
  which an activity must not; adapters/azure/shared_registry.py calls the same function with
  wait=False, and tests/integration/azure/test_batch_and_registry_wire.py pins the request it sends.
- Publishing to a basic Event Grid topic: the public `EventGridPublisherClient` wraps
  `azure.eventgrid._legacy.EventGridPublisherClient` for a basic topic but drops every keyword
  (transport, retry and logging options); adapters/azure/events.py builds the wrapped client itself."""

from __future__ import annotations

import inspect
import re
from importlib.metadata import version
from pathlib import Path

import pytest
from azure.core.credentials import AzureKeyCredential

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def _pinned(package: str) -> str:
    found = re.search(rf"^{re.escape(package)}==([^\s#]+)", (ROOT / "requirements.txt").read_text(), re.M)
    assert found, f"requirements.txt must pin {package} exactly: the adapters use its private API"
    return found.group(1)


@pytest.mark.parametrize("package", ["azure-ai-ml", "azure-eventgrid"])
def test_the_sdks_whose_private_api_we_call_are_pinned_exactly_and_installed_at_that_version(package):
    assert version(package) == _pinned(package)


def test_the_public_model_share_imports_through_the_function_the_adapter_calls_without_waiting():
    from azure.ai.ml._utils import _registry_utils
    from azure.ai.ml.operations import _model_operations

    from adapters.azure import shared_registry

    assert shared_registry.begin_import_registry_asset is _registry_utils.begin_import_registry_asset
    assert _model_operations.begin_import_registry_asset is _registry_utils.begin_import_registry_asset
    share = inspect.getsource(_model_operations.ModelOperations.share)
    assert "WorkspaceAssetReference(" in share and "ASSET_ID_FORMAT.format(" in share
    assert "begin_import_registry_asset(" in inspect.getsource(
        _model_operations.ModelOperations.create_or_update
    )
    params = inspect.signature(_registry_utils.begin_import_registry_asset).parameters
    assert list(params)[:4] == ["service_client", "resource_group", "registry_name", "body"]
    assert params["wait"].kind is inspect.Parameter.KEYWORD_ONLY and params["wait"].default is True


def test_the_public_event_grid_client_wraps_the_basic_topic_client_the_publisher_builds():
    from azure.eventgrid import EventGridPublisherClient

    from adapters.azure.events import BasicTopicPublisherClient

    public = EventGridPublisherClient(
        "https://topic.westeurope-1.eventgrid.azure.net/api/events", AzureKeyCredential("k")
    )
    assert type(public._client) is BasicTopicPublisherClient
    assert public._publish == public._client.send
