"""Cold start: what the Python worker pays to index the app (`import function_app`) against the
floor it cannot avoid (azure.functions, azure.durable_functions, pydantic and the SDKs the
trigger side builds clients with), each in a fresh interpreter.

    python -m bench.coldstart [--runs 5]

Prints the median wall time and peak memory (max RSS) of both, their ratios against the goal
(within 1.3x of the floor, issue 19), and whether scipy or pandas were loaded; writes
bench/results/coldstart.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from devstack import REPO_ROOT

RESULTS = Path(__file__).resolve().parent / "results" / "coldstart.json"
GOAL = 1.3
HEAVY = ("scipy", "pandas", "numpy", "pyarrow", "mlflow", "sklearn")

# The floor: what indexing needs whatever the app does (the trigger side's SDKs included).
FLOOR = (
    "import azure.functions, azure.durable_functions, pydantic, yaml, croniter, "
    "azure.storage.blob, azure.identity"
)
APP = "import function_app"

_PROBE = """
import json, resource, sys, time
t = time.perf_counter()
exec({code!r})
seconds = time.perf_counter() - t
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print(json.dumps({{"seconds": seconds, "rss_mb": rss_mb, "heavy": heavy}}))
"""


def measure(code: str) -> dict:
    """One fresh interpreter: the time of `code` alone, its peak RSS, the heavy modules it loaded."""
    probe = _PROBE.format(code=code, heavy=HEAVY)
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def summary(code: str, runs: int) -> dict:
    samples = [measure(code) for _ in range(runs)]
    return {
        "seconds": round(statistics.median(s["seconds"] for s in samples), 3),
        "rss_mb": round(statistics.median(s["rss_mb"] for s in samples), 1),
        "heavy_modules": samples[0]["heavy"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    floor, app = summary(FLOOR, args.runs), summary(APP, args.runs)
    result = {
        "runs": args.runs,
        "floor": floor,
        "app": app,
        "time_ratio": round(app["seconds"] / floor["seconds"], 2),
        "memory_ratio": round(app["rss_mb"] / floor["rss_mb"], 2),
        "goal_ratio": GOAL,
    }
    result["ok"] = (
        result["time_ratio"] <= GOAL and result["memory_ratio"] <= GOAL and not app["heavy_modules"]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        f"floor {floor['seconds']:.2f} s / {floor['rss_mb']:.0f} MB; "
        f"import function_app {app['seconds']:.2f} s / {app['rss_mb']:.0f} MB "
        f"(x{result['time_ratio']} time, x{result['memory_ratio']} memory; goal x{GOAL}); "
        f"heavy modules loaded: {app['heavy_modules'] or 'none'}; {'OK' if result['ok'] else 'NOT OK'} -> {args.out}"
    )
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
