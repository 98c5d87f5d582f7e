"""A rollout gate over one window: read the telemetry, judge, record the evaluation.

The window is [start, min(end, ingested)]: a gate never judges requests the log has not ingested.
The first query gives blue's p50/p95/p99; then one query per threshold the gate tests over the same
window: green's requests slower than blue's p95 (latency), slower than blue's p99 (the tail test)
and over the SLO's limit (the absolute SLO test)."""

from __future__ import annotations

from core.kernel.ports import RunLedger, TrafficStats, WindowStats
from core.rollout.facts import GateEvaluated
from core.rollout.payloads import GateInput
from core.rollout.traffic_gate import GateVerdict, evaluate_gate


def judge_window(stats: TrafficStats, ledger: RunLedger, req: GateInput) -> GateVerdict:
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
    verdict = evaluate_gate(window, req.green, req.blue, req.gate, tail=tail, over_slo=over_slo)
    fact = GateEvaluated.of(req.phase, req.percent, verdict)
    ledger.append(req.run_id, fact.ledger_kind, fact.dump())
    return verdict
