"""The operator API by role: a reader sees everything and changes nothing, an operator acts, and every
action names its actor in the ledger and in a lifecycle event."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

import wiring
from core.kernel import authz
from core.kernel.authz import EMULATOR_SECRET_HEADER, PRINCIPAL_HEADER, Principal
from core.kernel.settings import Settings
from core.rollout.facts import ApprovalAnswered, ApprovalAsked
from tests.triggers.test_operator_api import ROLLOUT, RUN, action, add_run, call, retrain
from triggers import operator_api as api

SECRET = "console-secret"


@pytest.fixture(autouse=True)
def emulated(fakes) -> Iterator[None]:
    with wiring.override(settings=Settings(mode="local", console_principal_secret=SECRET)):
        yield


def as_user(user: str, *roles: str, secret: str = SECRET) -> dict[str, str]:
    principal = authz.encode_principal(Principal("aad", f"id-{user}", user, frozenset(roles)))
    return {PRINCIPAL_HEADER: principal, EMULATOR_SECRET_HEADER: secret}


def running(fakes, client) -> None:
    add_run(fakes)
    asyncio.run(client.start_new("lifecycle", RUN))
    asyncio.run(client.start_new("rollout", ROLLOUT))


def test_a_reader_sees_the_lifecycle_but_every_write_is_a_403_that_changes_nothing(fakes, client):
    running(fakes, client)
    reader = as_user("rita", "reader")
    assert call(api.operator_lifecycle, client, route={"id": RUN}, headers=reader)[0] == 200
    assert call(api.operator_models, headers=reader)[1]["models"] == ["churn", "fraud"]
    for name in ("approve", "reject", "abort", "rollback"):
        status, body = call(
            api.operator_lifecycle_action, client, method="POST", route={"id": RUN, "action": name},
            headers=reader,
        )  # fmt: skip
        assert status == 403 and "aad:rita may not" in body["error"]
    assert retrain(client, headers=reader)[0] == 403
    assert client.raised == [] and fakes.ledger.entries(RUN, "decision") == []
    assert fakes.ledger.pending_requests("churn") == [] and fakes.events.published == []


def test_an_operators_approval_is_delivered_and_attributed_in_the_ledger_and_an_event(fakes, client):
    running(fakes, client)
    status, _ = call(
        api.operator_lifecycle_action, client, method="POST", route={"id": RUN, "action": "approve"},
        body={"reason": "looks good"}, headers=as_user("otto", "operator"),
    )  # fmt: skip
    assert status == 202
    assert client.instances[ROLLOUT].events[0][1]["actor"] == "aad:otto"
    [decision] = fakes.ledger.entries(RUN, "decision")
    assert decision.data["actor"] == "aad:otto" and decision.data["via"] == "principal"
    [event] = fakes.events.published
    assert event.type == "mllifecycle.operator_action"
    assert event.data == {
        "action": "approve",
        "reason": "looks good",
        "actor": "aad:otto",
        "via": "principal",
        "roles": ["operator", "reader"],
        "user_id": "id-otto",
    }
    assert event.data["actor"] == "aad:otto" and event.run_id == RUN and event.model == "churn"


def test_an_operators_retrain_request_records_who_asked(fakes, client):
    assert retrain(client, body={"reason": "new data"}, headers=as_user("otto", "operator"))[0] == 202
    [request] = fakes.ledger.pending_requests("churn")
    assert request.details["actor"] == "aad:otto" and request.details["reason"] == "new data"


def test_a_forged_principal_without_the_console_secret_does_not_count(fakes, client):
    """Locally a key holder could send any principal header; only the console server's counts."""
    running(fakes, client)
    forged = as_user("rita", "reader", secret="guessed")
    assert action(client, RUN, "abort")[0] == 202  # the key caller, unchanged
    status = call(
        api.operator_lifecycle_action, client, method="POST", route={"id": RUN, "action": "abort"},
        headers=forged,
    )[0]  # fmt: skip
    assert status == 202
    assert {e.data["actor"] for e in fakes.ledger.entries(RUN, "decision")} == {"function-key"}


def test_a_malformed_principal_from_the_console_is_a_401(fakes, client):
    headers = {PRINCIPAL_HEADER: "not base64 json", EMULATOR_SECRET_HEADER: SECRET}
    assert call(api.operator_models, headers=headers)[0] == 401


def test_a_lifecycle_waiting_for_approval_shows_its_deadline(fakes, client, policies):
    add_run(
        fakes, status="registered"
    )  # a run in rollout is `registered` until it is promoted or rolled back
    asked = ApprovalAsked(reason="the policy asks before 100%")
    fakes.ledger.append(RUN, asked.ledger_kind, asked.dump())
    status, body = call(api.operator_lifecycle, client, route={"id": RUN}, headers=as_user("r", "reader"))
    approval = body["approval"]
    since, deadline = (datetime.fromisoformat(approval[k]) for k in ("since", "deadline"))
    assert status == 200 and deadline - since == timedelta(seconds=approval["timeout_seconds"])
    assert since <= datetime.now(UTC) and approval["reason"] == "the policy asks before 100%"
    answered = ApprovalAnswered(answer="approve")
    fakes.ledger.append(RUN, answered.ledger_kind, answered.dump())
    assert call(api.operator_lifecycle, client, route={"id": RUN})[1]["approval"] is None
