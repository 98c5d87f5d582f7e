"""infra/ for issue 14: the batch endpoint and its CPU cluster, the shared registry created by one
environment only, and the AzureML Registry User role for this and the other environments."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

INFRA = Path(__file__).resolve().parents[3] / "infra"


def _text(name: str) -> str:
    return (INFRA / name).read_text()


def test_the_batch_module_creates_an_aad_batch_endpoint_and_a_cpu_cluster_running_as_the_app_identity():
    batch = _text("app/batch.bicep")
    assert "'Microsoft.MachineLearningServices/workspaces/batchEndpoints@2024-10-01'" in batch
    assert "authMode: 'AADToken'" in batch  # batch endpoints have no key auth
    assert "computeType: 'AmlCompute'" in batch and "minNodeCount: 0" in batch
    assert "userAssignedIdentities: { '${identityId}': {} }" in batch
    assert "roleAssignments" not in batch


def test_the_registry_is_created_only_where_asked_and_only_with_a_name():
    main = _text("main.bicep")
    assert re.search(
        r"module sharedRegistry 'app/registry\.bicep' = if \(createSharedRegistry && !empty\(sharedRegistryName\)\)",
        main,
    )
    registry = _text("app/registry.bicep")
    assert "'Microsoft.MachineLearningServices/registries@2024-10-01'" in registry
    assert "regionDetails:" in registry and "acrDetails:" in registry


def test_the_registry_user_role_goes_to_this_identity_and_to_the_other_environments():
    rbac = _text("app/rbac.bicep")
    assert "azureMLRegistryUser: '1823dd4f-9b8c-4ab6-ab4e-7397a3684615' // AzureML Registry User" in rbac
    assert (
        "for registryUserPrincipalId in (empty(sharedRegistryName) ? [] : registryUserPrincipalIds)" in rbac
    )
    main = _text("main.bicep")
    assert "sharedRegistryName: createSharedRegistry ? sharedRegistryName : ''" in main
    for output in ("AML_BATCH_ENDPOINT", "AML_BATCH_COMPUTE", "AML_SHARED_REGISTRY"):
        assert f"output {output} string" in main
