"""The per-model coordinator, run by devhost's durable engine in-process, fed by the real
triggers' intake, with fake ports and a stub `lifecycle` the test finishes when it chooses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

import wiring
from core.kernel.ports import RunRecord
from core.kernel.settings import Settings
from devhost.durable.engine import DurableEngine, InstanceExistsError
from tests.conftest import app_functions
from tests.fakes import FakeAdapters
from tests.triggers.conftest import make_policy
from triggers.edge import get_edge
from triggers.intake import new_request

stub = df.DFApp()
finish_runs: set[str] = set()  # run ids the test lets finish


@stub.orchestration_trigger(context_name="context")
def lifecycle(context: df.DurableOrchestrationContext):
    """Stands in for the real lifecycle: runs until the test raises `finish` (or fails it)."""
    got = yield context.wait_for_external_event("finish")
    if got == "fail":
        raise RuntimeError("training blew up")
    return {"run_id": context.instance_id, "requests": context.get_input()["request_ids"]}


COORDINATOR_FUNCTIONS = {
    "coordinator",
    "lifecycle_dry_run",
    "coordinator_claim",
    "coordinator_run_finished",
    "coordinator_record_dry_run",
}
FUNCTIONS = [f for f in app_functions() if f.get_function_name() in COORDINATOR_FUNCTIONS]
FUNCTIONS += stub.get_functions()


class EngineClient:
    """The durable client surface the triggers use, straight onto the in-process engine, with
    the SDK client's errors (it raises plain Exceptions with these texts)."""

    def __init__(self, engine: DurableEngine) -> None:
        self.engine = engine

    async def start_new(self, name: str, instance_id: str | None = None, client_input: Any = None) -> str:
        try:
            return await self.engine.start_new(name, instance_id, client_input)
        except InstanceExistsError as exc:
            raise Exception(f"An instance with ID '{instance_id}' already exists: {exc}") from exc

    async def raise_event(self, instance_id: str, event_name: str, event_data: Any = None) -> None:
        outcome = self.engine.raise_event_json(instance_id, event_name, json.dumps(event_data))
        if outcome == "missing":
            raise Exception(f"No instance with ID {instance_id} found.")
        if outcome == "gone":
            raise Exception(f"Instance with ID {instance_id} is gone: either completed or failed")

    async def get_status(self, instance_id: str) -> DurableOrchestrationStatus:
        found = await self.engine.get_status(instance_id)
        return DurableOrchestrationStatus.from_json(found) if found else DurableOrchestrationStatus()


Scenario = Callable[[DurableEngine, EngineClient, FakeAdapters], Awaitable[Any]]


@pytest.fixture
def run(tmp_path: Path) -> Callable[..., Any]:
    def _run(
        scenario: Scenario, *, debounce: int = 1, budget: int = 4, dry_run: bool = False
    ) -> FakeAdapters:
        fakes = FakeAdapters()
        policies = {"churn": make_policy("churn", "churn/", debounce=debounce, budget=budget)}
        settings = Settings(lifecycle_dry_run=dry_run, local_state_dir=tmp_path)

        async def main() -> None:
            engine = DurableEngine(db_path=tmp_path / "hub.db", functions=FUNCTIONS, activity_concurrency=4)
            await engine.start("http://127.0.0.1:7071")
            try:
                await scenario(engine, EngineClient(engine), fakes)
            finally:
                await engine.stop()

        with wiring.override(settings=settings, policies=policies, **fakes.as_overrides()):
            asyncio.run(main())
        return fakes

    return _run


async def ask(client: EngineClient, n: int, source: str = "blob") -> None:
    await get_edge().submit(client, new_request("churn", source, f"key-{n}", {"n": n}))


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.05)


async def lifecycles(engine: DurableEngine) -> list[dict]:
    rows = engine._require_store().query_instances()
    return [dict(r) for r in rows if r["name"] == "lifecycle"]


async def phase(engine: DurableEngine) -> str | None:
    status = await engine.get_status("coordinator-churn")
    return ((status or {}).get("customStatus") or {}).get("phase")


def test_a_burst_becomes_one_run_that_consumes_every_request(run):
    async def scenario(engine, client, fakes):
        for n in range(5):
            await ask(client, n)
        runs = await until(lambda: lifecycles(engine))
        assert len(runs) == 1
        run_id = runs[0]["instance_id"]
        assert {r.request_id for r in fakes.ledger.requests_for_run(run_id)} == {
            r.request_id for r in fakes.ledger.requests.values()
        }
        engine.raise_event_json(run_id, "finish", '"ok"')
        await until(lambda: _is(phase(engine), "idle"))
        assert len(await lifecycles(engine)) == 1

    fakes = run(scenario)
    assert fakes.ledger.pending_requests("churn") == []


async def _is(value: Awaitable[Any], expected: Any) -> bool:
    return (await value) == expected


def test_requests_during_a_run_become_exactly_one_follow_up_that_consumes_all_of_them(run):
    async def scenario(engine, client, fakes):
        await ask(client, 0)
        [first] = await until(lambda: lifecycles(engine))
        for n in range(1, 8):  # a burst while the first run is busy
            await ask(client, n)
        await asyncio.sleep(1.5)  # longer than the debounce window: still no second run
        assert len(await lifecycles(engine)) == 1
        engine.raise_event_json(first["instance_id"], "finish", '"ok"')
        runs = await until(lambda: _more_than(lifecycles(engine), 1))
        assert len(runs) == 2
        second = next(r for r in runs if r["instance_id"] != first["instance_id"])
        consumed = [r.request_id for r in fakes.ledger.requests_for_run(second["instance_id"])]
        assert len(consumed) == 7
        engine.raise_event_json(second["instance_id"], "finish", '"ok"')
        await until(lambda: _is(phase(engine), "idle"))
        assert len(await lifecycles(engine)) == 2

    fakes = run(scenario)
    assert fakes.ledger.pending_requests("churn") == []
    assert all(r.consumed_by for r in fakes.ledger.requests.values())


async def _more_than(value: Awaitable[list], n: int) -> list | None:
    items = await value
    return items if len(items) > n else None


def test_duplicate_deliveries_start_one_run(run):
    async def scenario(engine, client, fakes):
        for _ in range(4):
            await ask(client, 1)
        [only] = await until(lambda: lifecycles(engine))
        assert len(fakes.ledger.requests_for_run(only["instance_id"])) == 1
        engine.raise_event_json(only["instance_id"], "finish", '"ok"')
        await until(lambda: _is(phase(engine), "idle"))
        assert len(await lifecycles(engine)) == 1

    run(scenario)


def test_a_spent_budget_holds_requests_with_the_reason_and_starts_nothing(run):
    async def scenario(engine, client, fakes):
        await ask(client, 0)
        [first] = await until(lambda: lifecycles(engine))
        # the stub lifecycle records nothing: record it as a real run that trained would
        fakes.ledger.put_run(
            RunRecord(
                run_id=first["instance_id"],
                model="churn",
                status="kept",
                stage="done",
                job_name="j",
                created_at=datetime.now(UTC),
            )
        )
        engine.raise_event_json(first["instance_id"], "finish", '"ok"')
        await until(lambda: _is(phase(engine), "idle"))
        await ask(client, 1)
        await until(lambda: _is(phase(engine), "held"))
        assert len(await lifecycles(engine)) == 1
        [held] = [e for e in fakes.ledger.entries("coordinator-churn", "request") if "held" in e.data]
        assert "1 of 1 trainings used today" in held.data["held_reason"]
        assert [r.request_id for r in fakes.ledger.pending_requests("churn")] == held.data["held"]

    run(scenario, budget=1)


def test_a_failed_run_is_recorded_and_the_coordinator_keeps_coordinating(run):
    async def scenario(engine, client, fakes):
        await ask(client, 0)
        [first] = await until(lambda: lifecycles(engine))
        engine.raise_event_json(first["instance_id"], "finish", '"fail"')
        await until(lambda: _is(phase(engine), "idle"))
        [finished] = [e.data for e in fakes.ledger.entries("coordinator-churn", "decision")]
        assert finished["ok"] is False and "training blew up" in finished["error"]
        await ask(client, 1)
        assert len(await until(lambda: _more_than(lifecycles(engine), 1))) == 2

    run(scenario)


def test_a_dry_run_records_the_run_and_its_requests_without_training(run):
    async def scenario(engine, client, fakes):
        await ask(client, 0)
        await ask(client, 1, source="alert")
        runs = await until(lambda: asyncio.sleep(0, result=list(fakes.ledger.runs.values())))
        [record] = runs
        assert record.decision["dry_run"] is True and record.trigger["source"] == "mixed"
        await until(lambda: _is(phase(engine), "idle"))
        assert fakes.training_jobs.submissions == []

    run(scenario, dry_run=True)
