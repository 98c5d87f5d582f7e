"""The ledger is the outbox: a request recorded by a trigger that died before waking the
coordinator is claimed anyway, because the sweep (at host start and each minute) wakes or starts
the coordinator of every model with pending requests, and only those that need it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from core.intake.payloads import RETRAIN_REQUESTED, coordinator_id
from core.run.status import CoordinatorStatus
from tests.orchestrators.test_coordinator import lifecycles, phase, run, until  # noqa: F401 (run: fixture)
from tests.triggers.durable_fakes import FakeDurableClient, FakeInstance, Runtime
from triggers import outbox
from triggers.intake import new_request

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def recorded_but_not_woken(fakes, model: str = "churn", n: int = 1) -> None:
    """What a trigger leaves behind when the host dies between its two steps."""
    fakes.ledger.add_request(new_request(model, "operator", f"operator:{model}-k{n}", {"n": n}))


def sweep(client) -> dict[str, str]:
    return asyncio.run(outbox.sweep(client, NOW))


def coordinator(client: FakeDurableClient, phase: str, runtime: Runtime = Runtime.Running, **kw: Any) -> None:
    status = CoordinatorStatus(model="churn", generation=3, phase=phase, **kw).dump()
    client.instances[coordinator_id("churn")] = FakeInstance(
        "coordinator", {"model": "churn"}, runtime=runtime, custom_status=status
    )


def test_a_models_first_request_stranded_by_a_crash_gets_its_coordinator_started(fakes, client):
    recorded_but_not_woken(fakes)
    assert sweep(client) == {"churn": "started"}
    assert client.started("coordinator") == ["coordinator-churn"]  # fraud has nothing pending


def test_a_sweep_with_nothing_pending_touches_no_coordinator(fakes, client):
    assert sweep(client) == {}
    assert client.starts == [] and client.raised == []


def test_an_idle_coordinator_whose_wake_up_was_lost_is_woken(fakes, client):
    coordinator(client, "idle", until=(NOW + timedelta(minutes=14)).isoformat())
    recorded_but_not_woken(fakes)
    assert sweep(client) == {"churn": "signalled"}
    assert client.raised == [("coordinator-churn", RETRAIN_REQUESTED, {"model": "churn"})]
    assert client.starts == []


def test_a_coordinator_that_will_claim_anyway_is_left_alone(fakes, client):
    recorded_but_not_woken(fakes)
    for phase_now in ("claiming", "debouncing", "running"):
        coordinator(client, phase_now)
        assert sweep(client) == {"churn": f"busy ({phase_now})"}
    assert client.starts == [] and client.raised == []


def test_a_coordinator_held_by_the_budget_is_left_alone_until_its_time_has_passed(fakes, client):
    recorded_but_not_woken(fakes)
    later = (NOW + timedelta(hours=3)).isoformat()
    coordinator(client, "held", until=later)
    assert sweep(client) == {"churn": f"busy (held until {later})"}
    assert client.raised == []
    coordinator(client, "held", until=(NOW - timedelta(minutes=2)).isoformat())  # its timer is overdue
    assert sweep(client) == {"churn": "signalled"}


def test_a_finished_coordinator_is_started_again(fakes, client):
    recorded_but_not_woken(fakes)
    coordinator(client, "idle", runtime=Runtime.Failed)
    assert sweep(client) == {"churn": "started"}
    assert client.instances["coordinator-churn"].runtime is Runtime.Running


class Flaky(FakeDurableClient):
    """Status reads fail for every instance; waking fraud's coordinator fails too."""

    async def get_status(self, instance_id: str) -> Any:
        raise Exception("The operation failed with an unexpected status code 503")

    async def start_new(self, name: str, instance_id: str | None = None, client_input: Any = None) -> str:
        if instance_id == coordinator_id("fraud"):
            raise Exception("The operation failed with an unexpected status code 503")
        return await super().start_new(name, instance_id, client_input)


def test_an_unreadable_status_wakes_anyway_and_one_models_failure_spares_the_others(fakes):
    client = Flaky()
    recorded_but_not_woken(fakes, "fraud")
    recorded_but_not_woken(fakes, "churn")
    done = sweep(client)
    assert done["churn"] == "started" and done["fraud"].startswith("failed (")
    assert client.started("coordinator") == ["coordinator-churn"]


def test_the_sweep_runs_every_minute_not_at_each_instance_start():
    """run_on_startup fired on every scale-out instance's start; the minute tick covers a restart."""
    trigger = outbox.outbox_sweep._function.get_trigger()
    assert trigger.run_on_startup is False
    assert trigger.schedule == outbox.SWEEP and len(trigger.schedule.split()) == 6


def test_repeated_sweeps_against_the_real_coordinator_run_stranded_requests_once(run):  # noqa: F811
    """devhost's engine runs the real coordinator; sweeps keep coming while it claims and runs."""

    async def scenario(engine, client, fakes):
        for n in range(3):
            recorded_but_not_woken(fakes, n=n)
        for _ in range(5):
            await outbox.sweep(client, datetime.now(UTC))
            await asyncio.sleep(0.1)
        runs = await until(lambda: lifecycles(engine))
        for _ in range(5):  # the run is going: the sweep has nothing to do
            assert await outbox.sweep(client, datetime.now(UTC)) == {}
        [lifecycle] = runs
        consumed = fakes.ledger.requests_for_run(lifecycle["instance_id"])
        assert len(consumed) == 3 and fakes.ledger.pending_requests("churn") == []
        engine.raise_event_json(lifecycle["instance_id"], "finish", '"ok"')
        await until(lambda: _is_idle(engine))
        assert await outbox.sweep(client, datetime.now(UTC)) == {}
        assert len(await lifecycles(engine)) == 1

    run(scenario, debounce=0)


async def _is_idle(engine) -> bool:
    return await phase(engine) == "idle"
