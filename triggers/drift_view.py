"""The model view's drift part (GET /api/models/{model}): the monitor's recent checks from the ledger
and the lifecycles that alerts started, a read model beside the operator API's handlers."""

from __future__ import annotations

from core.kernel.policy import DeployOnlyPolicy, Policy
from core.kernel.ports import RetrainRequest, RunLedger, RunRecord
from triggers.api_models import AlertStart, Drift, DriftCheck

RECENT_CHECKS = 96


def drift_view(
    ledger: RunLedger,
    policy: Policy | DeployOnlyPolicy,
    recent: list[RunRecord],
    pending: list[RetrainRequest],
) -> Drift | None:
    monitoring = getattr(policy, "monitoring", None)
    if monitoring is None:
        return None
    # numpy/pandas load on the first view, not when the app is indexed (cold start)
    from core.monitoring.facts import DriftEvaluated
    from core.monitoring.monitor import check_entries

    entries = check_entries(ledger, policy.model)[-RECENT_CHECKS:]
    checks = []
    for entry in entries:
        fact = DriftEvaluated.model_validate(entry.data)
        checks.append(
            DriftCheck(
                at=fact.window_end,
                verdict=fact.verdict,
                alert=fact.alert,
                rows=fact.rows,
                level=fact.level,
                reference_version=fact.reference_version,
                psi={c.column: c.psi for c in fact.columns},
                p_value={c.column: c.p_value for c in fact.columns},
                drifted=[c.column for c in fact.columns if c.drifted],
            )
        )
    started = [(r, run.run_id) for run in recent for r in ledger.requests_for_run(run.run_id)]
    alerts = [
        AlertStart(
            alert_rule=str(r.details.get("alert_rule", "")),
            alert_id=str(r.details.get("alert_id", "")),
            received_at=r.received_at,
            lifecycle=run_id,
        )
        for r, run_id in [*started, *((p, None) for p in pending)]
        if r.source == "alert"
    ]
    return Drift(
        min_psi=monitoring.min_psi,
        false_alarms_per_30_days=monitoring.false_alarms_per_30_days,
        checks=checks,
        alerts=sorted(alerts, key=lambda a: a.received_at),
    )
