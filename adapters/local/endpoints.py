"""LocalEndpoints: the Endpoints port against the local endpoint server (standins/endpoint).

The server speaks the shape of azure-ai-ml's online endpoint entities over HTTP with key auth,
so this adapter is a thin translation to the port's value types.
"""

from __future__ import annotations

from typing import Any

import requests

from core.kernel.ports import DeploymentInfo, EndpointInfo, ModelVersion, TrafficRuleError

_STATES = {"creating", "succeeded", "failed", "deleting"}


class EndpointError(RuntimeError):
    """The endpoint server refused or failed a call; `status` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class ScoringError(EndpointError):
    """A scoring request was not answered with 200 (model error 424, timeout 408, no route 404...)."""

    def __init__(self, status: int, message: str, deployment: str | None) -> None:
        super().__init__(status, message)
        self.deployment = deployment


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return str(err.get("message", err))
        if "message" in body:
            return str(body["message"])
    return str(body)[:500]


def _deployment(raw: dict[str, Any]) -> DeploymentInfo:
    state = raw.get("state", "failed")
    model = raw.get("model") or {}
    return DeploymentInfo(
        name=raw["name"],
        model_name=str(model.get("name", "")),
        model_version=str(model.get("version", "")),
        state=state if state in _STATES else "failed",
        message=str(raw.get("message", "")),
    )


def _endpoint(raw: dict[str, Any]) -> EndpointInfo:
    return EndpointInfo(
        name=raw["name"],
        scoring_uri=raw["scoring_uri"],
        traffic={k: int(v) for k, v in raw.get("traffic", {}).items()},
        mirror_traffic={k: int(v) for k, v in raw.get("mirror_traffic", {}).items()},
        deployments={k: _deployment(v) for k, v in raw.get("deployments", {}).items()},
    )


class LocalEndpoints:
    """Endpoints port on the local endpoint server at `base_url` (e.g. http://127.0.0.1:8501)."""

    def __init__(self, base_url: str, key: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Bearer {key}"

    def _call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> requests.Response:
        url = f"{self.base_url}{path}"
        try:
            return self._session.request(method, url, json=body, headers=headers, timeout=self.timeout)
        except requests.ConnectionError as exc:
            raise EndpointError(
                503, f"the local endpoint server at {self.base_url} is not reachable ({exc}); is it running?"
            ) from exc

    def _ok(self, response: requests.Response) -> Any:
        if response.status_code >= 400:
            message = _message(response)
            if response.status_code == 400 and "TrafficRuleViolation" in response.text:
                raise TrafficRuleError(message)
            raise EndpointError(response.status_code, message)
        return response.json()

    def ensure_endpoint(self, endpoint: str) -> EndpointInfo:
        return _endpoint(self._ok(self._call("PUT", f"/endpoints/{endpoint}", {})))

    def get(self, endpoint: str) -> EndpointInfo:
        response = self._call("GET", f"/endpoints/{endpoint}")
        if response.status_code == 404:
            raise LookupError(f"endpoint '{endpoint}' does not exist; create it with ensure_endpoint")
        return _endpoint(self._ok(response))

    def begin_deploy(
        self,
        endpoint: str,
        deployment: str,
        model: ModelVersion,
        *,
        instance_type: str = "Standard_DS3_v2",
        instance_count: int = 1,
        environment_variables: dict[str, str] | None = None,
    ) -> DeploymentInfo:
        body = {
            "model": {"name": model.name, "version": model.version, "uri": model.source_uri},
            "instance_type": instance_type,
            "instance_count": instance_count,
            "environment_variables": environment_variables or {},
        }
        return _deployment(
            self._ok(self._call("PUT", f"/endpoints/{endpoint}/deployments/{deployment}", body))
        )

    def deployment(self, endpoint: str, deployment: str) -> DeploymentInfo:
        response = self._call("GET", f"/endpoints/{endpoint}/deployments/{deployment}")
        if response.status_code == 404:
            return DeploymentInfo(deployment, "", "", "missing", _message(response))
        return _deployment(self._ok(response))

    def set_traffic(
        self, endpoint: str, traffic: dict[str, int], mirror_traffic: dict[str, int] | None = None
    ) -> EndpointInfo:
        """Apply a split atomically. mirror_traffic=None keeps the current mirror; pass {} to stop mirroring."""
        body: dict[str, Any] = {"traffic": traffic}
        if mirror_traffic is not None:
            body["mirror_traffic"] = mirror_traffic
        return _endpoint(self._ok(self._call("PATCH", f"/endpoints/{endpoint}", body)))

    def invoke(self, endpoint: str, payload: dict[str, Any], deployment: str | None = None) -> Any:
        headers = {"azureml-model-deployment": deployment} if deployment else None
        response = self._call("POST", f"/endpoints/{endpoint}/score", payload, headers)
        if response.status_code != 200:
            served = response.headers.get("azureml-model-deployment") or deployment
            raise ScoringError(response.status_code, _message(response), served)
        return response.json()

    def delete_deployment(self, endpoint: str, deployment: str) -> None:
        """Idempotent: deleting a deployment that is already gone succeeds."""
        response = self._call("DELETE", f"/endpoints/{endpoint}/deployments/{deployment}")
        if response.status_code == 404:
            return
        self._ok(response)

    def set_faults(
        self,
        endpoint: str,
        deployment: str,
        *,
        error_rate: float = 0.0,
        extra_latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
        error_status: int = 424,
    ) -> DeploymentInfo:
        """Local-only: make a deployment fail a share of requests or answer slower (tests, demo)."""
        body = {
            "error_rate": error_rate,
            "extra_latency_ms": extra_latency_ms,
            "jitter_ms": jitter_ms,
            "error_status": error_status,
        }
        return _deployment(
            self._ok(self._call("PUT", f"/endpoints/{endpoint}/deployments/{deployment}/faults", body))
        )

    def flush_telemetry(self) -> None:
        """Local-only: write the server's buffered traffic log rows now."""
        self._ok(self._call("POST", "/admin/flush"))
