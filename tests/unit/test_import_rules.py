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


def test_the_composition_root_imports_no_trigger_orchestrator_or_activity_it_is_imported_by():
    """wiring builds ports; the trigger side builds its handlers on them (triggers.edge.get_edge)."""
    assert _offences(_files("wiring.py"), ("triggers", "orchestrators", "activities", "function_app")) == []


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


SCORING = ROOT / "adapters" / "azure" / "scoring"
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
    # the scoring script ships with the app only to be uploaded: it runs in the online deployment's own
    # environment (adapters/azure/scoring/conda.yaml, with mlflow), never in the Function App
    app = [p for p in _files(*SHIPPED) if SCORING not in p.parents]
    assert _offences(app, ("mlflow",)) == []
    assert _offences(_files(*SHIPPED), ("mlflow",)) != []  # the script itself loads the model with it


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


# --------------------------------------------------------------------------- the core's slices

KERNEL = "core.kernel"
SLICES = ("intake", "training", "rollout", "batch", "environments", "monitoring")
RUN = "core.run"  # above the slices: status, the union of facts, run bookkeeping


def _core_imports(path: Path) -> set[str]:
    return {name for _, name in _imports(path) if name == "core" or name.startswith("core.")}


def test_the_kernel_imports_no_slice_and_not_the_run_layer():
    offences = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _files("core/kernel")
        for name in _core_imports(path)
        if not name.startswith(KERNEL)
    ]
    assert offences == []


@pytest.mark.parametrize("slice_name", SLICES)
def test_a_slice_imports_the_kernel_and_itself_but_no_sibling_and_not_the_run_layer(slice_name):
    own = f"core.{slice_name}"
    offences = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _files(f"core/{slice_name}")
        for name in _core_imports(path)
        if not (name.startswith(KERNEL) or name == own or name.startswith(own + "."))
    ]
    assert offences == []


def test_every_module_of_the_core_lives_in_the_kernel_a_slice_or_the_run_layer():
    loose = [p.name for p in (ROOT / "core").glob("*.py") if p.name != "__init__.py"]
    assert loose == []


APP = ("function_app.py", "wiring.py", "triggers", "orchestrators", "activities", "core", "adapters")


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def test_no_two_modules_of_the_app_import_each_other_in_a_circle():
    """Module-level imports only (a function-local import runs after both modules are loaded)."""
    paths = _files(*APP)
    modules = {_module_name(p): p for p in paths}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        deps: set[str] = set()
        for node in tree.body:
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            deps |= {t for t in targets if t in modules and t != name}
        graph[name] = deps
    circles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                circles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    # a package importing its own submodules to register them is not a circle of two modules
    circles = [
        c
        for c in circles
        if not (len(c) == 3 and (c[1].startswith(c[0] + ".") or c[0].startswith(c[1] + ".")))
    ]
    assert circles == [], "\n".join(" -> ".join(c) for c in circles)
