"""Triggers: one Durable Functions blueprint; each module below registers its functions on `bp`."""

from triggers.blueprint import bp

__all__ = ["bp"]

# Modules that register functions on bp are imported below (after bp exists).
from triggers import (  # noqa: F401
    alerts,
    batch_api,
    blob_events,
    drift_monitor,
    operator_api,
    outbox,
    releases,
    schedule,
)
