"""Triggers: one Durable Functions blueprint; each module below registers its functions on `bp`."""

import azure.durable_functions as df

bp = df.Blueprint()

# Modules that register functions on bp are imported below (after bp exists).
from triggers import alerts, batch_api, blob_events, operator_api, outbox, promotions, schedule  # noqa: E402,F401
