"""A host that dies mid-flight resumes every instance from SQLite, without re-running finished activities."""

from __future__ import annotations

import asyncio
from pathlib import Path

from devhost.durable.engine import DurableEngine
from tests.unit.durable.sample_app import FUNCTIONS, calls, knobs
from tests.unit.durable.test_engine import wait_until


def test_a_crashed_engine_is_resumed_by_a_new_one_on_the_same_store(tmp_path: Path) -> None:
    knobs.clear()
    calls.clear()
    ledger = tmp_path / "ledger.txt"
    knobs.update(ledger=str(ledger), block_step="three")
    db = tmp_path / "hub.db"

    async def before_crash() -> None:
        knobs["gate"] = asyncio.Event()  # never opened: step three hangs until the "crash"
        engine = DurableEngine(db_path=db, functions=FUNCTIONS)
        await engine.start("http://127.0.0.1:7071")
        await engine.start_new("gated_chain", "crashy")
        await engine.start_new("timer_then_activity", "sleeper")
        await engine.start_new("waits_forever", "waiter")
        await wait_until(lambda: calls["gated:three"] == 1)
        await wait_until(lambda: engine._live["sleeper"].history)
        engine._abandon()  # like SIGKILL: nothing more is written, uncommitted writes are lost

    async def after_restart() -> tuple[dict, dict, dict]:
        knobs["gate"] = None
        engine = DurableEngine(db_path=db, functions=FUNCTIONS)
        await engine.start("http://127.0.0.1:7071")
        try:
            chain = await engine.wait_for("crashy", 10)
            sleeper = await engine.wait_for("sleeper", 10)
            await engine.raise_event("waiter", "never", "now it happens")
            waiter = await engine.wait_for("waiter", 10)
            return chain, sleeper, waiter
        finally:
            await engine.stop()

    asyncio.run(before_crash())
    chain, sleeper, waiter = asyncio.run(after_restart())

    assert chain["runtimeStatus"] == "Completed"
    assert chain["output"] == ["one", "two", "three", "four"]
    runs = ledger.read_text().split()
    assert runs.count("gated:one") == 1
    assert runs.count("gated:two") == 1
    assert runs.count("gated:three") == 2  # it was running at the crash: at-least-once
    assert runs.count("gated:four") == 1
    assert sleeper["runtimeStatus"] == "Completed" and sleeper["output"]["greeting"] == "Hello timer"
    assert waiter["runtimeStatus"] == "Completed" and waiter["output"] == "now it happens"


def test_stopping_cleanly_and_restarting_resumes_waiting_instances(tmp_path: Path) -> None:
    knobs.clear()
    calls.clear()
    db = tmp_path / "hub.db"

    async def first() -> None:
        engine = DurableEngine(db_path=db, functions=FUNCTIONS)
        await engine.start("http://127.0.0.1:7071")
        await engine.start_new("approval", "approve-me", input=30)
        await wait_until(lambda: engine._live["approve-me"].history)
        await engine.stop()

    async def second() -> dict:
        engine = DurableEngine(db_path=db, functions=FUNCTIONS)
        await engine.start("http://127.0.0.1:7071")
        try:
            await engine.raise_event("approve-me", "Approval", True)
            return await engine.wait_for("approve-me", 5)
        finally:
            await engine.stop()

    asyncio.run(first())
    assert asyncio.run(second())["output"] == {"approved": True}


def test_code_that_schedules_something_else_after_a_restart_fails_as_non_deterministic(
    tmp_path: Path,
) -> None:
    knobs.clear()
    calls.clear()
    db = tmp_path / "hub.db"

    async def first() -> None:
        knobs["variant"] = "a"
        engine = DurableEngine(db_path=db, functions=FUNCTIONS)
        await engine.start("http://127.0.0.1:7071")
        await engine.start_new("changes_its_mind", "drifting")
        await wait_until(lambda: calls["hello"] == 1 and not engine._live["drifting"].busy)
        await engine.stop()

    async def second() -> dict:
        knobs["variant"] = "b"  # "deployed" new orchestrator code between the two host runs
        engine = DurableEngine(db_path=db, functions=FUNCTIONS)
        await engine.start("http://127.0.0.1:7071")
        try:
            await engine.raise_event("drifting", "continue")
            return await engine.wait_for("drifting", 5)
        finally:
            await engine.stop()

    asyncio.run(first())
    status = asyncio.run(second())
    assert status["runtimeStatus"] == "Failed"
    assert "Non-Deterministic workflow detected" in status["output"]
