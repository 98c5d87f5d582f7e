"""Orchestrators: one Durable Functions blueprint; each module below registers its functions on `bp`."""

import azure.durable_functions as df

bp = df.Blueprint()

# Modules that register functions on bp are imported below (after bp exists).
from orchestrators import batch, coordinator, deploy, lifecycle, rollout  # noqa: E402,F401
