"""DriftFigures on Azure: the drift monitor's rows into a Log Analytics custom table through the
Logs Ingestion API, where the drift alert rule (infra/app/drift.bicep) queries them.

The call, as Microsoft documents it ("Logs Ingestion API in Azure Monitor",
https://learn.microsoft.com/azure/azure-monitor/logs/logs-ingestion-api-overview, and its REST
reference "Logs Ingestion - Upload", api-version 2023-01-01):

    POST {logs ingestion endpoint of the DCR, or a DCE}/dataCollectionRules/{DCR immutable id}
         /streams/Custom-{table}?api-version=2023-01-01
    Authorization: Bearer <token for https://monitor.azure.com/.default>
    Content-Type: application/json
    [ {column: value, ...}, ... ]          -> 204 No Content

The identity needs "Monitoring Metrics Publisher" on the DCR (infra/app/rbac.bicep). A call takes at
most 1 MB; a check writes one small row per watched column, far below it, and the SDK client
(azure-monitor-ingestion) is not shipped for this one request, so azure-core's pipeline sends it
with the same bearer-token and retry policies the SDK clients use.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from azure.core import PipelineClient
from azure.core.credentials import TokenCredential
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline import policies
from azure.core.rest import HttpRequest

from core.kernel.settings import Settings
from core.monitoring.figures import STREAM, DriftFigure

API_VERSION = "2023-01-01"
SCOPE = "https://monitor.azure.com/.default"
MAX_BODY = 1_000_000  # the API refuses calls over 1 MB


class LogsIngestionDriftFigures:
    def __init__(
        self,
        endpoint: str,
        rule_id: str,
        credential: TokenCredential,
        *,
        stream: str = STREAM,
        transport: Any = None,
    ) -> None:
        self._endpoint = endpoint.rstrip("/")
        self._rule_id, self._stream = rule_id, stream
        kwargs: dict[str, Any] = {"transport": transport} if transport is not None else {}
        self._client: PipelineClient = PipelineClient(
            self._endpoint,
            policies=[
                policies.HeadersPolicy(),
                policies.UserAgentPolicy("mllifecycle-drift"),
                policies.RetryPolicy(),
                policies.BearerTokenCredentialPolicy(credential, SCOPE),
                policies.NetworkTraceLoggingPolicy(),
            ],
            **kwargs,
        )

    @classmethod
    def connect(
        cls, credential: TokenCredential, settings: Settings, **kwargs: Any
    ) -> LogsIngestionDriftFigures:
        settings.require("drift_ingestion_endpoint", "drift_rule_id")
        assert settings.drift_ingestion_endpoint is not None and settings.drift_rule_id is not None
        return cls(settings.drift_ingestion_endpoint, settings.drift_rule_id, credential, **kwargs)

    def publish(self, figures: Sequence[DriftFigure]) -> None:
        if not figures:
            return
        body = json.dumps([f.row() for f in figures]).encode()
        if len(body) > MAX_BODY:
            raise ValueError(
                f"{len(figures)} drift figures are {len(body)} bytes; the Logs Ingestion API takes 1 MB"
            )
        request = HttpRequest(
            "POST",
            f"{self._endpoint}/dataCollectionRules/{self._rule_id}/streams/{self._stream}",
            params={"api-version": API_VERSION},
            headers={"Content-Type": "application/json"},
            content=body,
        )
        response = self._client.send_request(request)
        if response.status_code not in (200, 204):
            raise HttpResponseError(
                message=f"Logs Ingestion API refused the drift figures ({response.status_code}): {response.text()[:500]}",
                response=response,
            )
