"""The durable engine runs orchestrations the way the Durable extension does, driven in-process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from devhost.durable.clock import TimeSkippingClock
from devhost.durable.engine import DurableEngine, InstanceExistsError, OrchestratorNotFoundError
from tests.unit.durable.sample_app import FUNCTIONS, calls, knobs

Scenario = Callable[[DurableEngine], Awaitable[Any]]


@pytest.fixture(params=[True, False], ids=["extended-sessions", "full-replay-each-episode"])
def run(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[..., Any]:
    knobs.clear()
    calls.clear()

    def _run(scenario: Scenario, db: Path | None = None, **options: Any) -> Any:
        async def main() -> Any:
            engine = DurableEngine(
                db_path=db or tmp_path / "hub.db",
                functions=FUNCTIONS,
                activity_concurrency=8,
                **{"extended_sessions": request.param, "clock": TimeSkippingClock(), **options},
            )
            await engine.start("http://127.0.0.1:7071")
            try:
                return await scenario(engine)
            finally:
                await engine.stop()

        return asyncio.run(main())

    return _run


async def start_and_wait(engine: DurableEngine, name: str, input: Any = None, timeout: float = 10) -> dict:
    instance_id = await engine.start_new(name, input=input)
    return await engine.wait_for(instance_id, timeout)


async def wait_until(predicate: Callable[[], Any], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.01)


def test_a_chain_of_activities_completes_with_their_results_and_custom_status(run):
    status = run(lambda e: start_and_wait(e, "chain"))
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == ["Hello Tokyo", "Hello Seattle", "Hello London"]
    assert status["customStatus"] == {"step": 3}
    assert calls["hello"] == 3


def test_fan_out_fan_in_runs_every_activity_once_and_sums_them(run):
    status = run(lambda e: start_and_wait(e, "fan_out", 50))
    assert status["output"] == sum(2 * i for i in range(50))
    assert calls["double"] == 50


def test_an_activity_exception_fails_the_orchestration_with_its_message(run):
    async def scenario(e: DurableEngine) -> tuple[dict, dict]:
        failed = await start_and_wait(e, "fails_in_activity")
        caught = await start_and_wait(e, "catches_activity_failure")
        return failed, caught

    failed, caught = run(scenario)
    assert failed["runtimeStatus"] == "Failed"
    assert "Activity function 'boom' failed: ValueError: cannot process x-42" in failed["output"]
    assert failed["output"].startswith("Orchestrator function 'fails_in_activity' failed")
    assert caught["runtimeStatus"] == "Completed"
    assert caught["output"].startswith(
        "caught: Activity function 'boom' failed: ValueError: cannot process y"
    )


def test_an_orchestrator_exception_fails_the_orchestration(run):
    status = run(lambda e: start_and_wait(e, "fails_itself"))
    assert status["runtimeStatus"] == "Failed"
    assert "KeyError" in status["output"] and "missing-setting" in status["output"]


def test_a_failed_activity_is_retried_on_the_sdk_timer_numbering_then_succeeds(run):
    knobs["flaky_failures"] = 2

    async def scenario(e: DurableEngine) -> dict:
        iid = await e.start_new("retrying")
        await e.wait_for(iid, 10)
        return await e.get_status(iid, show_history=True)

    status = run(scenario)
    assert status["runtimeStatus"] == "Completed", status["output"]
    assert status["output"] == ["Hello before", "job ok after 3", "Hello after"]
    assert calls["flaky"] == 3
    kinds = [ev["EventType"] for ev in status["historyEvents"]]
    assert kinds.count("TaskFailed") == 2
    assert kinds.count("TimerFired") == 2


def test_retries_give_up_after_max_attempts(run):
    knobs["flaky_failures"] = 99
    status = run(lambda e: start_and_wait(e, "retrying"))
    assert status["runtimeStatus"] == "Failed"
    assert "transient failure 3" in status["output"]
    assert calls["flaky"] == 3


def test_a_durable_timer_delays_the_orchestration_by_its_duration(run):
    status = run(lambda e: start_and_wait(e, "timer_then_activity"))
    assert status["runtimeStatus"] == "Completed"
    assert status["output"]["slept"] >= 1.0
    assert status["output"]["greeting"] == "Hello timer"


def test_a_day_long_timer_takes_no_wall_time_on_a_time_skipping_clock(run):
    async def scenario(e: DurableEngine) -> tuple[dict, float]:
        started = time.monotonic()
        status = await start_and_wait(e, "approval", 86_400, timeout=5)
        return status, time.monotonic() - started

    status, wall = run(scenario)
    assert status["output"] == {"approved": None, "timed_out": True}
    assert wall < 3


def test_retry_timers_follow_the_clock_and_the_orchestrator_sees_the_skipped_time(run):
    knobs["flaky_failures"] = 2
    status = run(lambda e: start_and_wait(e, "long_retries", timeout=5))
    assert status["runtimeStatus"] == "Completed", status
    assert calls["flaky"] == 3
    assert status["output"]["waited"] >= 1200  # two ten-minute retry intervals, in skipped time


def test_without_a_waiter_the_time_skipping_clock_keeps_real_time(run):
    async def scenario(e: DurableEngine) -> str:
        iid = await e.start_new("approval", input=60)
        await asyncio.sleep(0.3)  # nobody waits for a result: the 60 s timeout must not be skipped
        status = await e.get_status(iid)
        assert status is not None
        return status["runtimeStatus"]

    assert run(scenario) == "Running"


def test_an_external_event_wins_the_race_against_its_timeout(run):
    async def scenario(e: DurableEngine) -> dict:
        iid = await e.start_new("approval", input=30)
        await asyncio.sleep(0.2)
        await e.raise_event(iid, "Approval", {"by": "alice"})
        return await e.wait_for(iid, 5)

    status = run(scenario)
    assert status["output"] == {"approved": {"by": "alice"}}


def test_waiting_for_an_event_times_out_through_task_any(run):
    status = run(lambda e: start_and_wait(e, "approval", 1))
    assert status["output"] == {"approved": None, "timed_out": True}


def test_an_event_raised_before_it_is_awaited_is_buffered(run):
    async def scenario(e: DurableEngine) -> dict:
        iid = await e.start_new("late_waiter")
        await e.raise_event(iid, "Go", "early bird")
        return await e.wait_for(iid, 5)

    status = run(scenario)
    assert status["output"] == "early bird"


def test_sub_orchestrations_return_results_and_surface_failures(run):
    async def scenario(e: DurableEngine) -> tuple[dict, dict | None]:
        status = await start_and_wait(e, "parent")
        fixed = await e.get_status(f"{status['instanceId']}-fixed")
        return status, fixed

    status, fixed = run(scenario)
    assert status["runtimeStatus"] == "Completed"
    a, b, failure = status["output"]
    assert (a, b) == (10, 14)
    assert "negative input" in failure
    assert fixed is not None and fixed["runtimeStatus"] == "Completed" and fixed["output"] == 14


def test_a_sub_orchestration_with_retry_is_retried_then_given_up(run):
    async def scenario(e: DurableEngine) -> tuple[dict, list]:
        status = await start_and_wait(e, "parent_with_retry")
        children, _ = await e.list_instances(prefix=f"{status['instanceId']}:")
        return status, children

    status, children = run(scenario)
    assert status["output"] == "gave up"
    assert len(children) == 2
    assert all(c["runtimeStatus"] == "Failed" for c in children)


def test_continue_as_new_restarts_with_new_input_and_keeps_unprocessed_events(run):
    knobs["counter_goal"] = 6

    async def scenario(e: DurableEngine) -> dict:
        iid = await e.start_new("counter")
        for amount in (1, 2, 3):  # raised back to back: some arrive while a generation is finishing
            await e.raise_event(iid, "add", amount)
        return await e.wait_for(iid, 10)

    status = run(scenario)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"total": 6, "generation": 3}


def test_terminate_stops_a_waiting_instance_with_the_reason_as_output(run):
    async def scenario(e: DurableEngine) -> tuple[dict, str]:
        iid = await e.start_new("waits_forever")
        await wait_until(lambda: e._live[iid].history)
        assert await e.terminate(iid, "operator abort") == "accepted"
        status = await e.wait_for(iid, 5)
        again = await e.terminate(iid, "twice")
        return status, again

    status, again = run(scenario)
    assert status["runtimeStatus"] == "Terminated"
    assert status["output"] == "operator abort"
    assert again == "gone"


def test_a_suspended_instance_holds_its_events_until_resumed(run):
    async def scenario(e: DurableEngine) -> tuple[str, dict]:
        iid = await e.start_new("approval", input=30)
        await wait_until(lambda: e._live[iid].history)
        await e.suspend(iid, "maintenance")
        await e.raise_event(iid, "Approval", "yes")
        await asyncio.sleep(0.3)
        during = (await e.get_status(iid))["runtimeStatus"]
        await e.resume(iid, "done")
        return during, await e.wait_for(iid, 5)

    during, status = run(scenario)
    assert during == "Suspended"
    assert status["output"] == {"approved": "yes"}


def test_purge_deletes_finished_instances_only(run):
    async def scenario(e: DurableEngine) -> tuple[int, int, Any, int]:
        done = await start_and_wait(e, "chain")
        waiting = await e.start_new("waits_forever")
        purged_done = await e.purge(done["instanceId"])
        purged_running = await e.purge(waiting)
        return purged_done, purged_running, await e.get_status(done["instanceId"]), await e.purge_by()

    purged_done, purged_running, after, by_filter = run(scenario)
    assert (purged_done, purged_running, after, by_filter) == (1, 0, None, 0)


def test_with_full_replays_every_episode_a_changed_action_fails_the_instance(run):
    async def scenario(e: DurableEngine) -> dict:
        knobs["variant"] = "a"
        iid = await e.start_new("changes_its_mind")
        await wait_until(lambda: calls["hello"] == 1 and not e._live[iid].busy and not e._live[iid].pending)
        knobs["variant"] = "b"  # the "code" changed while the instance was waiting
        await e.raise_event(iid, "continue")
        return await e.wait_for(iid, 5)

    status = run(scenario, extended_sessions=False)
    assert status["runtimeStatus"] == "Failed"
    assert "Non-Deterministic workflow detected" in status["output"]
    assert "'hello'" in status["output"] and "'double'" in status["output"]


def test_starting_a_running_instance_id_is_refused_but_a_finished_one_restarts(run):
    async def scenario(e: DurableEngine) -> tuple[dict, dict]:
        await e.start_new("waits_forever", "singleton")
        with pytest.raises(InstanceExistsError):
            await e.start_new("waits_forever", "singleton")
        await e.terminate("singleton", "replace")
        await e.wait_for("singleton", 5)
        await e.start_new("chain", "singleton")
        second = await e.wait_for("singleton", 5)
        with pytest.raises(OrchestratorNotFoundError):
            await e.start_new("no_such_orchestrator")
        return second, await e.get_status("singleton", show_history=True)

    second, status = run(scenario)
    assert second["runtimeStatus"] == "Completed" and second["name"] == "chain"
    # the restarted id starts from a fresh history, not the terminated one's
    assert [ev["EventType"] for ev in status["historyEvents"]].count("ExecutionStarted") == 1


def test_listing_filters_and_pages_with_a_continuation_token(run):
    async def scenario(e: DurableEngine) -> tuple[list, list, list]:
        for i in range(5):
            await start_and_wait(e, "chain", None)
            await e.start_new("waits_forever", f"wait-{i}")
        running, _ = await e.list_instances(statuses=["Running", "Pending"], prefix="wait-")
        pages, token = [], None
        while True:
            page, token = await e.list_instances(top=4, continuation=token)
            pages.append(len(page))
            if not token:
                break
        completed, _ = await e.list_instances(statuses=["Completed"])
        return running, pages, completed

    running, pages, completed = run(scenario)
    assert len(running) == 5
    assert pages == [4, 4, 2]
    assert len(completed) == 5


def test_rewind_reruns_the_failed_activity_of_a_failed_instance(run):
    knobs["flaky_failures"] = 3  # all three attempts fail; the fourth call (after rewind) succeeds

    async def scenario(e: DurableEngine) -> tuple[dict, str, dict]:
        failed = await start_and_wait(e, "retrying")
        outcome = await e.rewind(failed["instanceId"], "fixed the downstream service")
        return failed, outcome, await e.wait_for(failed["instanceId"], 10)

    failed, outcome, rewound = run(scenario)
    assert failed["runtimeStatus"] == "Failed"
    assert outcome == "accepted"
    assert rewound["runtimeStatus"] == "Completed", rewound["output"]
    assert rewound["output"][1] == "job ok after 4"
