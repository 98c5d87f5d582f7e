"""A fact is recorded once per event, also when the activity that records it runs again: activities
run at least once, and a host killed after the ledger write but before the activity's result was
saved runs it again (issue 20, item 10: "approval asked" was written twice for one run)."""

from __future__ import annotations

from typing import Any

from core.kernel.policy import ApprovalPolicy
from core.rollout.facts import ApprovalAsked
from core.run.runs import append_fact_once
from tests.fakes import FakeRunLedger
from tests.orchestrators.test_rollout import World, run_rollout, world  # noqa: F401  (fixture)


def lose_the_first_result_of(ledger: FakeRunLedger, kind: str) -> list[str]:
    """Make the first append of a `kind` fact write, then fail as a killed host would: the activity's
    result is lost, so Durable runs it again (the retry policy stands in for the restart)."""
    lost: list[str] = []
    append = ledger.append

    def killed_after_writing(run_id: str, ledger_kind: str, data: dict[str, Any]) -> Any:
        entry = append(run_id, ledger_kind, data)
        if data.get("kind") == kind and not lost:
            lost.append(str(data.get("fact_id")))
            raise RuntimeError("host killed after the ledger write, before the activity's result was saved")
        return entry

    ledger.append = killed_after_writing  # type: ignore[method-assign]
    return lost


def test_approval_asked_is_recorded_once_when_its_activity_runs_again(world: World, tmp_path):  # noqa: F811
    world.rollout(approval=ApprovalPolicy(before_step=50, timeout_seconds=60))
    world.live_champion({"blue": 100})
    lost = lose_the_first_result_of(world.fakes.ledger, "approval_asked")
    status = run_rollout(tmp_path, world, events=[(4.0, "approve")])
    assert status["output"]["status"] == "promoted", status
    asked = [e.data for e in world.fakes.ledger.entries("run-1") if e.data.get("kind") == "approval_asked"]
    assert lost and len(asked) == 1
    assert asked[0]["fact_id"] == lost[0] == "run-1-rollout:" + asked[0]["fact_id"].rsplit(":", 1)[1]


def test_a_recording_is_appended_once_and_a_fact_without_an_id_every_time():
    ledger = FakeRunLedger()
    fact = ApprovalAsked(reason="before 50%", fact_id="run-1-rollout:7")
    assert append_fact_once(ledger, "run-1", fact) is True
    assert append_fact_once(ledger, "run-1", fact) is False
    assert append_fact_once(ledger, "run-1", fact.model_copy(update={"fact_id": "run-1-rollout:8"})) is True
    assert append_fact_once(ledger, "run-1", ApprovalAsked(reason="no id")) is True
    assert append_fact_once(ledger, "run-1", ApprovalAsked(reason="no id")) is True  # not deduplicated
    assert len(ledger.entries("run-1")) == 4
