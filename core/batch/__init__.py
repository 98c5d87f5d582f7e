"""Batch: the batch endpoint's deployments, smoke and A/B scoring of uploaded files."""
