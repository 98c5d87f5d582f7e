"""The scoring script shipped with an online deployment that serves by entity id (score.py), and where
its code folder is assembled (adapters/azure/endpoints.py)."""
