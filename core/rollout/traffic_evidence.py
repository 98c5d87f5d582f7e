"""A rollout gate over one window: read the telemetry, judge, record the evaluation.

The window is [start, min(end, ingested)]: a gate never judges requests the log has not ingested.
The first query gives blue's p50/p95/p99; then one query per threshold the gate tests over the same
window: green's requests slower than blue's p95 (latency), slower than blue's p99 (the tail test)
and over the SLO's limit (the absolute SLO test)."""

from __future__ import annotations

from core.kernel.ports import EvidenceUnavailable, RunLedger, TrafficStats, WindowStats
from core.rollout.facts import GateEvaluated
from core.rollout.payloads import GateInput
from core.rollout.traffic_gate import GateVerdict, evaluate_gate


def judge_window(stats: TrafficStats, ledger: RunLedger, req: GateInput) -> GateVerdict:
    """The gate's verdict over the window, or "unavailable" (recorded, with the reason) when the
    telemetry cannot be read: that holds the step, it never fails the rollout nor passes green."""
    try:
        verdict = _judge(stats, req)
    except EvidenceUnavailable as exc:
        verdict = GateVerdict(
            verdict="unavailable",
            reasons=[f"telemetry unavailable: {exc}"],
            endpoint=req.endpoint,
            green=req.green,
            blue=req.blue,
            window_start=req.start.isoformat(),
            window_end=req.end.isoformat(),
            ingested_until=None,
            green_requests=0,
            blue_requests=0,
            min_samples=req.gate.min_samples,
            alpha=req.gate.alpha,
        )
    fact = GateEvaluated.of(req.phase, req.percent, verdict)
    ledger.append(req.run_id, fact.ledger_kind, fact.dump())
    return verdict


def _judge(stats: TrafficStats, req: GateInput) -> GateVerdict:
    names = [req.green, req.blue]
    first = stats.window(req.endpoint, names, req.start, req.end)
    end = min(req.end, first.ingested_until) if first.ingested_until else req.end
    blue = first.by_deployment.get(req.blue)

    def over(threshold_ms: float | None) -> WindowStats | None:
        if threshold_ms is None or end <= req.start:
            return None
        return stats.window(req.endpoint, names, req.start, end, slow_threshold_ms=threshold_ms)

    window = first
    tail = over_slo = None
    if blue is not None:
        window = over(blue.p95_ms if req.gate.p95_rel_margin is not None else None) or first
        tail = over(blue.p99_ms if req.gate.p99_rel_margin is not None else None)
    if req.gate.slo_p99_ms is not None and end > req.start:
        over_slo = over(req.gate.slo_p99_ms)
    return evaluate_gate(window, req.green, req.blue, req.gate, tail=tail, over_slo=over_slo)
