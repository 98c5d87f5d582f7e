"""The local online endpoint server: Azure ML managed online endpoints, one process, offline.

Same routing rules, scoring payloads, key auth and traffic log columns as AML, so the lifecycle's
Endpoints and TrafficStats adapters meet the protocol they will meet in Azure.
Run: `python -m standins.endpoint.server --port 8501 --db .local/traffic.db --state-dir .local/endpoints --key KEY`.
"""
