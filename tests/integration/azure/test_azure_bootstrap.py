"""LIFECYCLE_MODE=azure wires the Azure adapters from settings alone, with the managed identity.

Building these clients makes no network call (Cosmos is the exception: CosmosClient reads the
account on construction, so the ledger is checked by its own stand-in tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.identity import DefaultAzureCredential

import wiring
from adapters.azure.endpoints import AzureMLEndpoints
from adapters.azure.events import EventGridEventPublisher
from adapters.azure.registry import AzureMLModelRegistry
from adapters.azure.traffic_stats import LogAnalyticsTrafficStats
from adapters.azure.training_jobs import AzureMLTrainingJobs
from core.kernel.settings import Settings, SettingsError

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::FutureWarning")]

AZURE_ENV = {
    "LIFECYCLE_MODE": "azure",
    "AZURE_CLIENT_ID": "00000000-1111-2222-3333-444444444444",
    "STORAGE_ACCOUNT_URL": "https://stexample.blob.core.windows.net",
    "AML_SUBSCRIPTION_ID": "5f0b6d3e-0000-4000-8000-000000000000",
    "AML_RESOURCE_GROUP": "rg-mllife-dev",
    "AML_WORKSPACE": "mlw-example",
    "LOG_ANALYTICS_WORKSPACE_ID": "11111111-2222-3333-4444-555555555555",
    "EVENTS_TOPIC_ENDPOINT": "https://evgt-lifecycle.westeurope-1.eventgrid.azure.net/api/events",
    "COSMOS_ENDPOINT": "https://cosmos-example.documents.azure.com:443/",
}


@pytest.fixture
def azure_mode() -> Iterator[None]:
    wiring.reset()
    with wiring.override(settings=Settings.from_env(AZURE_ENV)):
        yield
    wiring.reset()


def test_azure_mode_builds_every_azure_adapter_with_the_managed_identity(azure_mode):
    assert isinstance(wiring.training_jobs(), AzureMLTrainingJobs)
    assert isinstance(wiring.workspace_registry(), AzureMLModelRegistry)
    assert wiring.registry().workspace is wiring.workspace_registry()  # type: ignore[attr-defined]
    assert isinstance(wiring.endpoints(), AzureMLEndpoints)
    assert isinstance(wiring.traffic_stats(), LogAnalyticsTrafficStats)
    publisher = wiring.events()
    assert isinstance(publisher, EventGridEventPublisher)
    assert publisher.endpoint == AZURE_ENV["EVENTS_TOPIC_ENDPOINT"]
    assert wiring.model_share() is None  # SHARED_REGISTRY_NAME unset
    credential = wiring._azure_credential()
    assert isinstance(credential, DefaultAzureCredential)
    ml = wiring.training_jobs()._ml
    assert (ml.subscription_id, ml.resource_group_name, ml.workspace_name) == (
        AZURE_ENV["AML_SUBSCRIPTION_ID"],
        AZURE_ENV["AML_RESOURCE_GROUP"],
        AZURE_ENV["AML_WORKSPACE"],
    )


def test_a_missing_azure_setting_is_named_in_the_error():
    wiring.reset()
    env = {k: v for k, v in AZURE_ENV.items() if k != "AML_WORKSPACE"}
    with (
        wiring.override(settings=Settings.from_env(env)),
        pytest.raises(SettingsError, match="AML_WORKSPACE"),
    ):
        wiring.training_jobs()
    wiring.reset()


def test_events_name_the_environment_they_come_from(azure_mode):
    env = {**AZURE_ENV, "LIFECYCLE_ENVIRONMENT": "prod"}
    with wiring.override(settings=Settings.from_env(env)):
        assert wiring.events().environment == "prod"  # type: ignore[attr-defined]
