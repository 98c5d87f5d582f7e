"""The infra defects of issue 10, each pinned by what Azure would do with the old file.

Textual checks on purpose: there is no ARM engine offline, so each test names the property or
expression whose absence made Azure fail, and the file must carry it."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
INFRA = ROOT / "infra"


def _resource(text: str, symbol: str) -> str:
    start = text.index(f"resource {symbol} ")
    depth, i = 0, text.index("{", start)
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[start : j + 1]
    raise AssertionError(f"unbalanced resource {symbol}")


def test_the_log_alert_is_accepted_before_the_traffic_table_exists():
    """Defect 3: Azure Monitor rejects a rule whose table does not resolve yet (a new workspace)."""
    rule = _resource((INFRA / "app" / "events.bicep").read_text(), "endpointErrors")
    assert "skipQueryValidation: true" in rule
    from core.rollout.kql import EMPTY_LEG

    # and its union always has a leg that resolves (the same empty leg as the gate's KQL, issue 19)
    assert f"query: 'union isfuzzy=true {EMPTY_LEG}, AmlOnlineEndpointTrafficLog |" in rule


def _run_hook(tmp_path: Path, provision_ok: bool) -> list[str]:
    """Runs postdeploy.sh with a stand-in `azd` that records its calls and keeps the env in a file."""
    env_file = tmp_path / "env"
    env_file.write_text("WIRE_EVENT_SOURCES=false\n")
    log = tmp_path / "calls"
    azd = tmp_path / "azd"
    azd.write_text(
        f"""#!/bin/sh
echo "$*" >> {log}
case "$1 $2" in
  "env get-value") grep "^$3=" {env_file} | cut -d= -f2- ;;
  "env set") grep -v "^$3=" {env_file} > {env_file}.new; echo "$3=$4" >> {env_file}.new; mv {env_file}.new {env_file} ;;
  "provision --no-prompt") exit {0 if provision_ok else 1} ;;
esac
"""
    )
    azd.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    subprocess.run(["sh", str(INFRA / "hooks" / "postdeploy.sh")], env=env, check=False, timeout=30)
    return env_file.read_text().splitlines()


def test_a_failed_second_pass_leaves_the_event_sources_unwired_for_the_next_azd_up(tmp_path):
    """Defect 3: the flag was set before the provision that may fail, so every later first pass failed."""
    assert _run_hook(tmp_path, provision_ok=False) == ["WIRE_EVENT_SOURCES=false"]


def test_a_successful_second_pass_marks_the_event_sources_wired(tmp_path):
    assert _run_hook(tmp_path, provision_ok=True) == ["WIRE_EVENT_SOURCES=true"]


def test_no_role_is_assigned_to_the_endpoint_identity_that_azure_ml_grants_itself():
    """Defect 4: a duplicate assignment fails with RoleAssignmentExists."""
    rbac = (INFRA / "app" / "rbac.bicep").read_text()
    code = "\n".join(line.split("//")[0] for line in rbac.splitlines())
    assert "endpoint.identity" not in code and "endpointName" not in code
    assert "storageBlobDataReader" not in code


def test_role_assignment_names_derive_from_the_principal_and_no_principal_type_is_guessed():
    """Defect 4: names from the endpoint name collide across principals; 'User' fails for a CI service principal."""
    rbac = (INFRA / "app" / "rbac.bicep").read_text()
    for name_expr in re.findall(r"name: guid\(([^)]*)\)", rbac):
        parts = [p.strip() for p in name_expr.split(",")]
        assert any("PrincipalId" in p for p in parts), (
            f"role assignment name guid({name_expr}) has no principal"
        )
    user = _resource(rbac, "userBlob")
    assert "principalType" not in "\n".join(line.split("//")[0] for line in user.splitlines())


def test_the_training_cluster_identity_can_pull_from_the_workspace_registry():
    """Defect 5: the cluster runs as the user-assigned identity, which had no AcrPull."""
    pull = _resource((INFRA / "app" / "rbac.bicep").read_text(), "clusterImages")
    assert "roles.acrPull" in pull and "scope: registry" in pull
    assert "principalId: managedIdentityPrincipalId" in pull


def test_the_workspace_api_version_declares_system_datastores_auth_mode():
    """Defect 5: systemDatastoresAuthMode is not in workspaces@2024-10-01; 2025-06-01 (stable) has it."""
    ml = (INFRA / "app" / "ml.bicep").read_text()
    workspace = _resource(ml, "workspace")
    assert "workspaces@2025-06-01'" in workspace
    assert "systemDatastoresAuthMode: 'Identity'" in workspace


def test_infra_creates_the_endpoint_the_sample_policy_rolls_out_to_with_rollout_enabled():
    """Defect 6: one endpoint name (else ensure_endpoint makes a second one with no diagnostics)."""
    policy = yaml.safe_load((ROOT / "samples" / "churn" / "policy.yaml").read_text())
    main = (INFRA / "main.bicep").read_text()
    default = re.search(r"^param onlineEndpointName string = '([^']+)'", main, re.M)
    assert default and default.group(1) == policy["rollout"]["endpoint"]
    assert "var endpointName = onlineEndpointName\n" in main
    mapped = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]["onlineEndpointName"]
    assert mapped["value"] == "${AML_ONLINE_ENDPOINT=" + policy["rollout"]["endpoint"] + "}"
    assert policy["rollout"]["enabled"] is True


def test_the_shipped_sample_policy_loads_with_rollout_enabled():
    from core.kernel.policy import load_policy

    policy = load_policy(ROOT / "samples" / "churn" / "policy.yaml")
    assert policy.rollout.enabled and policy.rollout.endpoint == "churn-endpoint"


def test_the_alert_webhook_carries_the_alerts_functions_own_key_not_the_host_key():
    """Defect 7: the host's default key opens every operator route."""
    events = (INFRA / "app" / "events.bicep").read_text()
    group = _resource(events, "actionGroup")
    assert "/host/default" not in group and "functionKeys" not in group
    assert "listKeys('${functionApp.id}/functions/${alertsFunctionName}', '2024-04-01').default" in group
    assert re.search(r"^param alertsFunctionName string = 'alerts_webhook'", events, re.M)
    source = (ROOT / "triggers" / "alerts.py").read_text()
    assert "def alerts_webhook(" in source  # the function name Azure indexes (no explicit function_name)
