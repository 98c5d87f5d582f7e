"""SqliteRunLedger: the shared RunLedger contract, plus what only a file shared by processes shows."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime

import pytest

from adapters.local.ledger import SqliteRunLedger
from core.kernel.ports import RetrainRequest, RunRecord
from tests.integration.ledger_contract import *  # noqa: F403

pytestmark = pytest.mark.integration


@pytest.fixture
def ledger(tmp_path):
    return SqliteRunLedger(tmp_path / "ledger.db")


def _bump_in_another_process(path: str, worker: int, n: int) -> None:
    ledger = SqliteRunLedger(path)
    for i in range(n):
        ledger.update_run("shared", metrics={f"w{worker}-{i}": i})


def _add_requests_in_another_process(path: str, worker: int, keys: list[str], out) -> None:
    ledger = SqliteRunLedger(path)
    won = 0
    for key in keys:
        request = RetrainRequest(f"w{worker}-{key}", "churn", "blob", key, datetime(2025, 1, 1, tzinfo=UTC))
        won += ledger.add_request(request)
    out.put(won)


def test_a_second_adapter_on_the_same_file_sees_the_same_runs(tmp_path):
    a = SqliteRunLedger(tmp_path / "l.db")
    b = SqliteRunLedger(tmp_path / "l.db")
    a.put_run(RunRecord("r1", "churn", "running", "ingest"))
    assert b.get_run("r1").model == "churn"


@pytest.mark.slow
def test_updates_from_several_processes_all_land_without_losing_any(tmp_path):
    path = str(tmp_path / "l.db")
    SqliteRunLedger(path).put_run(RunRecord("shared", "churn", "running", "train"))
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_bump_in_another_process, args=(path, w, 10)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert len(SqliteRunLedger(path).get_run("shared").metrics) == 30


@pytest.mark.slow
def test_the_same_delivery_from_racing_processes_is_recorded_exactly_once(tmp_path):
    path = str(tmp_path / "l.db")
    SqliteRunLedger(path)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    keys = [f"url-{i}|etag" for i in range(20)]
    procs = [
        ctx.Process(target=_add_requests_in_another_process, args=(path, w, keys, out)) for w in range(3)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert sum(out.get(timeout=5) for _ in procs) == 20
    assert len(SqliteRunLedger(path).pending_requests("churn")) == 20
