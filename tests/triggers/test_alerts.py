"""POST /api/alerts: fired alerts of a mapped rule request a retrain; the rest is recorded."""

from __future__ import annotations

import asyncio
import json

import azure.functions as func

from core.intake.events import MAX_PAYLOAD_BYTES
from tests.triggers.durable_fakes import user_function
from tests.unit.core.test_events_in import alert
from triggers.alerts import alerts_webhook

post_fn = user_function(alerts_webhook)


def post(client, body: bytes | dict) -> func.HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = func.HttpRequest(
        "POST", "http://localhost/api/alerts", body=raw, headers={"content-type": "application/json"}
    )
    return asyncio.run(post_fn(req=req, client=client))


def test_a_fired_alert_of_a_policy_rule_requests_a_retrain(fakes, client):
    response = post(client, alert(rule="churn-feature-drift"))
    assert response.status_code == 202
    body = json.loads(response.get_body())
    assert body["status"] == "accepted" and body["model"] == "churn"
    assert [r.source for r in fakes.ledger.pending_requests("churn")] == ["alert"]
    assert client.started("coordinator") == ["coordinator-churn"]


def test_a_model_custom_property_maps_any_rule(fakes, client):
    response = post(client, alert(rule="whatever", custom={"model": "fraud"}))
    assert response.status_code == 202
    assert len(fakes.ledger.pending_requests("fraud")) == 1


def test_the_same_alert_delivered_twice_is_one_request(fakes, client):
    assert post(client, alert(rule="churn-feature-drift")).status_code == 202
    again = post(client, alert(rule="churn-feature-drift"))
    assert again.status_code == 200 and json.loads(again.get_body())["status"] == "duplicate"
    assert len(fakes.ledger.pending_requests("churn")) == 1


def test_a_resolved_alert_is_recorded_and_starts_nothing(fakes, client):
    response = post(client, alert("Resolved", rule="churn-feature-drift"))
    assert response.status_code == 200
    assert json.loads(response.get_body())["status"] == "recorded"
    assert fakes.ledger.requests == {} and client.starts == []
    assert [e.data["ignored"] for e in fakes.ledger.entries("coordinator-churn", "event")] == [
        "alert resolved"
    ]


def test_an_unmapped_alert_is_answered_with_the_reason(fakes, client):
    response = post(client, alert(rule="disk-full"))
    assert response.status_code == 200
    assert "disk-full" in json.loads(response.get_body())["reason"]
    assert client.starts == []


def test_a_malformed_alert_is_a_400_with_what_is_wrong(fakes, client):
    response = post(client, b'{"schemaId": "azureMonitorCommonAlertSchema", "data": {}}')
    assert response.status_code == 400
    assert "essentials" in json.loads(response.get_body())["error"]
    assert fakes.ledger.requests == {} and client.starts == []


def test_a_body_over_256_kb_is_a_413(fakes, client):
    response = post(client, b"{" + b" " * MAX_PAYLOAD_BYTES + b"}")
    assert response.status_code == 413
    assert client.starts == []
