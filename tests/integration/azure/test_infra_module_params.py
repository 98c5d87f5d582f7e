"""infra/ modules are called with parameters they declare: every Azure Verified Module
(`br/public:avm/...:<version>`) against the parameters it published at that exact release (vendored under
schemas/avm/, see SOURCE.md there), and every local module (`app/*.bicep`) against its own `param`s.

A misspelt or removed parameter fails the deployment ("The template parameter 'x' is not valid"), and a
required one left out fails it before anything is created; both are checked here, offline, per call site.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.azure.bicep import BICEP_FILES, INFRA  # skips the module without pycep-parser
from tests.integration.azure.bicep import parse as _parse

pytestmark = pytest.mark.integration

AVM = Path(__file__).parent / "schemas" / "avm"


def _published() -> dict[str, dict[str, Any]]:
    out = {}
    for path in AVM.glob("*.json"):
        spec = json.loads(path.read_text())
        out[f"{spec['module']}:{spec['version']}"] = spec
    return out


def _module_calls() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(where, module declaration, params passed) for every `module` in every .bicep file."""
    calls = []
    for path in BICEP_FILES:
        for symbol, module in (_parse(path).get("modules") or {}).items():
            config = module["config"]
            config = config.get("config", config)  # `if (cond)` and `for` wrap the body once more
            calls.append((f"{path.relative_to(INFRA)}:{symbol}", {**module, "file": path}, config["params"]))
    return calls


def _avm_calls() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (where, f"{m['detail']['path']}:{m['detail']['tag']}", params)
        for where, m, params in _module_calls()
        if m["type"] == "bicep_registry_alias" and m["detail"]["path"].startswith("avm/")
    ]


def avm_problems(params: dict[str, Any], published: dict[str, Any]) -> list[str]:
    """What Azure would reject in a call of a published module: unknown or missing required parameters,
    a literal outside its allowedValues, unknown or missing keys of a typed object literal."""
    declared = published["parameters"]
    found = [f"'{name}' is not a parameter of the module" for name in sorted(set(params) - set(declared))]
    found += [
        f"required parameter '{name}' is not passed"
        for name, spec in sorted(declared.items())
        if spec["required"] and name not in params
    ]
    for name, value in params.items():
        spec = declared.get(name, {})
        if (
            isinstance(value, str | int | bool)
            and "allowedValues" in spec
            and value not in spec["allowedValues"]
        ):
            found.append(f"'{name}': {value!r} is not one of {spec['allowedValues']}")
        if isinstance(value, dict) and "properties" in spec and "operator" not in value:
            found += [
                f"'{name}.{key}' is not a property of its type"
                for key in sorted(set(value) - set(spec["properties"]))
            ]
            found += [
                f"'{name}.{key}' is required by its type"
                for key in spec["requiredProperties"]
                if key not in value
            ]
    return found


def test_every_verified_module_used_has_its_published_parameters_vendored():
    used = {key for _, key, _ in _avm_calls()}
    assert used == set(_published()), "vendor the parameters of each used version; drop stale ones"
    assert {
        "avm/res/managed-identity/user-assigned-identity:0.4.1",
        "avm/res/storage/storage-account:0.8.3",
        "avm/res/operational-insights/workspace:0.11.1",
        "avm/res/insights/component:0.6.0",
        "avm/res/web/serverfarm:0.1.1",
    } <= used


@pytest.mark.parametrize(("where", "key", "params"), _avm_calls(), ids=lambda v: v if ":" in str(v) else "")
def test_a_verified_module_gets_only_parameters_it_publishes_and_every_required_one(where, key, params):
    assert avm_problems(params, _published()[key]) == [], where


def test_the_check_fails_on_a_misspelt_a_missing_or_an_out_of_range_parameter():
    (_, key, params) = next(c for c in _avm_calls() if c[1].startswith("avm/res/storage/storage-account:"))
    published = _published()[key]
    assert avm_problems({**params, "allowSharedKeysAccess": False}, published) == [
        "'allowSharedKeysAccess' is not a parameter of the module"
    ]
    assert avm_problems({k: v for k, v in params.items() if k != "name"}, published) == [
        "required parameter 'name' is not passed"
    ]
    assert avm_problems({**params, "minimumTlsVersion": "TLS1_3"}, published) == [
        "'minimumTlsVersion': 'TLS1_3' is not one of ['TLS1_0', 'TLS1_1', 'TLS1_2']"
    ]
    assert avm_problems({**params, "networkAcls": {"defaultAction": "Deny"}}, published) == [
        "'networkAcls.bypass' is required by its type"
    ]
    insights = _published()["avm/res/insights/component:0.6.0"]
    assert "required parameter 'workspaceResourceId' is not passed" in avm_problems({"name": "x"}, insights)


def _local_calls() -> list[tuple[str, Path, dict[str, Any]]]:
    return [
        (where, m["file"].parent / m["detail"]["path"], params)
        for where, m, params in _module_calls()
        if m["type"] == "local"
    ]


@pytest.mark.parametrize(
    ("where", "target", "params"), _local_calls(), ids=lambda v: v if ":" in str(v) else ""
)
def test_a_local_module_gets_only_its_declared_params_and_every_one_without_a_default(where, target, params):
    declared = _parse(target).get("parameters") or {}
    assert set(params) <= set(declared), f"{where}: {sorted(set(params) - set(declared))} not declared"
    missing = [n for n, p in declared.items() if p.get("default") is None and n not in params]
    assert not missing, f"{where}: {missing} have no default and are not passed"
