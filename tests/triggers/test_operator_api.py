"""The operator API: retrain requests, model and lifecycle views, steering a running lifecycle."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import azure.functions as func

from core.kernel.fact import SplitView
from core.kernel.ports import RunRecord
from core.rollout.facts import TrafficChanged
from core.run.facts import RunFailed, StepEntered
from tests.triggers.durable_fakes import Runtime, user_function
from triggers import operator_api as api
from triggers.openapi import document

RUN = "churn-20260101120000-a1b2c3"  # an id as the coordinator makes it
ROLLOUT = f"{RUN}-rollout"


def call(
    builder,
    client=None,
    *,
    method="GET",
    url="http://localhost/api/x",
    route=None,
    params=None,
    body: bytes | dict | None = None,
    headers=None,
) -> tuple[int, dict]:
    raw = json.dumps(body).encode() if isinstance(body, dict) else (body or b"")
    req = func.HttpRequest(
        method, url, body=raw, headers=headers or {}, params=params or {}, route_params=route or {}
    )
    fn = user_function(builder)
    kwargs = {"req": req} if client is None else {"req": req, "client": client}
    result = fn(**kwargs)
    response = asyncio.run(result) if asyncio.iscoroutine(result) else result
    return response.status_code, json.loads(response.get_body() or b"null")


def retrain(client, model="churn", **kw):
    return call(
        api.operator_retrain,
        client,
        method="POST",
        url=f"http://localhost/api/models/{model}/retrain",
        route={"model": model},
        **kw,
    )


def test_an_operator_retrain_is_accepted_with_status_urls_and_wakes_the_coordinator(fakes, client):
    status, body = retrain(client, body={"reason": "new features", "requested_by": "ana"})
    assert status == 202
    assert body["links"]["lifecycles"] == "http://localhost/api/lifecycles?model=churn"
    [request] = fakes.ledger.pending_requests("churn")
    assert request.source == "operator" and request.details["reason"] == "new features"
    assert client.started("coordinator") == ["coordinator-churn"]


def test_the_same_idempotency_key_records_one_request(fakes, client):
    assert retrain(client, headers={"Idempotency-Key": "k1"})[0] == 202
    status, body = retrain(client, headers={"Idempotency-Key": "k1"})
    assert (status, body["status"]) == (200, "duplicate")
    assert retrain(client)[0] == 202 and retrain(client)[0] == 202  # no key: each is new
    assert len(fakes.ledger.pending_requests("churn")) == 3


def test_an_unknown_model_is_a_404_and_records_nothing(fakes, client):
    status, body = retrain(client, model="nope")
    assert status == 404 and "known: churn, fraud" in body["error"]
    assert fakes.ledger.requests == {} and client.starts == []


def test_a_bad_body_is_a_400_that_names_the_field_and_records_nothing(fakes, client):
    status, body = retrain(client, body={"reason": 3})
    assert status == 400 and "reason" in body["error"]
    status, body = retrain(client, body={"colour": "red"})
    assert status == 400 and "colour" in body["error"]
    status, body = retrain(client, body=b"[1, 2")
    assert status == 400 and "not valid JSON" in body["error"]
    status, _ = retrain(client, body=b"x" * (256 * 1024 + 1))
    assert status == 413
    assert fakes.ledger.requests == {} and client.starts == []


def test_the_model_view_shows_champion_lineage_traffic_and_pending_requests(fakes, client):
    registered = fakes.registry.register(
        "churn", "runs:/abc/model", {"lifecycle_id": "churn-1", "data_version": "dv1"}
    )
    fakes.registry.set_champion("churn", registered.version)
    retrain(client)
    status, body = call(api.operator_model, client, route={"model": "churn"})
    assert status == 200
    assert body["champion"]["version"] == registered.version
    assert body["champion"]["lineage"]["data_version"] == "dv1"
    assert len(body["pending_requests"]) == 1
    assert body["coordinator"]["runtime_status"] == "Running"


def test_the_model_view_survives_an_unavailable_endpoint(fakes, client, policies):
    policy = policies["churn"]
    rollout = policy.rollout.model_copy(update={"endpoint": "churn-endpoint"})
    policies["churn"] = policy.model_copy(update={"rollout": rollout})

    def down(name):
        raise ConnectionError("endpoint server not reachable")

    fakes.endpoints.get = down
    status, body = call(api.operator_model, client, route={"model": "churn"})
    assert status == 200 and "not reachable" in body["endpoint"]["unavailable"]


def add_run(fakes, run_id=RUN, status="running", model="churn"):
    fakes.ledger.put_run(
        RunRecord(run_id=run_id, model=model, status=status, stage="ramp", created_at=datetime.now(UTC))
    )


def test_lifecycles_are_listed_by_model_and_status(fakes):
    add_run(fakes, "churn-1", "promoted")
    add_run(fakes, "churn-2", "running")
    add_run(fakes, "fraud-1", "running", model="fraud")
    status, body = call(api.operator_lifecycles, params={"model": "churn", "status": "running"})
    assert status == 200 and [r["id"] for r in body["lifecycles"]] == ["churn-2"]
    assert call(api.operator_lifecycles, params={"status": "sideways"})[0] == 400
    assert call(api.operator_lifecycles, params={"limit": "0"})[0] == 400
    assert call(api.operator_lifecycles, params={"model": "nope"})[0] == 404


def test_a_lifecycle_shows_steps_gates_traffic_and_the_requests_it_consumed(fakes, client):
    add_run(fakes)
    fakes.ledger.append(RUN, "step", {"step": 10, "started_at": "t0"})
    fakes.ledger.append(RUN, "gate", {"verdict": "pass", "n": 412, "statistic": 0.3, "threshold": 2.9})
    fakes.ledger.append(RUN, "traffic", {"traffic": {"blue": 90, "green": 10}})
    retrain(client)
    [req] = fakes.ledger.pending_requests("churn")
    fakes.ledger.consume_requests("churn", [req.request_id], RUN)
    status, body = call(api.operator_lifecycle, client, route={"id": RUN})
    assert status == 200
    assert body["stage"] == "ramp" and body["gates"][0]["n"] == 412
    assert body["traffic"][0]["traffic"] == {"blue": 90, "green": 10}
    assert [r["request_id"] for r in body["requests"]] == [req.request_id]
    assert call(api.operator_lifecycle, client, route={"id": "missing"})[0] == 404


def test_a_lifecycles_facts_are_shown_with_their_kind_and_numbers(fakes, client):
    add_run(fakes)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for fact in (
        StepEntered(stage="ramp", phase=1, split=SplitView(traffic={"blue": 90, "green": 10})),
        TrafficChanged(reason="advance to 10% live", traffic={"blue": 90, "green": 10}, at=at),
        RunFailed(stage="ramp", error="RuntimeError: x"),
    ):
        fakes.ledger.append(RUN, fact.ledger_kind, fact.dump())
    status, body = call(api.operator_lifecycle, client, route={"id": RUN})
    assert status == 200
    [step] = body["steps"]
    assert step["kind"] == "step_entered" and step["split"]["traffic"] == {"blue": 90, "green": 10}
    assert body["traffic"][0]["at"] == "2026-01-01T00:00:00Z"  # the change's own time
    assert body["errors"][0]["error"] == "RuntimeError: x"


def action(client, run_id, name, body=None):
    return call(
        api.operator_lifecycle_action, client, method="POST", route={"id": run_id, "action": name}, body=body
    )


def test_approve_is_delivered_to_the_running_lifecycle_and_its_rollout(fakes, client):
    add_run(fakes)
    asyncio.run(client.start_new("lifecycle", RUN))
    asyncio.run(client.start_new("rollout", ROLLOUT))
    status, body = action(client, RUN, "approve", {"by": "ana", "reason": "dashboards look fine"})
    assert status == 202 and body["delivered_to"] == [RUN, ROLLOUT]
    assert client.instances[ROLLOUT].events == [
        (
            "approve",
            {"action": "approve", "reason": "dashboards look fine", "by": "ana", "actor": "function-key"},
        )
    ]
    assert fakes.ledger.entries(RUN, "decision")[0].data["operator"] == "approve"


def test_steering_a_finished_lifecycle_is_a_409_and_an_unknown_one_a_404(fakes, client):
    add_run(fakes, status="promoted")
    asyncio.run(client.start_new("lifecycle", RUN))
    client.instances[RUN].runtime = Runtime.Completed
    assert action(client, RUN, "abort")[0] == 409
    assert action(client, "nope", "abort")[0] == 404
    assert action(client, RUN, "explode")[0] == 404
    assert client.raised == []


def test_the_openapi_document_describes_every_operator_route():
    paths = document()["paths"]
    for path in (
        "/api/models/{model}/retrain",
        "/api/models/{model}",
        "/api/lifecycles",
        "/api/lifecycles/{id}",
        "/api/lifecycles/{id}/approve",
        "/api/lifecycles/{id}/rollback",
        "/api/alerts",
    ):
        assert path in paths
    status, body = call(api.openapi_document, url="http://h:7071/api/openapi.json")
    assert status == 200 and body["servers"] == [{"url": "http://h:7071"}]
