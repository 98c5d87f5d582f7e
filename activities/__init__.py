"""Activities: one Durable Functions blueprint; each module below registers its functions on `bp`."""

import azure.durable_functions as df

bp = df.Blueprint()

# Modules that register functions on bp are imported below (after bp exists).
from activities import batch, coordinator, lifecycle, promotion, rollout  # noqa: E402,F401
