"""POST /api/alerts: Azure Monitor action-group webhook (common alert schema).

A Fired alert mapped to a model asks for a retrain; Resolved is recorded and starts nothing.
An alert no policy claims is answered 200 with the reason, not 4xx: the payload is valid, and
Azure Monitor would only retry a failure that retrying cannot fix.
"""

from __future__ import annotations

import azure.functions as func

from core.intake.events import EventValidationError, parse_alert
from triggers.blueprint import bp
from triggers.edge import get_edge
from triggers.intake import body_too_large, error, json_response


@bp.route(route="alerts", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def alerts_webhook(req: func.HttpRequest, client) -> func.HttpResponse:
    if (too_large := body_too_large(req)) is not None:
        return too_large
    try:
        alert = parse_alert(req.get_body())
    except EventValidationError as exc:
        return error(400, str(exc))
    status, model, intake = await get_edge().alert(client, alert)
    info = {"alert_id": alert.alert_id, "alert_rule": alert.alert_rule, "condition": alert.monitor_condition}
    if intake is not None:
        return json_response(intake.body(), 200 if intake.duplicate else 202)
    if status == "ignored":
        reason = f"no policy lists alert rule {alert.alert_rule!r} (or names it in a `model` custom property)"
        return json_response({"status": "ignored", "reason": reason, **info})
    return json_response(
        {"status": "recorded", "model": model, "reason": "a resolved alert starts nothing", **info}
    )
