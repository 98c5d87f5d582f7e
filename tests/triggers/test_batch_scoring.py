"""Scoring runs start from the edges: a blob under a policy's batch.scoring_prefix starts one
`batch_score` run per write (redeliveries find the same run, and never retrain), the batch
schedule starts one run per occurrence, and the operator API shows the batch endpoint and runs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

import wiring
from core.batch.facts import BatchArm, BatchScored, BatchScoringStarted
from core.batch.payloads import batch_index_id, batch_request_scope, batch_run_id
from core.batch.routing import scoring_due
from core.kernel.policy import BatchAbPolicy, BatchPolicy, Policy
from tests.triggers.durable_fakes import Runtime
from tests.triggers.test_blob_events import deliver
from tests.triggers.test_operator_api import call
from tests.unit.core.test_events_in import as_cloud_event, blob_event
from triggers import batch_api
from triggers.edge import get_edge
from triggers.openapi import document

BATCH = BatchPolicy(
    endpoint="churn-batch",
    scoring_prefix="churn-scoring/",
    schedule="0 0 4 * * *",
    ab=BatchAbPolicy(key="customer_id", percent=20),
)


@pytest.fixture
def batch_policies(policies: dict[str, Policy], fakes) -> Iterator[dict[str, Policy]]:
    found = {**policies, "churn": policies["churn"].model_copy(update={"batch": BATCH})}
    with wiring.override(policies=found):
        yield found


def test_a_blob_under_the_scoring_prefix_starts_a_scoring_run_not_a_retrain(batch_policies, fakes, client):
    deliver(client, blob_event("churn-scoring/2026-05-01.csv"))
    [run_id] = client.started("batch_score")
    assert run_id.startswith("batch-churn-")
    started = client.instances[run_id].input
    assert started["blobs"] == [
        {"container": "raw", "path": "churn-scoring/2026-05-01.csv", "etag": "0x8DC1"}
    ]
    assert fakes.ledger.pending_requests("churn") == []  # no retrain asked
    assert client.started("coordinator") == []
    [request] = fakes.ledger.pending_requests(batch_request_scope("churn"))
    assert request.source == "blob" and request.details["path"] == "churn-scoring/2026-05-01.csv"


def test_redeliveries_and_the_other_schema_find_the_run_they_started(batch_policies, fakes, client):
    deliver(client, blob_event("churn-scoring/a.csv", event_id="a"))
    client.instances[client.started("batch_score")[0]].runtime = Runtime.Completed  # it ran already
    deliver(client, blob_event("churn-scoring/a.csv", event_id="a"))
    deliver(client, as_cloud_event(blob_event("churn-scoring/a.csv", event_id="b")))
    assert len(client.started("batch_score")) == 1  # scored once, never again


def test_a_new_write_of_the_same_blob_is_scored_again(batch_policies, fakes, client):
    deliver(client, blob_event("churn-scoring/a.csv", event_id="a", etag="0x1"))
    deliver(client, blob_event("churn-scoring/a.csv", event_id="b", etag="0x2"))
    assert len(set(client.started("batch_score"))) == 2


def test_training_blobs_still_retrain(batch_policies, fakes, client):
    deliver(client, blob_event("churn/2026-05-01.csv"))
    assert client.started("coordinator") == ["coordinator-churn"] and client.started("batch_score") == []


def test_the_batch_schedule_starts_one_run_per_occurrence(batch_policies, fakes, client):
    now = datetime(2026, 5, 5, 4, 1, tzinfo=UTC)
    assert scoring_due(batch_policies.values(), now) == [("churn", datetime(2026, 5, 5, 4, 0, tzinfo=UTC))]
    for minute in (0, 1, 2):
        asyncio.run(get_edge().request_scoring_due(client, datetime(2026, 5, 5, 4, minute, 5, tzinfo=UTC)))
    [run_id] = client.started("batch_score")
    assert client.instances[run_id].input["source"] == "schedule"
    assert client.instances[run_id].input["blobs"] == []  # the whole scoring prefix


# --------------------------------------------------------------------------- operator API


def _scored_run(fakes, run_id: str, status: str = "scored") -> None:
    started = BatchScoringStarted(
        run_id=run_id,
        model="churn",
        source="blob",
        request_id="r",
        endpoint="churn-batch",
        default="churn-v2",
    )
    arm = BatchArm(
        arm="a", deployment="churn-v2", model_version="2", job=f"{run_id}-a", state="completed", rows=40
    )
    ended = BatchScored(
        run_id=run_id, model="churn", status=status, rows_in=40, rows_scored=40, arms=[arm], predictions="p/"
    )
    for where in (run_id, batch_index_id("churn")):
        fakes.ledger.append(where, started.ledger_kind, started.dump())
    for where in (run_id, batch_index_id("churn")):
        fakes.ledger.append(where, ended.ledger_kind, ended.dump())


def test_the_model_batch_view_shows_default_deployments_and_recent_runs(batch_policies, fakes, client):
    fakes.batch_endpoints.add("churn-batch", "churn-v1", "1", age=0)
    fakes.batch_endpoints.add("churn-batch", "churn-v2", "2", default=True, age=1)
    run_id = batch_run_id("churn", "k1")
    _scored_run(fakes, run_id)
    status, body = call(batch_api.operator_model_batch, route={"model": "churn"})
    assert status == 200, body
    assert body["default"] == "churn-v2" and set(body["deployments"]) == {"churn-v1", "churn-v2"}
    assert body["deployments"]["churn-v2"]["version"] == "2"
    assert body["ab"] == {"key": "customer_id", "percent": 20, "salt": "ab"}
    assert [r["id"] for r in body["recent_runs"]] == [run_id]
    assert body["recent_runs"][0]["status"] == "scored" and body["recent_runs"][0]["model_versions"] == ["2"]


def test_a_model_without_a_batch_section_has_no_batch_view(batch_policies, fakes, client):
    status, body = call(batch_api.operator_model_batch, route={"model": "fraud"})
    assert status == 404 and "no batch section" in body["error"]


def test_batch_runs_are_listed_and_one_is_shown_with_its_facts(batch_policies, fakes, client):
    first, second = batch_run_id("churn", "k1"), batch_run_id("churn", "k2")
    _scored_run(fakes, first)
    _scored_run(fakes, second, "rejected")
    status, body = call(batch_api.operator_batch_runs, params={"model": "churn"})
    assert status == 200 and [r["id"] for r in body["runs"]] == [second, first]
    assert body["runs"][0]["status"] == "rejected"
    status, body = call(batch_api.operator_batch_run, client, route={"id": first})
    assert status == 200, body
    assert [f["kind"] for f in body["facts"]] == ["batch_scoring_started", "batch_scored"]
    assert body["summary"]["rows_scored"] == 40 and body["orchestration"] is None


def test_ids_that_are_not_scoring_runs_are_refused(batch_policies, fakes, client):
    for bad in ("../x", "batch-churn-xyz", "batch-nope-0123456789abcdef", "churn-20260101120000-a1b2c3"):
        status, body = call(batch_api.operator_batch_run, client, route={"id": bad})
        assert status == 404 and "not a scoring run id" in body["error"], bad
    status, body = call(batch_api.operator_batch_run, client, route={"id": batch_run_id("churn", "never")})
    assert status == 404 and "unknown scoring run" in body["error"]
    status, body = call(batch_api.operator_batch_runs, params={"limit": "0"})
    assert status == 400


def test_the_openapi_document_describes_the_batch_routes():
    doc = document()
    assert doc["paths"]["/api/models/{model}/batch"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"] == {"$ref": "#/components/schemas/BatchEndpoint"}
    assert {"/api/batch-runs", "/api/batch-runs/{id}"} <= set(doc["paths"])
    summary = doc["components"]["schemas"]["BatchRunSummary"]
    assert summary["properties"]["status"]["enum"] == ["running", "scored", "rejected", "failed"]
