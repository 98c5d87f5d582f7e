"""Orchestrators: one Durable Functions blueprint; each module below registers its functions on `bp`."""

from orchestrators.blueprint import bp

__all__ = ["bp"]

# Modules that register functions on bp are imported below (after bp exists).
from orchestrators import batch, coordinator, deploy, lifecycle, rollout  # noqa: F401
