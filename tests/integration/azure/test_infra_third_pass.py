"""infra/ for issue 19: prod as its own environment, any region, the console's CORS declared, the
endpoint identity allowed to write the prediction log, one batch endpoint name.

Textual, like test_infra_defects.py: there is no ARM engine offline, so each test names the expression
whose absence made Azure (or azd) do the wrong thing, and the file must carry it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
INFRA = ROOT / "infra"
# Microsoft.Web/staticSites regions (az provider show -n Microsoft.Web, resourceType staticSites;
# Static Web Apps docs, "Regional availability")
STATIC_SITES_REGIONS = {"westus2", "centralus", "eastus2", "westeurope", "eastasia"}


def _text(name: str) -> str:
    return (INFRA / name).read_text()


def _code(text: str) -> str:
    return "\n".join(line.split("//")[0] for line in text.splitlines())


def _parameters() -> dict[str, str]:
    return {k: v["value"] for k, v in json.loads(_text("main.parameters.json"))["parameters"].items()}


def _module(text: str, symbol: str) -> str:
    start = text.index(f"module {symbol} ")
    depth, i = 0, text.index("{", start)
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[start : j + 1]
    raise AssertionError(f"unbalanced module {symbol}")


def test_an_azd_environment_can_point_the_app_at_its_own_policy_directory():
    """Item 3: prod's deploy-only policies; a literal 'samples' was out of azd env's reach."""
    main = _code(_text("main.bicep"))
    assert "LIFECYCLE_POLICY_DIR: lifecyclePolicyDir" in main
    assert re.search(r"^param lifecyclePolicyDir string = 'samples'$", main, re.M)
    assert _parameters()["lifecyclePolicyDir"] == "${LIFECYCLE_POLICY_DIR=samples}"


def test_the_console_goes_to_a_static_web_apps_region_whatever_the_apps_region():
    """Item 6: staticSites exists in five regions only; the app's region failed azd provision elsewhere."""
    main = _code(_text("main.bicep"))
    console = _module(main, "console")
    assert "location: consoleRegion" in console and "location: location" not in console
    listed = re.search(r"var staticSitesRegions = \[([^\]]*)\]", main)
    assert listed and set(re.findall(r"'([a-z0-9]+)'", listed.group(1))) == STATIC_SITES_REGIONS
    fallback = re.search(
        r"var consoleRegion = !empty\(consoleLocation\) \? consoleLocation : "
        r"\(contains\(staticSitesRegions, location\) \? location : '([a-z0-9]+)'\)",
        main,
    )
    assert fallback and fallback.group(1) in STATIC_SITES_REGIONS
    allowed = re.search(r"@allowed\(\[([^\]]*)\]\)\s*\nparam consoleLocation string", main)
    assert allowed and set(re.findall(r"'([a-z0-9]*)'", allowed.group(1))) == STATIC_SITES_REGIONS | {""}
    assert re.search(r"@allowed\(\[[^\]]*\]\)\s*\nparam location string", _text("app/console.bicep"))


def test_the_shared_registry_lists_every_region_an_environment_deploys_from():
    """Item 7: a workspace deploys registry models only in a region the registry lists."""
    registry = _code(_text("app/registry.bicep"))
    assert "param regions array = [location]" in registry
    assert re.search(r"regionDetails: \[\s*for region in regions: \{\s*location: region", registry)
    main = _code(_text("main.bicep"))
    assert "regions: registryRegions" in _module(main, "sharedRegistry")
    assert (
        "var registryRegions = empty(sharedRegistryRegions) ? [location] : union([location], sharedRegistryRegions)"
        in main
    )
    assert _parameters()["sharedRegistryRegions"] == "${SHARED_REGISTRY_REGIONS=[]}"


def test_the_endpoint_identity_may_write_the_prediction_log_to_the_workspace_storage():
    """Item 9: shared keys are off, and model data collection writes as the endpoint's identity
    (how-to-collect-production-data: Storage Blob Data Contributor)."""
    rbac = _text("app/rbac.bicep")
    start = rbac.index("resource endpointPredictionLog ")
    block = rbac[start : rbac.index("\n}\n", start)]
    assert "scope: mlStorage" in block
    assert "roles.storageBlobDataContributor" in block
    assert "principalId: endpointPrincipalId" in block
    assert "name: guid(mlStorage.id, endpointPrincipalId, roles.storageBlobDataContributor)" in block
    assert "endpointPrincipalId: ml.outputs.endpointPrincipalId" in _module(_text("main.bicep"), "rbac")


def test_cors_for_the_console_is_declared_in_the_site_config_every_provision_puts():
    """Item 10: an `az functionapp cors add` list was reset by the next provision's siteConfig PUT."""
    api = _code(_text("app/api.bicep"))
    assert re.search(r"siteConfig: \{[^}]*cors: \{\s*allowedOrigins: corsAllowedOrigins", api, re.S)
    assert "param corsAllowedOrigins array = []" in api
    call = _module(_code(_text("main.bicep")), "api")
    assert (
        "corsAllowedOrigins: union(corsAllowedOrigins, empty(consoleEntraClientId) ? [] : [console!.outputs.CONSOLE_URL])"
        in call
    )
    assert _parameters()["corsAllowedOrigins"] == "${CORS_ALLOWED_ORIGINS=[]}"
    assert "functionAppName" not in _code(_text("app/console.bicep"))  # no cycle: the site comes first


def test_infra_names_the_batch_endpoint_the_policies_score_with():
    """Item 11: 'churn-batch-<token>' in infra and 'churn-batch' in the policies made a second endpoint."""
    demo = yaml.safe_load((ROOT / "samples" / "churn" / "demo" / "policy.yaml").read_text())
    sample = (ROOT / "samples" / "churn" / "policy.yaml").read_text()
    commented = re.search(r"^#\s+endpoint: (\S+)", sample, re.M)
    main = _text("main.bicep")
    default = re.search(r"^param batchEndpointName string = '([^']+)'", main, re.M)
    assert default and default.group(1) == demo["batch"]["endpoint"]
    assert commented and commented.group(1) == demo["batch"]["endpoint"]
    assert "var batchName = batchEndpointName\n" in main
    assert _parameters()["batchEndpointName"] == "${AML_BATCH_ENDPOINT=" + demo["batch"]["endpoint"] + "}"
