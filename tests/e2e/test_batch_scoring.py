"""Batch scoring end to end on the real local stack (Azurite, endpoint server, devhost running this
app, MLflow registry, subprocess batch jobs): the first champion is trained, promoted and put on
the batch endpoint as its smoke-tested default; a CSV uploaded under the scoring prefix is scored
by it, and the predictions carry its version and the scoring run's id. The demo's own
`batch-scoring` scenario is what checks it, so `make demo` and this test cannot disagree."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.batch.routing import route_scoring
from core.intake.events import route_blob
from core.kernel.policy import load_policies
from devhost import procs
from devstack import demo
from devstack.stack import running_stack


def test_the_demo_policy_scores_its_scoring_prefix_and_never_trains_on_it():
    policies = list(load_policies(demo.POLICY_DIR).values())
    assert route_scoring(policies, "raw", "churn-scoring/demo-01.csv") == "churn"
    assert route_blob(policies, "raw", "churn-scoring/demo-01.csv") is None
    assert route_scoring(policies, "raw", "churn/demo/01-first.csv") is None


@pytest.mark.slow
@pytest.mark.e2e
def test_an_upload_under_the_scoring_prefix_is_scored_by_the_champion(tmp_path: Path) -> None:
    with running_stack(
        tmp_path / "stack",
        devhost_port=procs.free_port(),
        azurite_port=procs.free_port(),
        endpoint_port=procs.free_port(),
        extra_env={"LIFECYCLE_POLICY_DIR": str(demo.POLICY_DIR), "CODE_VERSION": "e2e"},
    ) as stack:
        view = demo.View([demo.Outcome("first-model", ""), demo.Outcome("batch-scoring", "")])
        run = demo.Demo(stack, view, rps=5)
        try:
            first = run.first_model()
            scored = run.batch_scoring()
        finally:
            run.stop_load()
        assert "promoted" in first
        assert ": scored; 200 predictions by churn-v1 (model_version ['1'])" in scored
        runs = run.api.get("batch-runs", model="churn")["runs"]
        assert [r["status"] for r in runs] == ["scored"]
        detail = run.api.get(f"batch-runs/{runs[0]['id']}")
        kinds = [f["kind"] for f in detail["facts"]]
        assert kinds == ["batch_scoring_started", "batch_scored"]
        assert detail["orchestration"]["runtime_status"] == "Completed"
        lifecycle = run.api.lifecycle_ids()[0]
        facts = [e.get("kind") for e in run.api.get(f"lifecycles/{lifecycle}")["steps"]]
        assert "batch_smoke_tested" in facts
