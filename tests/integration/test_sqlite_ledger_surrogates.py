"""Lone surrogates ("\ud800", valid in JSON, not in UTF-8) reach the ledger from hand-made
payloads; the SQLite ledger stores and finds them exactly instead of failing with a 500."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.local.ledger import SqliteRunLedger
from core.kernel.ports import RetrainRequest, RunRecord

pytestmark = pytest.mark.integration

LONE = "key-\ud800-\udfff"


@pytest.fixture
def ledger(tmp_path):
    return SqliteRunLedger(tmp_path / "ledger.db")


def test_a_request_whose_dedupe_key_holds_a_lone_surrogate_is_recorded_once(ledger):
    request = RetrainRequest(
        "req-1", "churn", "operator", f"operator:{LONE}", datetime(2025, 1, 1, tzinfo=UTC), {"k": LONE}
    )
    assert ledger.add_request(request) is True
    assert ledger.add_request(request) is False  # the same key is still found: dedupe holds
    [pending] = ledger.pending_requests("churn")
    assert pending.dedupe_key == f"operator:{LONE}" and pending.details == {"k": LONE}
    ledger.consume_requests("churn", ["req-1"], "run-1")
    assert [r.dedupe_key for r in ledger.requests_for_run("run-1")] == [f"operator:{LONE}"]


def test_a_surrogate_key_and_its_escaped_spelling_stay_different_keys(ledger):
    at = datetime(2025, 1, 1, tzinfo=UTC)
    assert ledger.add_request(RetrainRequest("a", "churn", "operator", "\ud800", at))
    assert ledger.add_request(RetrainRequest("b", "churn", "operator", "\\ud800", at))
    assert len(ledger.pending_requests("churn")) == 2


def test_entries_and_runs_with_lone_surrogates_round_trip(ledger):
    ledger.append(f"unrouted{LONE}", "event", {"alert_id": LONE})
    [entry] = ledger.entries(f"unrouted{LONE}")
    assert entry.run_id == f"unrouted{LONE}" and entry.data == {"alert_id": LONE}
    ledger.put_run(RunRecord(f"run{LONE}", "churn", "running", "ingest"))
    assert ledger.get_run(f"run{LONE}").run_id == f"run{LONE}"
    assert [r.run_id for r in ledger.list_runs("churn")] == [f"run{LONE}"]
