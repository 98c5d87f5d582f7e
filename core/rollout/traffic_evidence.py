"""A rollout gate over one window: read the telemetry, judge, record the evaluation.

The window is [start, min(end, ingested)]: a gate never judges requests the log has not ingested.
Two queries: the first gives blue's p95, the second counts green's requests slower than it."""

from __future__ import annotations

from core.kernel.ports import RunLedger, TrafficStats
from core.rollout.facts import GateEvaluated
from core.rollout.payloads import GateInput
from core.rollout.traffic_gate import GateVerdict, evaluate_gate


def judge_window(stats: TrafficStats, ledger: RunLedger, req: GateInput) -> GateVerdict:
    names = [req.green, req.blue]
    first = stats.window(req.endpoint, names, req.start, req.end)
    end = min(req.end, first.ingested_until) if first.ingested_until else req.end
    blue = first.by_deployment.get(req.blue)
    window = first
    if end > req.start and blue is not None and blue.p95_ms is not None:
        window = stats.window(req.endpoint, names, req.start, end, slow_threshold_ms=blue.p95_ms)
    verdict = evaluate_gate(window, req.green, req.blue, req.gate)
    fact = GateEvaluated.of(req.phase, req.percent, verdict)
    ledger.append(req.run_id, fact.ledger_kind, fact.dump())
    return verdict
