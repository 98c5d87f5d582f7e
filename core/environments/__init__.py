"""Environments: releasing a champion to the shared registry and deploying it in another environment."""
