"""A deploy-only environment plans a deploy only from the expected `promoted` event."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from core.environments.release import plan_deploy, released_registry_data
from core.kernel.policy import DeployOnlyPolicy, parse_any_policy
from core.kernel.ports import ModelVersion


@pytest.fixture
def policy() -> DeployOnlyPolicy:
    parsed = parse_any_policy(
        textwrap.dedent(
            """
            model: churn
            source: {registry: shared-ml, accept_sources: [/mllifecycle/envs/dev/models/churn]}
            rollout: {enabled: true, endpoint: churn-prod}
            """
        ),
        Path("prod/churn/policy.yaml"),
    )
    assert isinstance(parsed, DeployOnlyPolicy)
    return parsed


def _event(**changes: Any) -> dict[str, Any]:
    dev = ModelVersion("churn", "7", "models:/churn/7", {"lifecycle_id": "lc-7", "data_version": "dv-1"})
    shared = ModelVersion(
        "churn", "3", "models:/churn/3", {**dev.tags, "source_version": "7", "champion": "true"}
    )
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": "evt-1",
        "type": "mllifecycle.promoted",
        "source": "/mllifecycle/envs/dev/models/churn",
        "subject": "lifecycles/lc-7",
        "time": "2025-03-04T05:06:07.123Z",
        "data": {"model": "churn", "run_id": "lc-7", **released_registry_data("shared-ml", shared, dev)},
    }
    event.update(changes)
    return event


def test_a_promoted_event_from_dev_plans_a_deploy_of_the_exact_registry_version(policy):
    plan = plan_deploy(_event(), policy)
    assert plan.verdict == "deploy"
    assert (plan.registry, plan.registry_model, plan.registry_version) == ("shared-ml", "churn", "3")
    # shaped like every lifecycle id, so the operator API and the console take it as one
    assert re.fullmatch(r"churn-20250304050607-[0-9a-f]{6}", plan.instance_id)
    assert plan.lineage == {"lifecycle_id": "lc-7", "data_version": "dv-1", "source_version": "7"}
    assert plan.event_id == "evt-1"


def test_a_redelivered_event_plans_the_same_orchestration(policy):
    assert plan_deploy(_event(id="evt-2"), policy).instance_id == plan_deploy(_event(), policy).instance_id


def test_another_version_plans_another_orchestration(policy):
    other = _event()
    other["data"] = {**other["data"], "registry_version": "4"}
    assert plan_deploy(other, policy).instance_id != plan_deploy(_event(), policy).instance_id


def test_an_event_without_a_time_is_refused(policy):
    event = _event()
    del event["time"]
    assert any("no valid `time`" in r for r in plan_deploy(event, policy).reasons)


def test_an_event_from_an_unexpected_source_is_refused(policy):
    plan = plan_deploy(_event(source="/mllifecycle/models/churn"), policy)
    assert plan.verdict == "refuse"
    assert "source '/mllifecycle/models/churn' is not one of the accepted sources" in plan.reasons[0]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"type": "mllifecycle.rolled_back"}, "event type 'mllifecycle.rolled_back' is not"),
        (
            {"data": {"registry": "other-reg", "registry_model": "churn", "registry_version": "3"}},
            "registry 'other-reg'",
        ),
        (
            {"data": {"registry": "shared-ml", "registry_model": "fraud", "registry_version": "3"}},
            "registry model 'fraud'",
        ),
        ({"data": {"registry": "shared-ml", "registry_model": "churn"}}, "names no registry_version"),
        ({"data": {"model": "churn", "version": "7"}}, "dev promoted without sharing"),
        ({"data": "not json"}, "no JSON object data"),
    ],
)
def test_events_for_another_registry_model_or_without_a_version_are_refused(policy, change, why):
    plan = plan_deploy(_event(**change), policy)
    assert plan.verdict == "refuse"
    assert any(why in r for r in plan.reasons), plan.reasons
    assert plan.instance_id == ""


def test_attribute_names_are_read_case_insensitively(policy):
    event = {k.upper() if k in ("type", "source") else k: v for k, v in _event().items()}
    assert plan_deploy(event, policy).verdict == "deploy"


def test_the_demo_policies_are_a_dev_that_shares_and_a_prod_that_accepts_its_events():
    from core.environments.release import event_source
    from core.kernel.policy import load_policy_set

    found = load_policy_set(Path(__file__).resolve().parents[3] / "samples" / "churn" / "demo")
    dev, prod = found.lifecycle["churn"], found.deploy_only["churn-prod"]
    assert dev.promotion is not None and dev.promotion.registry == prod.source.registry
    assert prod.registry_model == "churn" and dev.rollout.endpoint != prod.rollout.endpoint
    assert event_source("churn", "dev") in prod.accepted_sources
    assert event_source("churn-prod", "dev") not in prod.accepted_sources  # prod's own events
