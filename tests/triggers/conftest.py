"""Triggers under test: the decorated functions' own code with fake ports and a fake durable client."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import wiring
from core.kernel.policy import Policy, parse_policy
from tests.fakes import FakeAdapters, FakeDataLake
from tests.triggers.durable_fakes import FakeDurableClient
from triggers import intake

ACCOUNT_URL = "http://127.0.0.1:10000/devstoreaccount1"


def make_policy(
    model: str,
    prefix: str,
    *,
    rules: tuple[str, ...] = (),
    schedule: str | None = None,
    debounce: int = 60,
    budget: int = 4,
) -> Policy:
    text = textwrap.dedent(
        f"""
        model: {model}
        data: {{container: raw, prefix: "{prefix}", contract: contract.yaml}}
        training: {{job: jobs/train.yml, evaluation_job: jobs/evaluate.yml, experiment: {model}}}
        triggers:
          alert_rules: {list(rules)}
          debounce_seconds: {debounce}
        budget: {{max_trainings_per_day: {budget}}}
        """
    )
    policy = parse_policy(text, Path(f"/policies/{model}/policy.yaml"))
    if schedule:
        triggers = policy.triggers.model_copy(update={"schedule": schedule})
        policy = policy.model_copy(update={"triggers": triggers})
    return policy


@pytest.fixture
def policies() -> dict[str, Policy]:
    return {
        "churn": make_policy("churn", "churn/", rules=("churn-feature-drift",), schedule="0 0 3 * * *"),
        "fraud": make_policy("fraud", "fraud/"),
    }


@pytest.fixture
def fakes(policies) -> Iterator[FakeAdapters]:
    adapters = FakeAdapters(data_lake=FakeDataLake(ACCOUNT_URL))
    with wiring.override(policies=policies, **adapters.as_overrides()):
        yield adapters


@pytest.fixture
def client() -> Iterator[FakeDurableClient]:
    intake._claim_due_seen.clear()  # what this worker saw of coordinators belongs to one test
    yield FakeDurableClient()
    intake._claim_due_seen.clear()
