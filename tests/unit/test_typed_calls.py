"""Orchestrators call activities by reference only (core.kernel.activity): no module but the run
context names an activity with a string, so every call site gets its result as the declared type."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RAW_CALLS = {"call_activity", "call_activity_with_retry"}


def _raw_calls(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return [
        f"{path.name}:{node.lineno} calls {node.func.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in RAW_CALLS
    ]


def test_only_the_run_context_calls_an_activity_by_its_name():
    modules = sorted((ROOT / "orchestrators").glob("*.py"))
    assert [hit for path in modules if path.name != "run.py" for hit in _raw_calls(path)] == []
    assert _raw_calls(ROOT / "orchestrators" / "run.py")  # the one `call`, which takes a reference


def test_the_rule_sees_a_call_by_name(tmp_path):
    (tmp_path / "m.py").write_text(
        "def f(context):\n    yield context.call_activity_with_retry('x', r, {})\n"
    )
    assert _raw_calls(tmp_path / "m.py") == ["m.py:2 calls call_activity_with_retry"]
