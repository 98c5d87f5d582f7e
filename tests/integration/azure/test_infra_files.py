"""infra/ is well-formed and wired, checked offline (no Bicep CLI here: `az bicep build` needs a
download). Structure only: balanced Bicep, module parameters that exist, roles only in rbac.bicep
and each named, azd outputs in UPPER_SNAKE, the resources DESIGN.md's Azure column needs."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
INFRA = ROOT / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))


def _code(text: str) -> str:
    """Bicep without comments and string contents (interpolations dropped too)."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text[i] == "'":
            i += 1
            while i < n and text[i] != "'":
                i += 2 if text[i] == "\\" else 1
            out.append("''")
            i += 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _block(text: str, start: int) -> str:
    """The {...} starting at the first brace at or after `start`."""
    i = text.index("{", start)
    depth = 0
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i : j + 1]
    raise AssertionError("unbalanced block")


def _top_keys(block: str) -> set[str]:
    keys, depth = set(), 0
    for line in block.splitlines():
        if depth == 1 and (m := re.match(r"\s*([A-Za-z_]\w*)\s*:", line)):
            keys.add(m.group(1))
        depth += line.count("{") + line.count("[") - line.count("}") - line.count("]")
    return keys


def _params(path: Path) -> dict[str, bool]:
    """param name -> has a default."""
    code = _code(path.read_text())
    return {m.group(1): "=" in m.group(0) for m in re.finditer(r"^param (\w+) [^\n]*", code, re.M)}


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_bicep_brackets_and_quotes_balance(path: Path):
    code = _code(path.read_text())
    for open_, close in ("{}", "[]", "()"):
        assert code.count(open_) == code.count(close), f"{path.name}: unbalanced {open_}{close}"


def test_every_local_module_exists_and_gets_only_parameters_it_declares():
    code = _code((INFRA / "main.bicep").read_text())
    raw = (INFRA / "main.bicep").read_text()
    modules = re.findall(r"^module (\w+) '([^']+)'", raw, re.M)
    local = [(name, target) for name, target in modules if not target.startswith("br/")]
    assert {t for _, t in local} >= {
        "app/api.bicep",
        "app/ml.bicep",
        "app/cosmos.bicep",
        "app/rbac.bicep",
        "app/events.bicep",
        "app/topic.bicep",
    }
    for name, target in local:
        path = INFRA / target
        assert path.exists(), f"module {name}: {target} is missing"
        body = _block(raw, raw.index(f"module {name} "))
        passed = _top_keys(_block(body, body.index("params:")))
        declared = _params(path)
        assert passed <= set(declared), f"module {name} passes undeclared params {passed - set(declared)}"
        required = {p for p, has_default in declared.items() if not has_default}
        assert required <= passed, f"module {name} misses required params {required - passed}"
    assert code  # parsed


def test_role_assignments_live_only_in_rbac_bicep_and_each_guid_names_its_role():
    for path in BICEP_FILES:
        if path.name != "rbac.bicep":
            assert "roleAssignments" not in path.read_text(), f"{path.name} assigns a role outside rbac.bicep"
    rbac = (INFRA / "app" / "rbac.bicep").read_text()
    guids = re.findall(r"^.*'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'.*$", rbac, re.M)
    assert len(guids) >= 8
    for line in guids:
        assert re.search(r"//\s*\S", line), f"role GUID without its role name in a comment: {line.strip()}"


def test_outputs_are_upper_snake_for_azd():
    outputs = re.findall(r"^output (\w+) ", (INFRA / "main.bicep").read_text(), re.M)
    assert outputs and all(re.fullmatch(r"[A-Z][A-Z0-9_]*", o) for o in outputs)


def test_main_is_subscription_scoped_with_a_resource_token_and_abbreviations():
    main = (INFRA / "main.bicep").read_text()
    assert "targetScope = 'subscription'" in main
    assert "loadJsonContent('./abbreviations.json')" in main
    abbrs = json.loads((INFRA / "abbreviations.json").read_text())
    for used in set(re.findall(r"abbrs\.(\w+)", "".join(p.read_text() for p in BICEP_FILES))):
        assert used in abbrs, f"abbreviation {used} is not in abbreviations.json"


def test_parameters_file_names_only_declared_parameters():
    declared = _params(INFRA / "main.bicep")
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(given) <= set(declared)


def test_the_azure_column_is_described():
    text = "\n".join(p.read_text() for p in BICEP_FILES)
    for needle in [
        "allowSharedKeyAccess: false",
        "'FlexConsumption'",
        "name: 'python'\n        version: '3.11'",
        "AzureWebJobsStorage__credential: 'managedidentity'",
        "Microsoft.EventGrid/systemTopics",
        "'Microsoft.Storage.BlobCreated'",
        "/functions/on_blob_created",
        "Microsoft.MachineLearningServices/workspaces/computes",
        "minNodeCount: 0",
        "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
        "'AmlOnlineEndpointTrafficLog'",
        "capabilities: [{ name: 'EnableServerless' }]",
        "paths: ['/model']",
        "/api/alerts",
        "Microsoft.Insights/scheduledQueryRules",
        "inputSchema: 'CloudEventSchemaV1_0'",
    ]:
        assert needle in text, f"infra/ lacks {needle!r}"
    main = (INFRA / "main.bicep").read_text()
    for container in ("raw", "features", "training", "quarantine"):
        assert f"'{container}'" in main


def test_azure_yaml_deploys_the_repo_root_as_a_python_function_app():
    spec = yaml.safe_load((ROOT / "azure.yaml").read_text())
    assert spec["services"]["api"] == {"project": ".", "language": "python", "host": "function"}
    hook = ROOT / spec["hooks"]["postdeploy"]["posix"]["run"]
    assert hook.exists() and os.access(hook, os.X_OK)
