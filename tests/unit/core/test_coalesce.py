"""Coalescing: one run consumes everything pending, unless the day's training budget is spent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from core.intake.coalesce import claim, counts_as_training, debounce_until, run_input, trainings_today
from core.kernel.ports import RetrainRequest, RunRecord

NOW = datetime(2024, 5, 1, 15, 30, tzinfo=UTC)


def request(n: int, source: str = "blob", minutes_ago: int = 0, **details) -> RetrainRequest:
    return RetrainRequest(
        request_id=f"req-{n}",
        model="churn",
        source=source,
        dedupe_key=f"k-{n}",
        received_at=NOW - timedelta(minutes=minutes_ago),
        details=details,
    )


def run(created: datetime, stage: str = "done", job: str | None = "job-1", status: str = "kept") -> RunRecord:
    return RunRecord(run_id="r", model="churn", status=status, stage=stage, job_name=job, created_at=created)


def test_every_pending_request_is_consumed_by_one_run_oldest_first():
    decision = claim(
        [request(2, minutes_ago=1), request(1, minutes_ago=5), request(3, "alert")],
        trainings_today=0,
        max_trainings_per_day=4,
        now=NOW,
    )
    assert decision.start_run
    assert decision.consume == ("req-1", "req-2", "req-3")
    assert decision.numbers["sources"] == ["alert", "blob"]


def test_nothing_pending_starts_nothing_and_says_so():
    decision = claim([], trainings_today=0, max_trainings_per_day=4, now=NOW)
    assert not decision.start_run and decision.reasons == ("no pending requests",)


def test_a_spent_budget_holds_every_request_until_the_next_utc_day_with_the_numbers():
    decision = claim([request(1), request(2)], trainings_today=4, max_trainings_per_day=4, now=NOW)
    assert not decision.start_run
    assert decision.held == ("req-1", "req-2")
    assert decision.retry_at == datetime(2024, 5, 2, tzinfo=UTC)
    assert "4 of 4 trainings used today" in decision.held_reason


def test_a_zero_budget_disables_retraining_without_a_retry_time():
    decision = claim([request(1)], trainings_today=0, max_trainings_per_day=0, now=NOW)
    assert decision.held == ("req-1",) and decision.retry_at is None
    assert "disabled" in decision.held_reason


def test_only_todays_runs_that_reached_training_count_against_the_budget():
    runs = [
        run(NOW - timedelta(hours=1)),
        run(NOW - timedelta(hours=2), stage="ingest", job=None, status="rejected"),  # quarantined data
        run(NOW - timedelta(days=1)),  # yesterday
        run(NOW.replace(hour=0, minute=0), stage="train", job=None),
    ]
    assert trainings_today(runs, NOW) == 2
    assert not counts_as_training(runs[1])


def test_a_claim_inside_the_debounce_window_waits_until_the_burst_has_been_quiet_for_it():
    pending = [request(1, minutes_ago=3), request(2, minutes_ago=1)]
    decision = claim(pending, trainings_today=0, max_trainings_per_day=4, now=NOW, debounce_seconds=120)
    assert not decision.start_run and not decision.held
    assert decision.wait_until == NOW + timedelta(minutes=1)  # two minutes after the newest
    later = claim(
        pending,
        trainings_today=0,
        max_trainings_per_day=4,
        now=NOW + timedelta(minutes=1),
        debounce_seconds=120,
    )
    assert later.consume == ("req-1", "req-2")


def test_the_debounce_window_follows_the_newest_request_up_to_a_cap():
    assert debounce_until(NOW, 30) == NOW + timedelta(seconds=30)
    assert debounce_until(NOW, 30, newest=NOW + timedelta(seconds=20)) == NOW + timedelta(seconds=50)
    assert debounce_until(NOW, 30, newest=NOW + timedelta(hours=1)) == NOW + timedelta(seconds=300)
    assert debounce_until(NOW, -5) == NOW


def test_the_run_input_lists_new_blobs_once_and_names_every_request():
    requests = [
        request(1, "blob", 3, container="raw", path="churn/a.csv", etag="e1", event_id="evt-1"),
        request(2, "alert", 2, alert_id="a1"),
        request(3, "blob", 1, container="raw", path="churn/a.csv", etag="e1", event_id="evt-2"),
    ]
    data = run_input("churn", requests)
    assert data.source == "mixed"
    assert data.request_ids == ["req-1", "req-2", "req-3"]
    assert [(b.container, b.path) for b in data.blobs] == [("raw", "churn/a.csv")]
    assert data.event_ids == ["evt-1", "evt-2"]
    assert data.reason == "3 request(s): 1 alert, 2 blob"


def test_an_operator_only_run_has_no_blobs_so_ingest_reads_the_whole_prefix():
    data = run_input("churn", [request(1, "operator")])
    assert data.source == "operator" and data.blobs == []


@given(
    st.lists(st.integers(min_value=0, max_value=600), max_size=30, unique=True),
    st.integers(min_value=0, max_value=6),
    st.integers(min_value=0, max_value=6),
)
def test_a_claim_consumes_all_or_holds_all_and_never_loses_a_request(ages, used, budget):
    pending = [request(i, minutes_ago=age) for i, age in enumerate(ages)]
    decision = claim(pending, trainings_today=used, max_trainings_per_day=budget, now=NOW)
    accounted = set(decision.consume) | set(decision.held)
    assert accounted == {r.request_id for r in pending}
    assert not (set(decision.consume) & set(decision.held))
    assert decision.start_run == (bool(pending) and used < budget)
    assert decision.wait_until is None
    assert bool(decision.held) == (decision.held_reason is not None)
