"""Benchmark of devhost's durable engine, driven in-process (`python -m bench.devhost`).

Figures: activity round-trip overhead (median, p99: from the episode that schedules a no-op
activity to the episode that receives its result), 1,000 sequential activities and a fan-out of
1,000 (wall time), episodes per second, and the time to resume 100 in-flight instances after a
crash. Targets from issue 2: < 5 ms median overhead, sequential < 15 s, fan-out < 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import azure.durable_functions as df

from devhost.durable import replay as R
from devhost.durable.engine import DurableEngine

RESULTS = Path(__file__).resolve().parent / "results" / "devhost.json"

app = df.DFApp()
_gate: dict[str, asyncio.Event | None] = {"gate": None}


@app.activity_trigger(input_name="x")
def noop(x: Any) -> Any:
    return x


@app.activity_trigger(input_name="x")
async def held(x: Any) -> Any:
    gate = _gate["gate"]
    if gate is not None:
        await gate.wait()
    return x


@app.orchestration_trigger(context_name="context")
def sequential(context: df.DurableOrchestrationContext):
    n = context.get_input()
    for i in range(n):
        yield context.call_activity("noop", i)
    return n


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    n = context.get_input()
    results = yield context.task_all([context.call_activity("noop", i) for i in range(n)])
    return len(results)


@app.orchestration_trigger(context_name="context")
def in_flight(context: df.DurableOrchestrationContext):
    yield context.call_activity("noop", 1)
    yield context.call_activity("held", 2)
    return "resumed"


FUNCTIONS = app.get_functions()


def _round_trips(history: list[dict[str, Any]]) -> list[float]:
    """Seconds from each TaskScheduled to the start of the episode that consumed its TaskCompleted."""
    scheduled: dict[int, float] = {}
    episode_start = 0.0
    out: list[float] = []
    for ev in history:
        t = R.parse_time(ev["Timestamp"]).timestamp()
        if ev["EventType"] == R.ORCHESTRATOR_STARTED:
            episode_start = t
        elif ev["EventType"] == R.TASK_SCHEDULED:
            scheduled[ev["EventId"]] = t
        elif ev["EventType"] == R.TASK_COMPLETED and ev["TaskScheduledId"] in scheduled:
            out.append(episode_start - scheduled[ev["TaskScheduledId"]])
    return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _engine(db: Path, extended_sessions: bool = True) -> DurableEngine:
    engine = DurableEngine(
        db_path=db, functions=FUNCTIONS, activity_concurrency=16, extended_sessions=extended_sessions
    )
    await engine.start("http://127.0.0.1:7071")
    return engine


async def bench_overhead(workdir: Path, orchestrations: int, steps: int) -> dict[str, float]:
    engine = await _engine(workdir / "overhead.db")
    try:
        samples: list[float] = []
        for i in range(orchestrations):
            iid = await engine.start_new("sequential", f"overhead-{i}", steps)
            await engine.wait_for(iid, 60)
            samples += _round_trips(engine._require_store().load_history(iid))
        return {
            "activity_overhead_median_ms": statistics.median(samples) * 1000,
            "activity_overhead_p99_ms": _percentile(samples, 0.99) * 1000,
            "activity_overhead_samples": len(samples),
        }
    finally:
        await engine.stop()


async def bench_orchestration(
    workdir: Path, name: str, n: int, extended_sessions: bool = True
) -> dict[str, float]:
    engine = await _engine(workdir / f"{name}-{extended_sessions}.db", extended_sessions)
    name_in_figures = f"{name}_full_replay" if not extended_sessions else name
    try:
        started = time.perf_counter()
        iid = await engine.start_new(name, f"{name}-{n}", n)
        status = await engine.wait_for(iid, 600)
        wall = time.perf_counter() - started
        assert status["runtimeStatus"] == "Completed", status
        key = f"{name_in_figures}_{n}"
        return {
            f"{key}_seconds": wall,
            f"{key}_episodes": engine.stats["episodes"],
            f"{key}_episodes_per_second": engine.stats["episodes"] / wall,
            f"{key}_replayed_events_per_second": engine.stats["replayed_events"] / wall,
        }
    finally:
        await engine.stop()


async def bench_resume(workdir: Path, instances: int) -> dict[str, float]:
    db = workdir / "resume.db"
    _gate["gate"] = asyncio.Event()  # never opened: every instance is stuck in its second activity
    engine = await _engine(db)
    ids = [await engine.start_new("in_flight", f"resume-{i}") for i in range(instances)]
    deadline = time.monotonic() + 60
    while (
        engine._require_store().db.execute("SELECT COUNT(*) FROM work WHERE name = 'held'").fetchone()[0]
        < instances
    ):
        if time.monotonic() > deadline:
            raise TimeoutError("instances did not reach their held activity")
        await asyncio.sleep(0.02)
    engine._abandon()  # a crash: nothing more is written
    _gate["gate"] = None
    started = time.perf_counter()
    engine = await _engine(db)
    loaded = time.perf_counter() - started
    try:
        for iid in ids:
            status = await engine.wait_for(iid, 120)
            assert status["runtimeStatus"] == "Completed", status
        return {
            f"resume_{instances}_load_seconds": loaded,
            f"resume_{instances}_all_completed_seconds": time.perf_counter() - started,
        }
    finally:
        await engine.stop()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-devhost-") as tmp:
        workdir = Path(tmp)
        figures.update(await bench_overhead(workdir, args.overhead_orchestrations, args.overhead_steps))
        figures.update(await bench_orchestration(workdir, "sequential", args.n))
        figures.update(await bench_orchestration(workdir, "fan_out", args.n))
        figures.update(await bench_resume(workdir, args.resume))
        # Without extended sessions every episode replays the whole history (O(n^2) for a chain).
        figures.update(
            await bench_orchestration(workdir, "sequential", args.full_replay_n, extended_sessions=False)
        )
    return figures


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="activities in the sequential and fan-out runs")
    parser.add_argument("--resume", type=int, default=100, help="in-flight instances to resume")
    parser.add_argument(
        "--full-replay-n", type=int, default=300, help="chain length replayed in full each episode"
    )
    parser.add_argument("--overhead-orchestrations", type=int, default=20)
    parser.add_argument("--overhead-steps", type=int, default=10)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    figures = asyncio.run(main(args))
    targets = {
        "activity_overhead_median_ms": 5.0,
        f"sequential_{args.n}_seconds": 15.0,
        f"fan_out_{args.n}_seconds": 5.0,
    }
    for key, value in figures.items():
        target = targets.get(key)
        mark = "" if target is None else f"   (target < {target:g}: {'ok' if value < target else 'MISSED'})"
        print(f"{key:45s} {value:12.3f}{mark}" if isinstance(value, float) else f"{key:45s} {value:12}{mark}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"figures": figures, "targets": targets, "args": vars(args)}, indent=2) + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    run()
