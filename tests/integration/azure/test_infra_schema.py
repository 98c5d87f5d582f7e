"""infra/ beyond structure: every .bicep parses (pycep-parser, a Bicep grammar), and resources with a
vendored published schema (tests/integration/azure/schemas, see SOURCE.md there) use only property
names and enum values that schema has, at the apiVersion the file declares."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.azure.bicep import BICEP_FILES, INFRA  # skips the module without pycep-parser
from tests.integration.azure.bicep import parse as _parse

pytestmark = pytest.mark.integration

SCHEMAS = Path(__file__).parent / "schemas"


def _schemas() -> dict[str, dict[str, Any]]:
    out = {}
    for path in SCHEMAS.glob("*.json"):
        spec = json.loads(path.read_text())
        out[f"{spec['resourceType']}@{spec['apiVersion']}"] = spec
    return out


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_every_bicep_file_parses(path: Path):
    tree = _parse(path)
    assert tree.get("resources") or tree.get("modules"), f"{path.name} declares nothing"


def _resources() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path in BICEP_FILES:
        for symbol, resource in (_parse(path).get("resources") or {}).items():
            found.append(
                (
                    f"{path.relative_to(INFRA)}:{symbol}",
                    f"{resource['type']}@{resource['api_version']}",
                    resource,
                )
            )
    return found


def test_the_checked_resources_are_those_issue_10_found_wrong():
    declared = {key for _, key, _ in _resources()}
    assert "Microsoft.MachineLearningServices/workspaces@2025-06-01" in declared
    assert set(_schemas()) <= declared  # a vendored schema no resource uses is a stale one


@pytest.mark.parametrize(
    ("where", "key", "resource"),
    [r for r in _resources() if r[1] in _schemas() and not r[2]["existing"]],
    ids=lambda v: v if isinstance(v, str) and ":" in v else "",
)
def test_resource_property_names_and_enum_values_are_in_the_published_schema(where, key, resource):
    spec = _schemas()[key]["definitions"]
    config = resource["config"]
    top = set(config) - {"parent", "scope", "dependsOn"}  # Bicep's own keywords, not ARM properties
    assert top <= set(spec["Workspace"]["properties"]), (
        f"{where}: unknown {top - set(spec['Workspace']['properties'])}"
    )
    assert set(spec["Workspace"]["required"]) <= set(config)
    props = config["properties"]
    wp = spec["WorkspaceProperties"]
    unknown = set(props) - set(wp["properties"])
    assert not unknown, f"{where}: {sorted(unknown)} are not properties of {key}"
    read_only = set(props) & set(wp["readOnly"])
    assert not read_only, f"{where}: {sorted(read_only)} are read-only in {key}"
    for name, allowed in wp["enums"].items():
        if isinstance(props.get(name), str):
            assert props[name] in allowed, f"{where}: {name}={props[name]!r} is not one of {allowed}"
