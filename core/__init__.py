"""The core: policy, payload contracts, pure decisions, ports and the one bootstrap. No Azure imports."""
