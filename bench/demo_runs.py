"""The demo as a promise: `make demo` played N times, each on a fresh stack, and how many runs were fully
green (every scenario ended as declared), with a Wilson 95% interval, and which scenarios failed.

    python -m bench.demo_runs [--runs 20] [--rps 50] [--append]

Each run is `python -m devstack.demo` in its own process with its own state folder and report (the
demo wipes and builds its stack, and stops every process it started). Prints the count as it goes, and
writes bench/results/demo_runs.json (per run: the commit, ok, seconds, the failed scenarios and their outcomes).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from devstack import REPO_ROOT

RESULTS = Path(__file__).resolve().parent / "results" / "demo_runs.json"


def wilson(k: int, n: int, z: float = 1.96) -> list[float]:
    if n == 0:
        return [0.0, 1.0]
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [max(0.0, centre - half), min(1.0, centre + half)]


def commit() -> str | None:
    """The checkout's commit, with "+dirty" when its code has uncommitted changes (None outside git); the
    results this benchmark writes do not count."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def play(base: Path, index: int, rps: float) -> dict[str, Any]:
    report = base / f"report-{index}.json"
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "devstack.demo",
            "--state-dir",
            str(base / f"state-{index}"),
            "--report",
            str(report),
            "--rps",
            str(rps),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    doc = json.loads(report.read_text()) if report.exists() else {"ok": False, "scenarios": []}
    failed = {s["name"]: s["outcome"] for s in doc.get("scenarios", []) if not s.get("ok")}
    return {
        "commit": commit(),
        "ok": proc.returncode == 0 and bool(doc.get("ok")),
        "exit": proc.returncode,
        "seconds": round(time.monotonic() - started, 1),
        "failed": failed,
        "scenario_seconds": {s["name"]: s.get("seconds") for s in doc.get("scenarios", [])},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.demo_runs", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rps", type=float, default=50)
    parser.add_argument("--append", action="store_true", help="count on from the runs already in the results")
    args = parser.parse_args(argv)
    runs: list[dict[str, Any]] = []
    if args.append and RESULTS.exists():
        runs = json.loads(RESULTS.read_text())["per_run"]
    with tempfile.TemporaryDirectory(prefix="demo-runs-") as tmp:
        for i in range(args.runs):
            runs.append(play(Path(tmp), i, args.rps))
            green = sum(r["ok"] for r in runs)
            last = runs[-1]
            print(
                f"run {len(runs)} ({i + 1}/{args.runs} of this call): {'green' if last['ok'] else 'FAILED ' + ', '.join(last['failed'])} "
                f"in {last['seconds']:.0f}s; {green}/{len(runs)} fully green so far",
                flush=True,
            )
            summary = {
                "runs": len(runs),
                "fully_green": green,
                "fully_green_ci95": wilson(green, len(runs)),
                "by_commit": {
                    c: {
                        "runs": sum(str(r.get("commit")) == c for r in runs),
                        "fully_green": sum(r["ok"] for r in runs if str(r.get("commit")) == c),
                    }
                    for c in dict.fromkeys(str(r.get("commit")) for r in runs)
                },
                "failed_scenarios": dict(Counter(name for r in runs for name in r["failed"])),
                "median_seconds": sorted(r["seconds"] for r in runs)[len(runs) // 2],
                "per_run": runs,
            }
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(summary, indent=2))
    low, high = summary["fully_green_ci95"]
    print(
        f"{green}/{len(runs)} runs fully green (Wilson 95% [{low:.2f}, {high:.2f}]); "
        f"failed scenarios: {summary['failed_scenarios'] or 'none'} -> {RESULTS}"
    )
    return 0 if green == len(runs) else 1


if __name__ == "__main__":
    sys.exit(main())
