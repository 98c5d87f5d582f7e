"""Indexing the app (what the Python worker does at every cold start) loads no statistics or
dataframe library: scipy and pandas belong to the activities that use them, not to the triggers."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("scipy", "pandas", "numpy", "pyarrow", "mlflow", "sklearn")


def _loaded_after(code: str) -> list[str]:
    probe = f"import json, sys\n{code}\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_indexing_the_app_loads_neither_scipy_nor_pandas():
    assert _loaded_after("import function_app") == []


def test_the_edge_handlers_load_neither_scipy_nor_pandas():
    assert _loaded_after("import wiring, triggers.edge, triggers.blob_events, triggers.operator_api") == []


def test_the_probe_sees_a_heavy_import_when_there_is_one():
    assert "scipy" in _loaded_after("import core.rollout.traffic_gate")
