"""schemathesis against GET /api/openapi.json on a real devhost: no 5xx, responses as documented,
and nothing recorded or started by a request the API refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.events import edge_devhost, lifecycles_started

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    ]
)


def test_the_operator_api_survives_schemathesis_and_refusals_change_nothing(tmp_path: Path):
    # with a deploy-only model too: its routes answer like the others (issue 20, item 7)
    with edge_devhost(
        tmp_path / "edge", ["churn", "fraud"], debounce_seconds=1, deploy_only=("churn-prod",)
    ) as host:
        har = tmp_path / "schemathesis.har"
        argv = [
            sys.executable, "-m", "schemathesis.cli", "run", f"{host.base_url}/api/openapi.json",
            "--checks", CHECKS,
            "--header", f"x-functions-key: {host.key}",
            "--phases", "examples,coverage,fuzzing",
            "--max-examples", "25",
            # one worker: CPython 3.11.7's ast module is not thread-safe (gh-106905, "AST constructor
            # recursion depth mismatch"), and hypothesis parses filter lambdas with it
            "--workers", "1",
            "--seed", "7",
            "--request-timeout", "30",
            "--report", "har", "--report-har-path", str(har),
            "--suppress-health-check", "all",
        ]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:] + host.log_tail()

        entries = json.loads(har.read_text())["log"]["entries"]
        statuses = [e["response"]["status"] for e in entries]
        server_errors = [
            (e["request"]["method"], e["request"]["url"], e["response"]["status"])
            for e in entries
            if e["response"]["status"] >= 500
        ]
        assert len(statuses) > 100 and not server_errors, server_errors[:5]

        def accepted(path_part: str) -> int:
            return sum(
                1
                for e in entries
                if e["request"]["method"] == "POST"
                and path_part in e["request"]["url"]
                and e["response"]["status"] == 202
            )

        ledger = host.ledger()
        # by id: a request may move from pending to a run between the two reads
        recorded = {r.request_id: r for m in ("churn", "fraud") for r in ledger.pending_requests(m)}
        for m in ("churn", "fraud"):
            for run in ledger.list_runs(model=m):
                recorded.update({r.request_id: r for r in ledger.requests_for_run(run.run_id)})
        recorded = list(recorded.values())
        operator = sum(1 for r in recorded if r.source == "operator")
        alerts = sum(1 for r in recorded if r.source == "alert")
        assert (operator, alerts) == (accepted("/retrain"), accepted("/api/alerts")), "ledger vs 202 answers"
        started = {i["instanceId"].rsplit("-", 2)[0] for i in lifecycles_started(host)}
        assert started <= {"churn", "fraud"}


def test_a_deploy_only_models_routes_survive_schemathesis_with_clear_refusals(tmp_path: Path):
    """Every operation with `{model}` pinned to a deploy-only model (schemathesis.toml): a random
    name rarely hits one, and its batch view was a 500 (issue 20, item 7)."""
    (tmp_path / "schemathesis.toml").write_text('[parameters]\n"path.model" = "churn-prod"\n')
    with edge_devhost(tmp_path / "edge", ["churn"], debounce_seconds=1, deploy_only=("churn-prod",)) as host:
        har = tmp_path / "schemathesis.har"
        argv = [
            sys.executable, "-m", "schemathesis.cli", "run", f"{host.base_url}/api/openapi.json",
            "--checks", CHECKS, "--header", f"x-functions-key: {host.key}",
            "--phases", "examples,coverage,fuzzing", "--max-examples", "5", "--workers", "1",
            "--seed", "11", "--request-timeout", "30",
            "--report", "har", "--report-har-path", str(har), "--suppress-health-check", "all",
        ]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:] + host.log_tail()
        entries = json.loads(har.read_text())["log"]["entries"]
        assert not [e for e in entries if e["response"]["status"] >= 500]

        def answers(method: str, path: str) -> set[int]:
            return {
                e["response"]["status"]
                for e in entries
                if e["request"]["method"] == method and e["request"]["url"].split("?")[0].endswith(path)
            }

        retrain = answers("POST", "/api/models/churn-prod/retrain")
        assert 409 in retrain and not retrain & {200, 202}  # refused (or 401 without the key)
        assert 404 in answers("GET", "/api/models/churn-prod/batch")
        assert host.ledger().pending_requests("churn-prod") == []
