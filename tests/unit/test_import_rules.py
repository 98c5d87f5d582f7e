"""The layering the design promises, checked on the source (ast), function-local imports included:
the core imports no Azure SDK, no adapter, no devhost and not the wiring; orchestrators import no
adapter, no wiring and no Azure SDK but the Durable one; activities never read os.environ; and the
code the Function App ships never imports mlflow, which requirements.txt (the deployment package)
does not install."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _files(*parts: str) -> list[Path]:
    found: list[Path] = []
    for part in parts:
        path = ROOT / part
        found += [path] if path.is_file() else sorted(path.rglob("*.py"))
    assert found, f"no python files under {parts}"
    return found


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            for alias in node.names:  # `from adapters import local` names a module too
                yield node.lineno, f"{node.module}.{alias.name}"


def _offences(paths: list[Path], forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    def hits(name: str, prefix: str) -> bool:
        return name == prefix or name.startswith(prefix + ".")

    return [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in paths
        for line, name in _imports(path)
        if any(hits(name, f) for f in forbidden) and not any(hits(name, a) for a in allowed)
    ]


def test_the_core_imports_no_azure_sdk_no_adapter_no_devhost_and_not_the_wiring():
    assert _offences(_files("core"), ("azure", "adapters", "devhost", "wiring", "standins", "mlflow")) == []


def test_orchestrators_import_no_adapter_no_wiring_and_no_azure_sdk_but_durable_functions():
    forbidden = ("azure", "adapters", "wiring", "standins", "mlflow")
    assert _offences(_files("orchestrators"), forbidden, allowed=("azure.durable_functions",)) == []


def _environ_reads(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv", "putenv"}:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} uses os.{node.attr}")
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno} imports os.{a.name}"
                for a in node.names
                if a.name in {"environ", "getenv"}
            ]
    return found


def test_activities_never_read_the_environment_themselves():
    assert [hit for path in _files("activities") for hit in _environ_reads(path)] == []


SHIPPED = (
    "function_app.py",
    "wiring.py",
    "activities",
    "orchestrators",
    "triggers",
    "core",
    "adapters/azure",
)


def test_the_shipped_app_never_imports_mlflow_which_the_deployment_package_lacks():
    requirements = (ROOT / "requirements.txt").read_text(encoding="utf-8").lower()
    shipped_requirements = {
        line.split("==")[0].strip().lower() for line in requirements.splitlines() if "==" in line
    }
    assert "mlflow" not in shipped_requirements
    assert _offences(_files(*SHIPPED), ("mlflow",)) == []


@pytest.mark.parametrize(
    ("source", "rule", "caught"),
    [
        ("import azure.ai.ml\n", ("azure",), True),
        ("def f():\n    from adapters.local.ledger import SqliteRunLedger\n", ("adapters",), True),
        ("from adapters import local\n", ("adapters.local",), True),
        ("import azure.durable_functions as df\n", ("azure",), False),  # allowed below
        ("from azurelib import x\n", ("azure",), False),
    ],
)
def test_the_rule_sees_function_local_and_aliased_imports(tmp_path, monkeypatch, source, rule, caught):
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "m.py").write_text(source)
    assert bool(_offences([tmp_path / "m.py"], rule, allowed=("azure.durable_functions",))) is caught


def test_the_environment_rule_sees_os_environ_and_getenv(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "a.py").write_text("import os\nx = os.environ['A']\n")
    (tmp_path / "b.py").write_text("from os import getenv\n")
    assert _environ_reads(tmp_path / "a.py") and _environ_reads(tmp_path / "b.py")
