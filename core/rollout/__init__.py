"""Rollout: the ramp plan, every gate kind and its evidence, KQL, traffic rules, smoke, the next move."""
