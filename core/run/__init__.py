"""The run: what every orchestration shares over the slices (status, the union of facts, run bookkeeping)."""
