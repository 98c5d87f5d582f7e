"""The settings contract: every app setting the code reads is set by infra/ on the Function App and
documented in local.settings.sample.json, and nothing else is.

It parses the real files: core/kernel/settings.py (ENV_KEYS, the one place the app reads the
environment), the app-settings block of infra/main.bicep, the host settings of infra/app/api.bicep,
and the sample's Values. A new setting therefore fails here until all three agree."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from core.kernel import settings as settings_module

ROOT = Path(__file__).resolve().parents[2]
MAIN_BICEP = ROOT / "infra" / "main.bicep"
API_BICEP = ROOT / "infra" / "app" / "api.bicep"
SAMPLE = ROOT / "local.settings.sample.json"
APP_DIRS = ("core", "adapters", "activities", "orchestrators", "triggers")

# Read by the code, but only meaningful locally: Azure uses identities and real services instead.
LOCAL_ONLY = {
    "STORAGE_CONNECTION_STRING": "Azurite's connection string; Azure uses STORAGE_ACCOUNT_URL + the identity",
    "LOCAL_STATE_DIR": "SQLite files of the local stand-ins",
    "MLFLOW_TRACKING_URI": "the local MLflow registry; Azure registers models in Azure ML",
    "LEDGER_PATH": "the SQLite ledger; Azure uses Cosmos DB",
    "ENDPOINT_SERVER_URL": "the local endpoint server; Azure uses AML managed online endpoints",
    "ENDPOINT_SERVER_KEY": "the local endpoint server's key",
    "TRAFFIC_DB_PATH": "the local traffic table; Azure queries Log Analytics",
    "EVENTS_TOPIC_KEY": "devhost's topic key; the Azure topic has local auth disabled (EventGrid Data Sender role)",
    "CONSOLE_PRINCIPAL_SECRET": "the local console server's secret; on Azure the app validates Entra bearer tokens",
    "SHARED_REGISTRY_TRACKING_URI": "the local shared registry (a second MLflow store); Azure names an Azure ML registry",
    "LIFECYCLE_TEST_INTAKE_PAUSE_SECONDS": "a crash point for the outbox e2e test; never set on Azure",
    "FEATURE_STORE_ENDPOINT": "the local Cosmos stand-in of the online feature store; Azure uses COSMOS_ENDPOINT",
    "FEATURE_STORE_KEY": "the local Cosmos stand-in's key; Azure uses the identity's data-plane role",
}
# Settings the Functions host (or devhost) reads, not our code: allowed in infra and the sample.
HOST_PREFIXES = ("FUNCTIONS_", "AzureWebJobs", "APPLICATIONINSIGHTS_", "DEVHOST_", "WEBSITE_")
# Process variables that are not app settings (copied into job subprocesses, for instance).
PROCESS_VARIABLES = {"PYTHONPATH", "PATH", "HOME"}


def _is_host(key: str) -> bool:
    return key.startswith(HOST_PREFIXES)


def code_settings() -> set[str]:
    """App settings the code reads; platform variables (WEBSITE_*) are not ours to set."""
    return {k for k in settings_module.ENV_KEYS.values() if not _is_host(k)}


def _bicep_object_keys(text: str) -> set[str]:
    """Top-level keys of a Bicep object literal (one `key: value` per line)."""
    keys: set[str] = set()
    depth = 0
    for line in text.splitlines():
        stripped = line.split("//", 1)[0].strip()
        if depth == 1:
            m = re.match(r"^'?([A-Za-z_][A-Za-z0-9_]*)'?\s*:", stripped)
            if m:
                keys.add(m.group(1))
        depth += stripped.count("{") - stripped.count("}")
    return keys


def infra_app_settings() -> set[str]:
    text = MAIN_BICEP.read_text()
    m = re.search(
        r"// app settings: begin.*?\n\s*appSettings: (\{.*?\n\s*\})\s*\n\s*// app settings: end", text, re.S
    )
    assert m, f"{MAIN_BICEP} must keep the `appSettings: {{...}}` block between the app-settings markers"
    return _bicep_object_keys(m.group(1))


def infra_host_settings() -> set[str]:
    m = re.search(r"var hostSettings = (\{.*?\n\})", API_BICEP.read_text(), re.S)
    assert m, f"{API_BICEP} must define `var hostSettings = {{...}}`"
    return _bicep_object_keys(m.group(1))


def sample_settings() -> set[str]:
    return set(json.loads(SAMPLE.read_text())["Values"])


def env_reads_outside_settings() -> dict[str, list[str]]:
    """Literal keys read with os.environ[...] / os.environ.get(...) / os.getenv(...) by app code."""
    found: dict[str, list[str]] = {}
    files = [ROOT / "function_app.py", *(p for d in APP_DIRS for p in (ROOT / d).rglob("*.py"))]
    for path in files:
        if path == ROOT / "core" / "settings.py":
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            key = None
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                func = ast.unparse(node.func)
                if func in ("os.environ.get", "os.getenv", "environ.get", "getenv"):
                    key = node.args[0].value
            elif (
                isinstance(node, ast.Subscript)
                and ast.unparse(node.value) in ("os.environ", "environ")
                and isinstance(node.slice, ast.Constant)
            ):
                key = node.slice.value
            if isinstance(key, str) and key not in PROCESS_VARIABLES:
                found.setdefault(key, []).append(str(path.relative_to(ROOT)))
    return found


def test_only_lifecycle_settings_reads_app_settings_from_the_environment():
    assert env_reads_outside_settings() == {}


def test_every_setting_the_code_reads_is_documented_in_the_sample_and_nothing_else():
    documented = {k for k in sample_settings() if not _is_host(k)}
    assert documented - code_settings() == set(), "documented in the sample but read by no code"
    assert code_settings() - documented == set(), (
        "read by the code but missing from local.settings.sample.json"
    )


def test_infra_sets_every_setting_the_code_reads_in_azure_and_nothing_else():
    azure_settings = code_settings() - set(LOCAL_ONLY)
    set_by_infra = infra_app_settings()
    assert set_by_infra - code_settings() == set(), "set by infra/main.bicep but read by no code"
    assert azure_settings - set_by_infra == set(), "read by the code but not set by infra/main.bicep"
    assert set_by_infra & set(LOCAL_ONLY) == set(), "local-only settings must not be set on Azure"


def test_the_local_only_list_names_real_settings():
    assert set(LOCAL_ONLY) <= code_settings()


def test_settings_azure_mode_requires_are_all_set_by_infra():
    bootstrap = (ROOT / "wiring.py").read_text()
    required_fields = set(re.findall(r"require\(([^)]*)\)", bootstrap))
    names = {n for group in required_fields for n in re.findall(r"\"(\w+)\"", group)}
    required_env = {settings_module.ENV_KEYS[n] for n in names}
    assert required_env, "expected wiring.py to require settings for Azure mode"
    assert required_env <= infra_app_settings()


def test_host_settings_are_identity_based_and_hold_no_app_settings():
    host = infra_host_settings()
    assert {
        "AzureWebJobsStorage__accountName",
        "AzureWebJobsStorage__credential",
        "AzureWebJobsStorage__clientId",
    } <= host
    assert "AzureWebJobsStorage" not in host  # no connection string with a key
    assert all(_is_host(k) for k in host), f"app settings belong in main.bicep's block: {host}"
    assert not host & infra_app_settings()


def test_infra_sets_azure_mode():
    block = re.search(r"appSettings: \{(.*?)\n\s*\}", MAIN_BICEP.read_text(), re.S).group(1)
    assert re.search(r"LIFECYCLE_MODE:\s*'azure'", block)
