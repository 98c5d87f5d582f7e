"""A gate judges only the ingested part of its window, compares green with blue's p95, and the
ledger records every evaluation with its numbers."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from core.kernel.ports import DeploymentStats
from core.rollout.payloads import GateInput
from core.rollout.traffic_evidence import judge_window
from core.rollout.traffic_gate import GateConfig
from tests.fakes import FakeRunLedger, FakeTrafficStats

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)


def _req() -> GateInput:
    return GateInput(
        run_id="r1",
        endpoint="churn-endpoint",
        green="green",
        blue="blue",
        phase=1,
        percent=10,
        start=T0,
        end=T0 + timedelta(minutes=10),
        gate=asdict(GateConfig(min_samples=50)),
    )


def test_the_window_ends_where_the_log_is_ingested_and_green_is_timed_against_blues_p95():
    stats, ledger = FakeTrafficStats(), FakeRunLedger()
    stats.ingested_until = T0 + timedelta(minutes=4)
    stats.stats = {
        "blue": DeploymentStats("blue", 9000, 90, 0, 50.0, 114.0, 160.0, 450, 114.0),
        "green": DeploymentStats("green", 1000, 10, 0, 50.0, 114.0, 160.0, 50, 114.0),
    }
    verdict = judge_window(stats, ledger, _req())
    (_, _, _, first_end), (_, names, _, second_end) = stats.queries[:2]
    assert first_end == T0 + timedelta(minutes=10) and second_end == T0 + timedelta(minutes=4)
    assert names == ["green", "blue"]
    [entry] = ledger.entries("r1", "gate")
    assert entry.data["phase"] == 1 and entry.data["percent"] == 10
    assert entry.data["verdict"] == verdict.verdict


def test_no_blue_traffic_is_never_a_pass():
    stats, ledger = FakeTrafficStats(), FakeRunLedger()
    stats.stats = {"green": DeploymentStats("green", 1000, 0, 0, 50.0, 100.0, 120.0)}
    verdict = judge_window(stats, ledger, _req())
    assert verdict.verdict == "need_more_data"
    assert len(stats.queries) == 1  # no p95 of blue to time green against


def test_unreadable_telemetry_is_recorded_as_unavailable_and_is_no_verdict():
    from core.kernel.ports import EvidenceUnavailable

    class Throttled(FakeTrafficStats):
        def window(self, *args, **kwargs):
            raise EvidenceUnavailable("Log Analytics query failed: HTTP 429 TooManyRequests")

    ledger = FakeRunLedger()
    verdict = judge_window(Throttled(), ledger, _req())
    assert verdict.verdict == "unavailable"
    assert "HTTP 429" in verdict.reasons[0]
    [entry] = ledger.entries("r1", "gate")
    assert entry.data["verdict"] == "unavailable" and "HTTP 429" in entry.data["reasons"][0]
