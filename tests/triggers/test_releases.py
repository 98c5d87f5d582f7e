"""Prod's edge for promotions: dev's `promoted` CloudEvent starts one deploy lifecycle of the
exact registry version, a redelivery starts nothing, a foreign event is recorded with reasons;
the operator API shows deploy-only models, their deploy lifecycles and the releases."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

import wiring
from core.environments.facts import DeployRequested, ModelShared
from core.environments.payloads import DeployRunInput
from core.kernel.policy import DeployOnlyPolicy, ReleasePolicy, StaticPolicies, parse_any_policy
from core.kernel.ports import RunRecord
from tests.fakes import FakeAdapters
from tests.triggers.conftest import make_policy
from tests.triggers.durable_fakes import FakeDurableClient, user_function
from tests.triggers.test_operator_api import call
from triggers import operator_api as api
from triggers import releases
from triggers.openapi import document

PROD = parse_any_policy(
    textwrap.dedent(
        """
        model: churn-prod
        source:
          registry: shared-ml
          registry_model: churn
          accept_sources: [/mllifecycle/envs/dev/models/churn]
        rollout: {enabled: true, endpoint: churn-prod-endpoint}
        """
    ),
    Path("/policies/churn-prod/policy.yaml"),
)
assert isinstance(PROD, DeployOnlyPolicy)


def promoted(**changes: Any) -> func.EventGridEvent:
    """What the worker hands the function for a CloudEvent (azure.functions decodes both schemas)."""
    from devhost.eventgrid import to_trigger_value

    doc: dict[str, Any] = {
        "specversion": "1.0",
        "id": "evt-1",
        "type": "mllifecycle.promoted",
        "source": "/mllifecycle/envs/dev/models/churn",
        "subject": "lifecycles/churn-20250101000000-aaaaaa",
        "time": "2025-03-04T05:06:07Z",
        "datacontenttype": "application/json",
        "data": {
            "model": "churn",
            "version": "7",
            "registry": "shared-ml",
            "registry_model": "churn",
            "registry_version": "3",
            "lineage": {"lifecycle_id": "churn-20250101000000-aaaaaa"},
        },
    }
    doc.update(changes)
    return to_trigger_value(doc)


@pytest.fixture
def prod() -> Iterator[FakeAdapters]:
    adapters = FakeAdapters()
    policies = StaticPolicies({}, deploy_only={"churn-prod": PROD})
    with wiring.override(policies=policies, **adapters.as_overrides()):
        yield adapters


def deliver(client: FakeDurableClient, event: func.EventGridEvent) -> None:
    asyncio.run(user_function(releases.on_model_promoted)(event=event, client=client))


def test_a_promoted_event_from_dev_starts_a_deploy_of_the_exact_registry_version(prod):
    client = FakeDurableClient()
    deliver(client, promoted())
    [(name, instance, payload)] = client.starts
    assert name == "deploy" and instance.startswith("churn-prod-20250304050607-")
    deploy = DeployRunInput.model_validate(payload)
    assert (deploy.registry, deploy.registry_model, deploy.registry_version) == ("shared-ml", "churn", "3")
    assert deploy.event_source == "/mllifecycle/envs/dev/models/churn" and deploy.event_id == "evt-1"


def test_a_redelivered_event_starts_nothing_and_is_recorded_as_a_duplicate(prod):
    client = FakeDurableClient()
    deliver(client, promoted())
    deliver(client, promoted(id="evt-1-again"))
    assert len(client.starts) == 1
    [ignored] = prod.ledger.entries("coordinator-churn-prod", "event")
    assert (
        ignored.data["ignored"].startswith("duplicate delivery") and ignored.data["event_id"] == "evt-1-again"
    )


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"source": "/mllifecycle/envs/prod/models/churn-prod"}, "is not one of the accepted sources"),
        ({"data": {"model": "churn", "version": "7"}}, "dev promoted without sharing"),
    ],
)
def test_an_event_no_deploy_only_policy_accepts_is_recorded_with_the_reasons(prod, change, why):
    client = FakeDurableClient()
    deliver(client, promoted(**change))
    assert client.starts == []
    [ignored] = prod.ledger.entries("unrouted", "event")
    assert ignored.data["ignored"] == "promoted event not accepted" and why in ignored.data["error"]


# --------------------------------------------------------------------------- operator API

RUN = "churn-prod-20250304050607-abc123"


def _deploy_run(ledger) -> None:
    ledger.put_run(
        RunRecord(
            run_id=RUN,
            model="churn-prod",
            status="promoted",
            stage="done",
            challenger_version="3",
            champion_version="3",
            lineage={"registry": {"name": "shared-ml", "model": "churn", "version": "3"}},
            created_at=datetime(2025, 3, 4, tzinfo=UTC),
        )
    )
    fact = DeployRequested(
        event_id="evt-1",
        event_source="/mllifecycle/envs/dev/models/churn",
        registry="shared-ml",
        registry_model="churn",
        registry_version="3",
    )
    ledger.append(RUN, fact.ledger_kind, fact.dump())


def test_a_deploy_lifecycle_shows_its_source_event_and_registry_version(prod):
    _deploy_run(prod.ledger)
    client = FakeDurableClient()
    status, body = call(api.operator_lifecycle, client, route={"id": RUN})
    assert status == 200, body
    [promotion] = body["promotions"]
    assert promotion["direction"] == "deployed" and promotion["registry_version"] == "3"
    assert promotion["event_source"] == "/mllifecycle/envs/dev/models/churn"
    assert body["lineage"]["registry"]["version"] == "3"


def test_a_deploy_only_model_is_listed_and_shows_its_registry(prod):
    _deploy_run(prod.ledger)
    status, body = call(api.operator_models)
    assert status == 200 and body["models"] == ["churn-prod"]
    status, body = call(api.operator_model, FakeDurableClient(), route={"model": "churn-prod"})
    assert status == 200, body
    assert body["kind"] == "deploy_only" and body["registry"] == "shared-ml"
    assert body["promotions"][0]["registry_version"] == "3"


def test_promotions_lists_what_dev_shared_newest_first(fakes, policies):
    policy = make_policy("churn", "churn/").model_copy(
        update={"promotion": ReleasePolicy(registry="shared-ml")}
    )
    with wiring.override(policies={**policies, "churn": policy}):
        for run, version, registry_version in (
            ("churn-20250101000000-aaaaaa", "1", "1"),
            ("churn-20250102000000-bbbbbb", "2", "2"),
        ):
            fakes.ledger.put_run(RunRecord(run_id=run, model="churn", status="promoted", stage="done"))
            fact = ModelShared(
                registry="shared-ml",
                version=version,
                registry_model="churn",
                registry_version=registry_version,
            )
            fakes.ledger.append(run, fact.ledger_kind, fact.dump())
        status, body = call(api.operator_promotions, params={"model": "churn"})
        assert status == 200, body
        assert [p["registry_version"] for p in body["promotions"]] == ["2", "1"]
        assert {p["direction"] for p in body["promotions"]} == {"shared"}
        status, body = call(api.operator_model, FakeDurableClient(), route={"model": "churn"})
        assert body["registry"] == "shared-ml" and body["promotions"][0]["version"] == "2"
        assert call(api.operator_promotions, params={"model": "nope"})[0] == 404
        assert call(api.operator_promotions, params={"limit": "0"})[0] == 400


def test_the_openapi_document_describes_promotions():
    doc = document()
    assert doc["paths"]["/api/promotions"]["get"]["responses"]["200"]
    assert "Promotion" in doc["components"]["schemas"] and "PromotionList" in doc["components"]["schemas"]
