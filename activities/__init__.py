"""Activities: one Durable Functions blueprint; each module below registers its functions on `bp`."""

from activities.blueprint import bp

__all__ = ["bp"]

# Modules that register functions on bp are imported below (after bp exists).
from activities import batch, coordinator, ingest_pipeline, lifecycle, release, rollout  # noqa: F401
