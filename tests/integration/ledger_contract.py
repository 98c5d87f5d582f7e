"""The RunLedger contract, written once and run against every adapter.

A test module for an adapter imports these tests and provides a function-scoped `ledger` fixture
returning an EMPTY ledger:

    from tests.integration.ledger_contract import *  # noqa: F403

    @pytest.fixture
    def ledger(...): return SqliteRunLedger(tmp_path / "ledger.db")

Only behaviour the port promises is asserted here (core/kernel/ports.py); adapter quirks belong in
the adapter's own module.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta

import pytest

from core.kernel.ports import ConcurrencyConflict, RetrainRequest, RunLedger, RunRecord

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def _run(run_id: str = "run-1", model: str = "churn", **kw) -> RunRecord:
    return RunRecord(
        run_id=run_id, model=model, status=kw.pop("status", "running"), stage=kw.pop("stage", "ingest"), **kw
    )


def _request(n: int, model: str = "churn", key: str | None = None) -> RetrainRequest:
    return RetrainRequest(
        request_id=f"req-{model}-{n}",
        model=model,
        source="blob",
        dedupe_key=key or f"blob-url-{n}|etag-{n}",
        received_at=T0 + timedelta(seconds=n),
        details={"n": n},
    )


def test_the_ledger_satisfies_the_port(ledger):
    assert isinstance(ledger, RunLedger)


def test_a_put_run_can_be_read_back_with_its_fields_timestamps_and_an_etag(ledger):
    saved = ledger.put_run(
        _run(trigger={"source": "blob"}, data_version="v1", metrics={"auc": 0.91}, lineage={"job": "j1"})
    )
    got = ledger.get_run("run-1")
    assert got is not None
    assert (got.run_id, got.model, got.status, got.stage) == ("run-1", "churn", "running", "ingest")
    assert got.trigger == {"source": "blob"}
    assert got.metrics == {"auc": 0.91}
    assert got.lineage == {"job": "j1"}
    assert got.data_version == "v1"
    assert got.etag and saved.etag == got.etag
    assert got.created_at is not None and got.created_at.tzinfo is not None
    assert got.updated_at is not None


def test_an_unknown_run_reads_as_none(ledger):
    assert ledger.get_run("no-such-run") is None


def test_update_run_changes_fields_and_merges_dicts_shallowly(ledger):
    ledger.put_run(_run(metrics={"auc": 0.9, "loss": 0.3}))
    updated = ledger.update_run("run-1", stage="train", job_name="job-1", metrics={"auc": 0.95})
    assert updated.stage == "train"
    assert updated.job_name == "job-1"
    assert updated.metrics == {"auc": 0.95, "loss": 0.3}
    assert ledger.get_run("run-1") == updated


def test_a_put_with_a_stale_etag_is_a_concurrency_conflict(ledger):
    first = ledger.put_run(_run())
    ledger.update_run("run-1", stage="train")
    with pytest.raises(ConcurrencyConflict):
        ledger.put_run(dataclasses.replace(first, stage="evaluate"))
    assert ledger.get_run("run-1").stage == "train"


def test_a_put_with_the_current_etag_succeeds_and_changes_the_etag(ledger):
    first = ledger.put_run(_run())
    second = ledger.put_run(dataclasses.replace(first, stage="train"))
    assert second.stage == "train"
    assert second.etag != first.etag


def test_concurrent_updates_of_one_run_all_land(ledger):
    ledger.put_run(_run(metrics={}))
    errors: list[BaseException] = []

    def bump(i: int) -> None:
        try:
            ledger.update_run("run-1", metrics={f"m{i}": i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=bump, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert ledger.get_run("run-1").metrics == {"m0": 0, "m1": 1, "m2": 2, "m3": 3}


def test_list_runs_filters_by_model_and_status_and_limits(ledger):
    ledger.put_run(_run("a1", "churn", status="promoted"))
    ledger.put_run(_run("a2", "churn", status="running"))
    ledger.put_run(_run("b1", "fraud", status="running"))
    assert {r.run_id for r in ledger.list_runs()} == {"a1", "a2", "b1"}
    assert {r.run_id for r in ledger.list_runs(model="churn")} == {"a1", "a2"}
    assert {r.run_id for r in ledger.list_runs(status="running")} == {"a2", "b1"}
    assert [r.run_id for r in ledger.list_runs(model="churn", status="promoted")] == ["a1"]
    assert len(ledger.list_runs(limit=2)) == 2


def test_entries_are_appended_in_order_with_increasing_seq_and_filtered_by_kind(ledger):
    ledger.put_run(_run())
    e1 = ledger.append("run-1", "step", {"stage": "ingest"})
    e2 = ledger.append("run-1", "gate", {"verdict": "pass", "n": 1200})
    e3 = ledger.append("run-1", "step", {"stage": "train"})
    assert e1.seq < e2.seq < e3.seq
    assert [e.data for e in ledger.entries("run-1")] == [
        {"stage": "ingest"},
        {"verdict": "pass", "n": 1200},
        {"stage": "train"},
    ]
    assert [e.data["stage"] for e in ledger.entries("run-1", kind="step")] == ["ingest", "train"]
    assert ledger.entries("run-1", kind="gate")[0].at.tzinfo is not None


def test_entries_of_one_run_do_not_show_in_another(ledger):
    ledger.put_run(_run("r1"))
    ledger.put_run(_run("r2"))
    ledger.append("r1", "step", {"x": 1})
    assert ledger.entries("r2") == []


def test_a_request_is_recorded_once_per_dedupe_key(ledger):
    assert ledger.add_request(_request(1)) is True
    again = _request(1)
    assert ledger.add_request(dataclasses.replace(again, request_id="another-id")) is False
    assert [r.request_id for r in ledger.pending_requests("churn")] == ["req-churn-1"]


def test_pending_requests_are_per_model_and_oldest_first(ledger):
    ledger.add_request(_request(2))
    ledger.add_request(_request(1))
    ledger.add_request(_request(3, model="fraud"))
    pending = ledger.pending_requests("churn")
    assert [r.request_id for r in pending] == ["req-churn-1", "req-churn-2"]
    assert pending[0].details == {"n": 1}
    assert pending[0].received_at == T0 + timedelta(seconds=1)


def test_pending_besides_says_whether_another_request_of_the_model_waits(ledger):
    ledger.put_run(_run("run-9"))
    ledger.add_request(_request(1))
    ledger.add_request(_request(2, model="fraud"))
    assert ledger.pending_besides("churn", "req-churn-1") is False  # itself and other models do not count
    ledger.add_request(_request(3))
    assert ledger.pending_besides("churn", "req-churn-1") is True
    ledger.consume_requests("churn", ["req-churn-3"], "run-9")
    assert ledger.pending_besides("churn", "req-churn-1") is False  # consumed ones do not count


def test_requests_recorded_together_answer_each_as_one_at_a_time_would(ledger):
    ledger.add_request(_request(1))
    recorded = ledger.record_requests(
        [_request(1), _request(2), _request(3, model="fraud"), _request(2, key="blob-url-2|etag-2")]
    )
    assert [(r.accepted, r.others_pending) for r in recorded] == [
        (False, True),  # seen before; request 2 waits
        (True, True),  # request 1 waits
        (True, False),  # alone in its model
        (False, True),  # the same delivery twice in one call is recorded once
    ]
    assert [r.request_id for r in ledger.pending_requests("churn")] == ["req-churn-1", "req-churn-2"]


def test_consumed_requests_leave_the_pending_list_and_belong_to_the_run(ledger):
    ledger.put_run(_run("run-9"))
    for n in (1, 2, 3):
        ledger.add_request(_request(n))
    ledger.consume_requests("churn", ["req-churn-1", "req-churn-2"], "run-9")
    ledger.consume_requests("churn", ["req-churn-1", "req-churn-2"], "run-9")  # a replay is harmless
    assert [r.request_id for r in ledger.pending_requests("churn")] == ["req-churn-3"]
    consumed = ledger.requests_for_run("run-9")
    assert [r.request_id for r in consumed] == ["req-churn-1", "req-churn-2"]
    assert all(r.consumed_by == "run-9" for r in consumed)
