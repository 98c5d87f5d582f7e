"""POST /api/alerts: Azure Monitor action-group webhook (common alert schema).

A Fired alert mapped to a model asks for a retrain; Resolved is recorded and starts nothing.
An alert no policy claims is answered 200 with the reason, not 4xx: the payload is valid, and
Azure Monitor would only retry a failure that retrying cannot fix.
"""

from __future__ import annotations

import azure.functions as func

import wiring
from core.intake.events import EventValidationError, parse_alert, route_alert
from core.intake.facts import EventIgnored
from triggers.blueprint import bp
from triggers.intake import body_too_large, error, json_response, new_request, record_ignored, submit


@bp.route(route="alerts", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def alerts_webhook(req: func.HttpRequest, client) -> func.HttpResponse:
    if (too_large := body_too_large(req)) is not None:
        return too_large
    try:
        alert = parse_alert(req.get_body())
    except EventValidationError as exc:
        return error(400, str(exc))
    model = route_alert(wiring.policies().values(), alert)
    info = {"alert_id": alert.alert_id, "alert_rule": alert.alert_rule, "condition": alert.monitor_condition}
    if model is None:
        await record_ignored(None, EventIgnored(ignored="no policy claims this alert", **info))
        reason = f"no policy lists alert rule {alert.alert_rule!r} (or names it in a `model` custom property)"
        return json_response({"status": "ignored", "reason": reason, **info})
    if not alert.fired:
        await record_ignored(model, EventIgnored(ignored="alert resolved", **info))
        return json_response(
            {"status": "recorded", "model": model, "reason": "a resolved alert starts nothing", **info}
        )
    details = {
        **info,
        "severity": alert.severity,
        "signal_type": alert.signal_type,
        "fired_at": alert.fired_at.isoformat() if alert.fired_at else None,
        "configuration_items": list(alert.configuration_items),
    }
    intake = await submit(client, new_request(model, "alert", alert.dedupe_key, details))
    return json_response(intake.body(), 200 if intake.duplicate else 202)
