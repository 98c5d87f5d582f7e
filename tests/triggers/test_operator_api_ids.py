"""The operator API's lifecycle routes take only lifecycle ids, and a durable status it cannot read
is a 503, never a guess that the lifecycle exists (issue 11)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from core.intake.payloads import coordinator_id, lifecycle_id, lifecycle_model
from core.kernel.ports import RunRecord
from tests.triggers.durable_fakes import FakeDurableClient
from tests.triggers.test_operator_api import ROLLOUT, RUN, action, call
from triggers import operator_api as api

NOT_LIFECYCLES = [
    "..",
    ".",
    "coordinator-churn",  # the model's coordinator, not a lifecycle
    "%23x",
    "#x",
    "churn",
    "churn-1",
    "churn-20260101120000-a1b2c",  # 5 hex digits
    "churn-20260101120000-A1B2C3",  # the coordinator's uuids are lower-case
    "churn-2026010112000-a1b2c3",  # 13 digits
    "churn-20260101120000-a1b2c3-rollout-rollout",
    "churn-20260101120000-a1b2c3/../coordinator-churn",
    "churn-٢٠٢٦٠١٠١١٢٠٠٠٠-a1b2c3",  # Arabic-Indic digits are digits to \d, not to us
    "nope-20260101120000-a1b2c3",  # no policy names `nope`
    "",
]


class RecordingClient(FakeDurableClient):
    """The fake durable client, also recording the ids whose status was asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    async def get_status(self, instance_id: str) -> Any:
        self.asked.append(instance_id)
        return await super().get_status(instance_id)


class StatusDown(FakeDurableClient):
    """A durable client whose status calls fail (the host's durable API is down or answers 5xx)."""

    def __init__(self, failing: set[str] | None = None) -> None:
        super().__init__()
        self.failing = failing

    async def get_status(self, instance_id: str) -> Any:
        if self.failing is None or instance_id in self.failing:
            raise Exception("The operation failed with an unexpected status code 503")
        return await super().get_status(instance_id)


def add_run(fakes, run_id: str = RUN) -> None:
    fakes.ledger.put_run(
        RunRecord(run_id=run_id, model="churn", status="running", stage="ramp", created_at=datetime.now(UTC))
    )


def test_the_coordinators_ids_are_lifecycle_ids_of_their_model():
    made = lifecycle_id("churn-v2", datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC), "a1b2c3d4-0000-5000-8000-0")
    assert made == "churn-v2-20260101120000-a1b2c3"
    assert lifecycle_model(made, ["churn", "churn-v2"]) == "churn-v2"
    assert lifecycle_model(f"{made}-rollout", ["churn-v2"]) == "churn-v2"
    assert lifecycle_model(made, ["churn"]) is None  # `churn-v2-…` is not a lifecycle of `churn`


@pytest.mark.parametrize("run_id", NOT_LIFECYCLES)
def test_an_id_that_is_not_a_lifecycle_of_a_known_model_is_a_404_before_any_lookup(fakes, run_id):
    client = RecordingClient()
    asyncio.run(client.start_new("coordinator", coordinator_id("churn")))  # exists, but is no lifecycle
    fakes.ledger.append(coordinator_id("churn"), "request", {"held": []})
    status, body = call(api.operator_lifecycle, client, route={"id": run_id})
    assert status == 404 and "is not a lifecycle id" in body["error"]
    for name in ("abort", "approve"):
        status, body = action(client, run_id, name, {"reason": "x"})
        assert status == 404 and "is not a lifecycle id" in body["error"]
    assert client.asked == [] and client.raised == []
    assert fakes.ledger.entries(coordinator_id("churn"), "decision") == []


def test_a_lifecycle_and_its_rollout_are_shown_by_their_ids(fakes):
    client = RecordingClient()
    asyncio.run(client.start_new("rollout", ROLLOUT))
    add_run(fakes)
    assert call(api.operator_lifecycle, client, route={"id": RUN})[0] == 200
    status, body = call(api.operator_lifecycle, client, route={"id": ROLLOUT})
    assert status == 200 and body["orchestration"]["runtime_status"] == "Running"
    assert client.asked == [RUN, ROLLOUT]


def test_a_failed_status_call_is_a_503_with_the_reason_not_a_found_lifecycle(fakes):
    status, body = call(api.operator_lifecycle, StatusDown(), route={"id": RUN})
    assert status == 503 and "unexpected status code 503" in body["error"] and RUN in body["error"]


def test_a_lifecycle_in_the_ledger_is_shown_when_only_its_durable_status_is_down(fakes):
    add_run(fakes)
    status, body = call(api.operator_lifecycle, StatusDown(), route={"id": RUN})
    assert status == 200 and body["stage"] == "ramp"
    assert "unexpected status code 503" in body["orchestration"]["unavailable"]


def test_steering_when_the_status_call_fails_is_a_503_and_raises_nothing(fakes):
    client = StatusDown()
    asyncio.run(client.start_new("lifecycle", RUN))
    add_run(fakes)
    status, body = action(client, RUN, "abort", {"reason": "x"})
    assert status == 503 and "unexpected status code 503" in body["error"]
    assert client.raised == [] and fakes.ledger.entries(RUN, "decision") == []


def test_an_approval_is_not_half_delivered_when_the_rollouts_status_fails(fakes):
    client = StatusDown(failing={ROLLOUT})
    asyncio.run(client.start_new("lifecycle", RUN))
    asyncio.run(client.start_new("rollout", ROLLOUT))
    add_run(fakes)
    status, body = action(client, RUN, "approve", {"reason": "looks fine"})
    assert status == 503 and ROLLOUT in body["error"]
    assert client.raised == [] and fakes.ledger.entries(RUN, "decision") == []
