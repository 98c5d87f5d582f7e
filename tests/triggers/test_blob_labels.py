"""on_blob_created: a file under a policy's labels prefix is ground truth for the online accuracy
gate; it is recorded as a labels arrival and never starts a retrain, even inside the data prefix."""

from __future__ import annotations

import pytest

from core.kernel.policy import OnlineAccuracyGate, Policy
from tests.triggers.conftest import make_policy
from tests.triggers.test_blob_events import deliver
from tests.unit.core.test_events_in import blob_event


def with_labels(policy: Policy, prefix: str) -> Policy:
    gates = policy.rollout.gates.model_copy(
        update={
            "entity_id_column": "customer_id",
            "online_accuracy": OnlineAccuracyGate(labels_prefix=prefix),
        }
    )
    return policy.model_copy(update={"rollout": policy.rollout.model_copy(update={"gates": gates})})


@pytest.fixture
def policies() -> dict[str, Policy]:
    return {
        # labels inside the data prefix: the labels route must win
        "churn": with_labels(make_policy("churn", "churn/"), "churn/labels/"),
        "fraud": make_policy("fraud", "fraud/"),
    }


def test_a_label_file_is_recorded_as_labels_arrived_and_starts_no_retrain(fakes, client):
    deliver(client, blob_event("churn/labels/2024-05-01T12.csv", event_id="lab-1"))
    assert fakes.ledger.pending_requests("churn") == []
    assert client.started("coordinator") == []
    [entry] = fakes.ledger.entries("coordinator-churn", "event")
    assert entry.data["kind"] == "labels_arrived"
    assert entry.data["path"] == "churn/labels/2024-05-01T12.csv" and entry.data["event_id"] == "lab-1"


def test_data_beside_the_labels_prefix_still_retrains(fakes, client):
    deliver(client, blob_event("churn/2024-05-01.csv"))
    assert len(fakes.ledger.pending_requests("churn")) == 1


def test_a_label_file_from_another_account_is_refused(fakes, client):
    deliver(client, blob_event("churn/labels/x.csv", base="https://evil.blob.core.windows.net"))
    [entry] = fakes.ledger.entries("coordinator-churn", "event")
    assert entry.data["kind"] == "event_ignored" and "outside" in entry.data["ignored"]
