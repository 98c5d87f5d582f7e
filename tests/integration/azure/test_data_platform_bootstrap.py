"""Azure mode wires Data Factory ingestion to the factory infra names, in the workspace's subscription
and resource group, with the managed identity."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.identity import DefaultAzureCredential

import wiring
from adapters.azure.data_factory import DataFactoryPipelines
from core.kernel.settings import Settings, SettingsError
from tests.integration.azure.test_azure_bootstrap import AZURE_ENV

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::FutureWarning")]


@pytest.fixture
def azure_env() -> Iterator[dict[str, str]]:
    wiring.reset()
    env = dict(AZURE_ENV)
    yield env
    wiring.reset()


def test_with_a_factory_named_azure_mode_runs_pipelines_in_the_workspaces_resource_group(azure_env):
    with wiring.override(settings=Settings.from_env({**azure_env, "DATA_FACTORY_NAME": "adf-abc123"})):
        pipelines = wiring.data_pipelines()
        assert isinstance(pipelines, DataFactoryPipelines)
        assert (pipelines.resource_group, pipelines.factory) == (
            azure_env["AML_RESOURCE_GROUP"],
            "adf-abc123",
        )
        assert pipelines.client._config.subscription_id == azure_env["AML_SUBSCRIPTION_ID"]
        assert isinstance(pipelines.client._config.credential, DefaultAzureCredential)


def test_without_a_factory_a_data_factory_policy_fails_naming_the_setting(azure_env):
    with (
        wiring.override(settings=Settings.from_env(azure_env)),
        pytest.raises(SettingsError, match="DATA_FACTORY_NAME"),
    ):
        wiring.data_pipelines().start("raw-to-features", {"runId": "r"}, reference="r")
