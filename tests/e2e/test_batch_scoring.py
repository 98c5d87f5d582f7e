"""Batch scoring: the demo policy's scoring prefix is scored, never trained on.

End to end on the real local stack (Azurite, endpoint server, devhost running this app, MLflow
registry, subprocess batch jobs) the first champion is trained, promoted and put on the batch endpoint
as its smoke-tested default, and a CSV uploaded under the scoring prefix is scored by it, the
predictions carrying its version and the scoring run's id: the demo's own `batch-scoring` scenario
checks it, played on the stack tests/e2e/test_ml_gates_demo.py already runs the first model on
(`test_an_upload_under_the_scoring_prefix_is_scored_by_the_champion`), so one stack and one first
champion serve both."""

from __future__ import annotations

from core.batch.routing import route_scoring
from core.intake.events import route_blob
from core.kernel.policy import load_policies
from devstack import demo


def test_the_demo_policy_scores_its_scoring_prefix_and_never_trains_on_it():
    policies = list(load_policies(demo.POLICY_DIR).values())
    assert route_scoring(policies, "raw", "churn-scoring/demo-01.csv") == "churn"
    assert route_blob(policies, "raw", "churn-scoring/demo-01.csv") is None
    assert route_scoring(policies, "raw", "churn/demo/01-first.csv") is None
