"""A recording azure-core transport answering from a small stateful Azure ML stand-in.

Passed as `MLClient(..., transport=AmlStandIn())`, it receives every request the SDK builds (ARM,
the batch endpoint's scoring URI, registry discovery and the registry data plane), records it,
and answers from in-memory state for the routes the batch-endpoint and registry adapters use.
Tests assert on the recorded requests: what Azure would receive, checked against the REST spec.

Long-running operations answer as ARM does for an asynchronous PUT/DELETE: 201/202 with the
resource in a non-terminal state; the stand-in moves it to a terminal state only when the test
says so (`finish`), so an adapter that waited on a poller would hang the test instead of passing.

Owned by task H (batch/registry routes); fold into task D's stand-in when both land.
"""

from __future__ import annotations

import io
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from azure.core.pipeline._tools import is_rest
from azure.core.pipeline.transport import HttpTransport, RequestsTransportResponse
from azure.core.pipeline.transport._base import _HttpResponseBase
from azure.core.rest._requests_basic import RestRequestsTransportResponse

SUB, RG, WS, LOCATION = "00000000-0000-0000-0000-000000000001", "rg-ml", "mlw-dev", "westeurope"
WS_ID = (
    f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.MachineLearningServices/workspaces/{WS}"
)
REGISTRY_RG = "rg-shared"
REGISTRY_HOST = "https://westeurope.api.azureml.ms"
BATCH_HOST = "https://{endpoint}.westeurope.inference.ml.azure.com"
WORKSPACE_GUID = "11111111-2222-3333-4444-555555555555"


@dataclass
class Recorded:
    method: str
    url: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def api_version(self) -> str:
        return self.query.get("api-version", [""])[0]


def _body(request: Any) -> bytes:
    data = request.body if request.body is not None else getattr(request, "data", None)
    if data is None:
        return b""
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, bytes):
        return data
    return json.dumps(data).encode()


@dataclass
class AmlStandIn(HttpTransport):
    requests: list[Recorded] = field(default_factory=list)
    batch_endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    batch_deployments: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # workspace models
    registry_models: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    importing: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # invisible until finished
    registry: str = "shared-ml"
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ HttpTransport

    def __enter__(self) -> AmlStandIn:
        return self

    def __exit__(self, *args: Any) -> None:
        pass

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def send(self, request: Any, **kwargs: Any) -> Any:
        parts = urlsplit(request.url)
        rec = Recorded(
            method=request.method,
            url=request.url,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=_body(request),
        )
        with self._lock:
            self.requests.append(rec)
            status, payload, headers = self._route(rec, parts.netloc)
        response = requests.Response()
        response.status_code = status
        response.raw = io.BytesIO(json.dumps(payload).encode() if payload is not None else b"")
        response.headers["Content-Type"] = "application/json"
        response.headers.update(headers)
        response.url = request.url
        response.reason = "OK" if status < 400 else "Error"
        if is_rest(request):  # as azure-core's RequestsTransport does for azure.core.rest requests
            rest = RestRequestsTransportResponse(request=request, internal_response=response)
            if not kwargs.get("stream"):
                rest.read()
            return rest
        legacy: _HttpResponseBase = RequestsTransportResponse(request, response)
        return legacy

    # ------------------------------------------------------------------ test controls

    def finish(self, kind: str, name: str, state: str = "Succeeded") -> None:
        """Complete an asynchronous operation: a batch endpoint, a batch deployment
        ('endpoint/deployment'), a job (state Completed/Failed) or a registry import ('name:version')."""
        with self._lock:
            if kind == "endpoint":
                self.batch_endpoints[name]["properties"]["provisioningState"] = state
            elif kind == "deployment":
                ep, dep = name.split("/")
                self.batch_deployments[(ep, dep)]["properties"]["provisioningState"] = state
            elif kind == "job":
                self.jobs[name]["properties"]["status"] = state
            elif kind == "registry_import":
                n, v = name.split(":")
                self.registry_models[(n, v)] = self.importing.pop((n, v))

    def of(self, method: str, pattern: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    def add_model(self, name: str, version: str, tags: dict[str, str]) -> None:
        self.models[(name, version)] = self._model_body(
            f"{WS_ID}/models/{name}/versions/{version}", name, version, tags
        )

    # ------------------------------------------------------------------ routes

    def _route(self, r: Recorded, host: str) -> tuple[int, Any, dict[str, str]]:
        if host.endswith("inference.ml.azure.com"):
            return self._invoke(r, host.split(".", 1)[0])
        p = r.path
        if m := re.fullmatch(r"/registrymanagement/v1\.0/registries/([^/]+)/discovery", p):
            return self._discovery(m[1])
        if m := re.fullmatch(WS_ID_RE + r"/batchEndpoints/([^/]+)", p):
            return self._endpoint(r, m[1])
        if m := re.fullmatch(WS_ID_RE + r"/batchEndpoints/([^/]+)/deployments", p):
            return 200, {"value": [d for (e, _), d in self.batch_deployments.items() if e == m[1]]}, {}
        if m := re.fullmatch(WS_ID_RE + r"/batchEndpoints/([^/]+)/deployments/([^/]+)", p):
            return self._deployment(r, m[1], m[2])
        if m := re.fullmatch(WS_ID_RE + r"/models/([^/]+)/versions/([^/]+)", p):
            found = self.models.get((m[1], m[2]))
            return (200, found, {}) if found else _not_found(f"model {m[1]}:{m[2]}")
        if m := re.fullmatch(WS_ID_RE + r"/jobs/([^/]+)", p):
            found = self.jobs.get(m[1])
            return (200, found, {}) if found else _not_found(f"job {m[1]}")
        if re.fullmatch(WS_ID_RE, p) and r.method == "GET":
            return 200, self._workspace(), {}
        if m := re.fullmatch(REG_RE + r"/models/([^/]+)/versions/([^/]+)", p):
            return self._registry_model(r, m[1], m[2])
        if m := re.fullmatch(REG_RE + r"/models/([^/]+)/versions", p):
            return 200, {"value": [v for (n, _), v in self.registry_models.items() if n == m[1]]}, {}
        if m := re.fullmatch(REG_RE + r"/models/([^/]+)", p):
            exists = any(n == m[1] for n, _ in self.registry_models)
            return (200, {"id": p, "name": m[1], "properties": {}}, {}) if exists else _not_found(m[1])
        if re.fullmatch(REG_RE + r"/import", p) and r.method == "POST":
            return self._import(r)
        if m := re.fullmatch(r"/mferp/managementfrontend/operations/import-([^/]+)-([^/]+)", p):
            done = (m[1], m[2]) in self.registry_models
            return (200, {"status": "Succeeded"}, {}) if done else (202, None, {"Retry-After": "3600"})
        return 404, {"error": {"code": "NoRoute", "message": f"stand-in has no route for {r.method} {p}"}}, {}

    def _workspace(self) -> dict[str, Any]:
        return {
            "id": WS_ID,
            "name": WS,
            "location": LOCATION,
            "properties": {"workspaceId": WORKSPACE_GUID, "discoveryUrl": f"{REGISTRY_HOST}/discovery"},
        }

    def _endpoint(self, r: Recorded, name: str) -> tuple[int, Any, dict[str, str]]:
        current = self.batch_endpoints.get(name)
        if r.method == "GET":
            return (200, current, {}) if current else _not_found(f"batch endpoint {name}")
        if r.method == "PUT":
            body = r.json()
            props = dict(body.get("properties") or {})
            props["provisioningState"] = "Succeeded" if current else "Creating"
            props["scoringUri"] = BATCH_HOST.format(endpoint=name) + "/jobs"
            resource = {
                "id": f"{WS_ID}/batchEndpoints/{name}",
                "name": name,
                "type": "Microsoft.MachineLearningServices/workspaces/batchEndpoints",
                "location": body.get("location", LOCATION),
                "tags": body.get("tags") or {},
                "properties": props,
            }
            self.batch_endpoints[name] = resource
            return (200 if current else 201), resource, {}
        return 405, None, {}

    def _deployment(self, r: Recorded, ep: str, name: str) -> tuple[int, Any, dict[str, str]]:
        current = self.batch_deployments.get((ep, name))
        if r.method == "GET":
            return (200, current, {}) if current else _not_found(f"batch deployment {ep}/{name}")
        if r.method == "PUT":
            body = r.json()
            resource = {
                "id": f"{WS_ID}/batchEndpoints/{ep}/deployments/{name}",
                "name": name,
                "type": "Microsoft.MachineLearningServices/workspaces/batchEndpoints/deployments",
                "location": body.get("location", LOCATION),
                "tags": body.get("tags") or {},
                "properties": {**(body.get("properties") or {}), "provisioningState": "Creating"},
                "systemData": {"createdAt": f"2026-01-01T00:{len(self.batch_deployments):02d}:00Z"},
            }
            self.batch_deployments[(ep, name)] = resource
            return 201, resource, {}
        if r.method == "DELETE":
            if current is None:
                return 204, None, {}
            current["properties"]["provisioningState"] = "Deleting"
            del self.batch_deployments[(ep, name)]
            return 202, None, {"Location": f"https://management.azure.com{r.path}/operationResults/x"}
        return 405, None, {}

    def _invoke(self, r: Recorded, endpoint: str) -> tuple[int, Any, dict[str, str]]:
        body = r.json()["properties"]
        name = body.get("name") or body.get("jobName") or f"batchjob-{len(self.jobs)}"
        job = {
            "id": f"{WS_ID}/jobs/{name}",
            "name": name,
            "properties": {
                "jobType": "Pipeline",
                "status": "Queued",
                "experimentName": endpoint,
                "displayName": name,
                "inputs": {},
                "outputs": {},
                "jobs": {},
                "properties": {},
                "tags": {},
            },
        }
        self.jobs[name] = job
        # the scoring API answers with a BatchJob resource (the v2020-09 data plane)
        return 200, {"id": job["id"], "name": name, "properties": {**body, "status": "NotStarted"}}, {}

    def _discovery(self, name: str) -> tuple[int, Any, dict[str, str]]:
        if name != self.registry:
            return _not_found(f"registry {name}")
        return (
            200,
            {
                "registryName": name,
                "primaryRegion": LOCATION,
                "regions": [LOCATION],
                "subscriptionId": SUB,
                "resourceGroup": REGISTRY_RG,
                "primaryRegionResourceProviderUri": f"{REGISTRY_HOST}/",
                "registryFqdns": {LOCATION: {"api": REGISTRY_HOST}},
            },
            {},
        )

    @staticmethod
    def _model_body(arm_id: str, name: str, version: str, tags: dict[str, str]) -> dict[str, Any]:
        return {
            "id": arm_id,
            "name": version,
            "type": "Microsoft.MachineLearningServices/models/versions",
            "properties": {
                "modelType": "mlflow_model",
                "modelUri": f"azureml://models/{name}/versions/{version}",
                "flavors": {"python_function": {"data": {"loader_module": "mlflow.xgboost"}}},
                "tags": tags,
                "properties": {},
                "provisioningState": "Succeeded",
            },
            "systemData": {"createdAt": "2026-01-01T00:00:00Z"},
        }

    def _registry_model(self, r: Recorded, name: str, version: str) -> tuple[int, Any, dict[str, str]]:
        found = self.registry_models.get((name, version))
        if r.method == "GET":
            return (200, found, {}) if found else _not_found(f"registry model {name}:{version}")
        return 405, None, {}

    def _import(self, r: Recorded) -> tuple[int, Any, dict[str, str]]:
        body = r.json()["properties"]
        name, version = body["destinationName"], body["destinationVersion"]
        asset = body.get("sourceAssetId", "")
        m = re.search(r"/models/([^/]+)/versions/([^/]+)$", asset)
        source = self.models.get((m[1], m[2])) if m else None
        if source is None:
            return 400, {"error": {"code": "UserError", "message": f"unknown asset {asset}"}}, {}
        copy = self._model_body(
            f"azureml://registries/{self.registry}/models/{name}/versions/{version}",
            name,
            version,
            dict(source["properties"]["tags"]),
        )
        self.importing[(name, version)] = copy
        operation = f"{REGISTRY_HOST}/mferp/managementfrontend/operations/import-{name}-{version}"
        return 202, None, {"Location": operation, "Retry-After": "3600"}


WS_ID_RE = re.escape(WS_ID)
REG_RE = (
    r"(?:/mferp/managementfrontend)?/subscriptions/[^/]+/resourceGroups/[^/]+"
    r"/providers/Microsoft\.MachineLearningServices/registries/[^/]+"
)


def _not_found(what: str) -> tuple[int, Any, dict[str, str]]:
    return 404, {"error": {"code": "ResourceNotFound", "message": f"{what} not found"}}, {}
