"""A recording azure-core transport and a small stateful stand-in of the REST APIs the Azure adapters call.

The real SDK clients (azure-ai-ml, azure-monitor-query, azure-eventgrid) are built with
`transport=standin.transport()`: every request they send is recorded as a `Call` (method, host,
path, query, parsed JSON body) and answered by this stand-in, which keeps the state Azure would keep
(jobs, data and code assets, the code blobs the SDK uploads, models, online endpoints, deployments,
keys) so that what the adapter reads back is what it wrote. Tests assert on the recorded calls:
what Azure would *receive*, not what an SDK object holds.

Anything the stand-in does not know is answered 501 and recorded, and `unknown` lists it, so a new
SDK request shows up as a test failure instead of a silent default.

Errors have ARM's shape, `{"error": {"code", "message"}}` with the HTTP status (Azure Resource Manager
RPC, azure-resource-manager-rpc "common-api-details.md", error response content; a missing resource is
404 `ResourceNotFound`), which azure-core maps to ResourceNotFoundError as it does for Azure. Log
Analytics answers `{"tables": [{"name", "columns": [{"name", "type"}], "rows"}]}` as the query API
reference shows (learn.microsoft.com/rest/api/loganalytics/dataaccess/query/execute).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import RequestsTransport
from requests.adapters import BaseAdapter

SUBSCRIPTION = "00000000-0000-0000-0000-0000000000aa"
RESOURCE_GROUP = "rg-lifecycle"
WORKSPACE = "mlw-lifecycle"
LOCATION = "westeurope"
WS_PATH = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"
    f"/providers/Microsoft.MachineLearningServices/workspaces/{WORKSPACE}"
)
STORAGE_ACCOUNT = "stmllifecycle"
LA_WORKSPACE_ID = "11111111-2222-3333-4444-555555555555"
TOPIC_HOST = "evgt-lifecycle.westeurope-1.eventgrid.azure.net"
# the workspace's regional data plane (discovery, run history, data and model URI resolution)
DATAPLANE_HOST = f"{LOCATION}.api.azureml.ms"
ARTIFACT_CONTAINER = "azureml"  # workspaceartifactstore: MLflow model outputs
BLOBSTORE_CONTAINER = "azureml-blobstore-ws"  # workspaceblobstore: other named outputs


class FakeCredential:
    """A TokenCredential that needs no network (the stand-in does not check tokens)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("standin-token", int(datetime.now(UTC).timestamp()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo("standin-token", int(datetime.now(UTC).timestamp()) + 3600)


@dataclass
class Call:
    method: str
    host: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def api_version(self) -> str | None:
        return self.query.get("api-version")

    def __repr__(self) -> str:
        return f"{self.method} {self.host}{self.path}"


Answer = tuple[int, dict[str, str], Any]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _system_data() -> dict[str, Any]:
    now = _now()
    return {"createdAt": now, "createdBy": "standin", "lastModifiedAt": now, "lastModifiedBy": "standin"}


@dataclass
class AzureStandIn:
    """State of one AML workspace, its storage, a Log Analytics workspace and an Event Grid topic."""

    calls: list[Call] = field(default_factory=list)
    unknown: list[Call] = field(default_factory=list)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    codes: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    models: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    environments: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    deployments: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    # Log Analytics: (query, timespan) -> {"tables": [...]}
    logs_answer: Callable[[str, str | None], dict[str, Any]] = lambda q, t: {"tables": []}
    # jobs complete at once when set; else they stay Queued (or see complete_after_reads)
    auto_complete: bool = False
    # a job reports Running on reads and Completed on this many-th read after its submission
    complete_after_reads: int | None = None
    # what a job writes when it completes: (job name, job properties) -> {output: {relative path: bytes}};
    # the files land where AML puts a job's named outputs, and run history / the data planes resolve them
    job_writes: Callable[[str, dict[str, Any]], dict[str, dict[str, bytes]]] = lambda name, props: {}
    _job_reads: dict[str, int] = field(default_factory=dict)
    # the online endpoint's scoring route (call -> answer)
    score: Callable[[Call], Answer] = lambda call: (200, {}, [])
    # a deployment finishes provisioning the first time it is read after its creation
    deployments_succeed_on_read: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ plumbing

    def transport(self) -> RequestsTransport:
        session = requests.Session()
        adapter = _Adapter(self)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return RequestsTransport(session=session, session_owner=False)

    def sent(self, method: str | None = None, pattern: str = "") -> list[Call]:
        """Recorded calls, optionally of one method whose path matches `pattern` (a regex, searched)."""
        return [
            c
            for c in self.calls
            if (method is None or c.method == method) and re.search(pattern, c.host + c.path)
        ]

    def writes(self) -> list[Call]:
        """What changed state in Azure (no GETs, no token or discovery reads), in order."""
        return [c for c in self.calls if c.method in ("PUT", "PATCH", "POST", "DELETE")]

    def handle(self, call: Call) -> Answer:
        with self._lock:
            self.calls.append(call)
            try:
                answer = self._route(call)
            except KeyError as missing:
                return 404, {}, {"error": {"code": "ResourceNotFound", "message": f"{missing} not found"}}
            if answer is None:
                self.unknown.append(call)
                return 501, {}, {"error": {"code": "NotImplementedInStandIn", "message": repr(call)}}
            return answer

    # ------------------------------------------------------------------ routing

    def _route(self, c: Call) -> Answer | None:
        if c.host.endswith(".blob.core.windows.net"):
            return self._blob(c)
        if c.host == "api.loganalytics.azure.com" or c.host.endswith("api.loganalytics.io"):
            return self._logs(c)
        if c.host == TOPIC_HOST:
            return self._eventgrid(c)
        if c.host.endswith(".inference.ml.azure.com") and c.method == "POST" and c.path == "/score":
            return self.score(c)
        if c.host == DATAPLANE_HOST:
            return self._dataplane(c)
        if c.host != "management.azure.com":
            return None
        if not c.path.startswith(WS_PATH):
            return None
        rest = c.path[len(WS_PATH) :]
        body = c.json()
        routes: list[tuple[str, str, Callable[..., Answer]]] = [
            ("GET", r"", lambda: (200, {}, self._workspace())),
            ("GET", r"/datastores", lambda: (200, {}, {"value": [self._datastore("workspaceblobstore")]})),
            ("GET", r"/datastores/(?P<n>[^/]+)", lambda n: (200, {}, self._datastore(n))),
            (
                "POST",
                r"/datastores/(?P<n>[^/]+)/listSecrets",
                lambda n: (200, {}, {"secretsType": "AccountKey", "key": "a2V5"}),
            ),
            ("GET", r"/jobs/(?P<n>[^/]+)", lambda n: (200, {}, self._get_job(n))),
            ("PUT", r"/jobs/(?P<n>[^/]+)", lambda n: self._put_job(n, body)),
            ("POST", r"/jobs/(?P<n>[^/]+)/cancel", lambda n: self._cancel_job(n)),
            (
                "GET",
                r"/(?P<kind>data|codes|models|environments)/(?P<n>[^/]+)",
                lambda kind, n: self._get_container(kind, n),
            ),
            (
                "PUT",
                r"/(?P<kind>data|codes|models|environments)/(?P<n>[^/]+)",
                lambda kind, n: self._put_container(kind, n, body),
            ),
            (
                "GET",
                r"/(?P<kind>data|codes|models|environments)/(?P<n>[^/]+)/versions",
                lambda kind, n: self._list_versions(kind, n, c.query.get("hash")),
            ),
            (
                "POST",
                r"/codes/(?P<n>[^/]+)/versions/(?P<v>[^/]+)/startPendingUpload",
                lambda n, v: (200, {}, self._pending_upload(n, v)),
            ),
            (
                "GET",
                r"/(?P<kind>data|codes|models|environments)/(?P<n>[^/]+)/versions/(?P<v>[^/]+)",
                lambda kind, n, v: (200, {}, self._assets(kind)[(n, v)]),
            ),
            (
                "PUT",
                r"/(?P<kind>data|codes|models|environments)/(?P<n>[^/]+)/versions/(?P<v>[^/]+)",
                lambda kind, n, v: self._put_version(kind, n, v, body),
            ),
            ("GET", r"/onlineEndpoints/(?P<n>[^/]+)", lambda n: (200, {}, self.endpoints[n])),
            ("PUT", r"/onlineEndpoints/(?P<n>[^/]+)", lambda n: self._put_endpoint(n, body)),
            ("PATCH", r"/onlineEndpoints/(?P<n>[^/]+)", lambda n: self._put_endpoint(n, body, patch=True)),
            (
                "POST",
                r"/onlineEndpoints/(?P<n>[^/]+)/listKeys",
                lambda n: (200, {}, {"primaryKey": f"pk-{self.endpoints[n]['name']}", "secondaryKey": "sk"}),
            ),
            (
                "GET",
                r"/onlineEndpoints/(?P<e>[^/]+)/deployments",
                lambda e: (200, {}, {"value": [d for (en, _), d in self.deployments.items() if en == e]}),
            ),
            (
                "GET",
                r"/onlineEndpoints/(?P<e>[^/]+)/deployments/(?P<d>[^/]+)",
                lambda e, d: (200, {}, self._get_deployment(e, d)),
            ),
            (
                "PUT",
                r"/onlineEndpoints/(?P<e>[^/]+)/deployments/(?P<d>[^/]+)",
                lambda e, d: self._put_deployment(e, d, body),
            ),
            (
                "DELETE",
                r"/onlineEndpoints/(?P<e>[^/]+)/deployments/(?P<d>[^/]+)",
                lambda e, d: self._delete_deployment(e, d),
            ),
        ]
        for method, pattern, answer in routes:
            if c.method == method and (m := re.fullmatch(pattern, rest)):
                return answer(**m.groupdict())
        return None

    # ------------------------------------------------------------------ workspace and storage

    def _arm_id(self, rest: str) -> str:
        return WS_PATH + rest

    def _workspace(self) -> dict[str, Any]:
        return {
            "id": WS_PATH,
            "name": WORKSPACE,
            "type": "Microsoft.MachineLearningServices/workspaces",
            "location": LOCATION,
            "kind": "Default",
            "properties": {
                "discoveryUrl": f"https://{DATAPLANE_HOST}/discovery",
                "mlFlowTrackingUri": f"azureml://{LOCATION}.api.azureml.ms/mlflow/v1.0{WS_PATH}",
                "workspaceId": "ws-guid",
                "storageAccount": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.Storage/storageAccounts/{STORAGE_ACCOUNT}",
            },
        }

    def _datastore(self, name: str) -> dict[str, Any]:
        return {
            "id": self._arm_id(f"/datastores/{name}"),
            "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/datastores",
            "properties": {
                "datastoreType": "AzureBlob",
                "accountName": STORAGE_ACCOUNT,
                "containerName": ARTIFACT_CONTAINER
                if name == "workspaceartifactstore"
                else BLOBSTORE_CONTAINER,
                "endpoint": "core.windows.net",
                "protocol": "https",
                "isDefault": True,
                "credentials": {"credentialsType": "AccountKey"},
            },
        }

    def _blob(self, c: Call) -> Answer:
        key = c.host.split(".")[0] + c.path
        if c.method == "PUT":
            if c.query.get("comp") in ("metadata", "properties"):
                return 200, {"ETag": '"0x1"', "Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"}, b""
            if c.query.get("comp") in ("block", "blocklist"):
                return 201, {"ETag": '"0x1"', "Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"}, b""
            self.blobs[key] = c.body
            return (
                201,
                {"ETag": '"0x1"', "Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT", "Content-MD5": ""},
                b"",
            )
        if c.method == "GET" and c.query.get("restype") == "container" and c.query.get("comp") == "list":
            container = c.path.strip("/")
            prefix = f"{STORAGE_ACCOUNT}/{container}/" + c.query.get("prefix", "")
            names = "".join(
                f"<Blob><Name>{k.split('/', 2)[2]}</Name><Properties><Content-Length>{len(v)}</Content-Length>"
                "<BlobType>BlockBlob</BlobType></Properties></Blob>"
                for k, v in sorted(self.blobs.items())
                if k.startswith(prefix)
            )
            xml = (
                f'<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="https://{c.host}/" '
                f'ContainerName="{container}"><Blobs>{names}</Blobs><NextMarker/></EnumerationResults>'
            )
            return 200, {"Content-Type": "application/xml"}, xml.encode()
        if c.method in ("GET", "HEAD"):
            if key not in self.blobs:
                return 404, {"x-ms-error-code": "BlobNotFound"}, b""
            data = self.blobs[key]
            headers = {
                "x-ms-blob-type": "BlockBlob",
                "ETag": '"0x1"',
                "Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT",
                "Content-Type": "application/octet-stream",
            }
            if c.method == "GET" and (wanted := c.headers.get("x-ms-range") or c.headers.get("range")):
                first, _, last = wanted.removeprefix("bytes=").partition("-")
                end = min(int(last) if last else len(data) - 1, len(data) - 1)
                part = data[int(first) : end + 1]
                return 206, {**headers, "Content-Range": f"bytes {first}-{end}/{len(data)}"}, part
            if c.method == "HEAD":
                return 200, {**headers, "Content-Length": str(len(data))}, b""
            return 200, headers, data
        return 201, {}, b""

    # ------------------------------------------------------------------ jobs

    def _put_job(self, name: str, body: dict[str, Any]) -> Answer:
        props = dict(body["properties"])
        props["status"] = "Queued"
        props["services"] = {"Studio": {"endpoint": f"https://ml.azure.com/runs/{name}"}}
        self.jobs[name] = {
            "id": self._arm_id(f"/jobs/{name}"),
            "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/jobs",
            "properties": props,
            "systemData": _system_data(),
        }
        if self.auto_complete:
            self._complete_job(name)
        return 201, {}, self.jobs[name]

    def _get_job(self, name: str) -> dict[str, Any]:
        job = self.jobs[name]
        if self.complete_after_reads is not None and job["properties"]["status"] in ("Queued", "Running"):
            reads = self._job_reads[name] = self._job_reads.get(name, 0) + 1
            if reads >= self.complete_after_reads:
                self._complete_job(name)
            else:
                job["properties"]["status"] = "Running"
        return job

    def _output_location(self, job: str, output: str, kind: str) -> tuple[str, str, str]:
        """(datastore, container, folder) where AML writes a job's named output by default."""
        if kind in ("mlflow_model", "custom_model", "triton_model"):
            return "workspaceartifactstore", ARTIFACT_CONTAINER, f"ExperimentRun/dcid.{job}/{output}"
        return "workspaceblobstore", BLOBSTORE_CONTAINER, f"azureml/{job}/{output}"

    def _complete_job(self, name: str) -> None:
        """The job ran: its outputs are written to the workspace storage, then it is Completed."""
        props = self.jobs[name]["properties"]
        kinds = {
            out: (spec or {}).get("jobOutputType", "uri_folder")
            for out, spec in (props.get("outputs") or {}).items()
        }
        for output, files in self.job_writes(name, props).items():
            _, container, folder = self._output_location(name, output, kinds.get(output, "uri_folder"))
            for relative, data in files.items():
                self.put_blob(container, f"{folder}/{relative}", data)
        props["status"] = "Completed"

    def _cancel_job(self, name: str) -> Answer:
        self.jobs[name]["properties"]["status"] = "CancelRequested"
        return 202, {}, b""

    def put_blob(self, container: str, path: str, data: bytes) -> None:
        """A file a job wrote to the workspace storage (e.g. its MLflow model output)."""
        self.blobs[f"{STORAGE_ACCOUNT}/{container}/{path}"] = data

    def set_job_status(self, name: str, status: str) -> None:
        self.jobs[name]["properties"]["status"] = status

    # ------------------------------------------------------------------ assets (data, code, models)

    def _assets(self, kind: str) -> dict[tuple[str, str], dict[str, Any]]:
        return {
            "data": self.data,
            "codes": self.codes,
            "models": self.models,
            "environments": self.environments,
        }[kind]

    def _get_container(self, kind: str, name: str) -> Answer:
        versions = [v for (n, v) in self._assets(kind) if n == name]
        if not versions:
            raise KeyError(f"{kind}/{name}")
        numeric = [int(v) for v in versions if v.isdigit()]
        return 200, {}, self._container(kind, name, str(max(numeric)) if numeric else None)

    def _container(self, kind: str, name: str, latest: str | None) -> dict[str, Any]:
        return {
            "id": self._arm_id(f"/{kind}/{name}"),
            "name": name,
            "properties": {"latestVersion": latest, "nextVersion": str(int(latest or 0) + 1)},
            "systemData": _system_data(),
        }

    def _put_container(self, kind: str, name: str, body: dict[str, Any]) -> Answer:
        return 200, {}, {**self._container(kind, name, None), "properties": body.get("properties", {})}

    def _list_versions(self, kind: str, name: str, content_hash: str | None = None) -> Answer:
        items = [a for (n, _), a in self._assets(kind).items() if n == name]
        if content_hash is not None:  # the SDK asks whether this exact code was uploaded before
            items = [a for (_, _), a in self._assets(kind).items() if content_hash in json.dumps(a)]
        return 200, {}, {"value": items}

    def _pending_upload(self, name: str, version: str) -> dict[str, Any]:
        container = f"https://{STORAGE_ACCOUNT}.blob.core.windows.net/azureml-blobstore-ws"
        return {
            "pendingUploadId": f"{name}-{version}",
            "pendingUploadType": "TemporaryBlobReference",
            "blobReferenceForConsumption": {
                "blobUri": f"{container}/LocalUpload/{name}",
                "storageAccountArmId": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.Storage/storageAccounts/{STORAGE_ACCOUNT}",
                "credential": {"credentialType": "SAS", "sasUri": f"{container}?sv=2023-01-03&sig=standin"},
            },
        }

    def _put_version(self, kind: str, name: str, version: str, body: dict[str, Any]) -> Answer:
        existing = self._assets(kind).get((name, version))
        props = {"properties": {}, "tags": {}, **body["properties"]}  # the service fills these in
        if kind == "models":
            props.setdefault("flavors", {})
            if m := re.fullmatch(r"azureml://jobs/([^/]+)/outputs/([^/]+)", props.get("modelUri") or ""):
                # the service resolves a job output to where the job wrote it
                props["modelUri"] = (
                    f"azureml://subscriptions/{SUBSCRIPTION}/resourcegroups/{RESOURCE_GROUP}/workspaces/"
                    f"{WORKSPACE}/datastores/workspaceartifactstore/paths/ExperimentRun/dcid.{m[1]}/{m[2]}"
                )
        asset = {
            "id": self._arm_id(f"/{kind}/{name}/versions/{version}"),
            "name": version,
            "type": f"Microsoft.MachineLearningServices/workspaces/{kind}/versions",
            "properties": props,
            "systemData": existing["systemData"] if existing else _system_data(),
        }
        self._assets(kind)[(name, version)] = asset
        return (200 if existing else 201), {}, asset

    # ------------------------------------------------------------------ online endpoints

    def add_endpoint(self, name: str, *, traffic: dict[str, int] | None = None) -> None:
        self.endpoints[name] = self._endpoint_body(name, {"authMode": "Key", "traffic": traffic or {}})

    def _endpoint_body(self, name: str, props: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self._arm_id(f"/onlineEndpoints/{name}"),
            "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
            "location": LOCATION,
            "kind": "Managed",
            "identity": {"type": "SystemAssigned", "principalId": "p", "tenantId": "t"},
            "properties": {
                "properties": {},
                **props,
                "scoringUri": f"https://{name}.{LOCATION}.inference.ml.azure.com/score",
                "provisioningState": "Succeeded",
            },
            "systemData": _system_data(),
        }

    def _put_endpoint(self, name: str, body: dict[str, Any], *, patch: bool = False) -> Answer:
        props = dict(body.get("properties") or {})
        props.pop("scoringUri", None)
        props.pop("provisioningState", None)
        if patch:
            props = {**self.endpoints[name]["properties"], **props}
        self.endpoints[name] = self._endpoint_body(name, props)
        return 200, {}, self.endpoints[name]

    def _put_deployment(self, endpoint: str, name: str, body: dict[str, Any]) -> Answer:
        if endpoint not in self.endpoints:
            raise KeyError(f"onlineEndpoints/{endpoint}")
        # what the service fills in for a managed deployment it accepted
        props = {
            "scaleSettings": {"scaleType": "Default"},
            **body["properties"],
            "provisioningState": "Creating",
        }
        self.deployments[(endpoint, name)] = {
            "id": self._arm_id(f"/onlineEndpoints/{endpoint}/deployments/{name}"),
            "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
            "location": LOCATION,
            "kind": "Managed",
            "sku": body.get("sku"),
            "tags": body.get("tags"),
            "properties": props,
            "systemData": _system_data(),
        }
        return 200, {}, self.deployments[(endpoint, name)]

    def _get_deployment(self, endpoint: str, name: str) -> dict[str, Any]:
        deployment = self.deployments[(endpoint, name)]
        if self.deployments_succeed_on_read and deployment["properties"]["provisioningState"] == "Creating":
            deployment["properties"]["provisioningState"] = "Succeeded"
        return deployment

    def finish_deployment(self, endpoint: str, name: str, state: str = "Succeeded") -> None:
        self.deployments[(endpoint, name)]["properties"]["provisioningState"] = state

    def _delete_deployment(self, endpoint: str, name: str) -> Answer:
        del self.deployments[(endpoint, name)]
        return 200, {}, b""

    # ------------------------------------------------------------------ the workspace's data plane

    def _dataplane(self, c: Call) -> Answer | None:
        """Discovery, run history and the data/model URI resolution `jobs.download` goes through."""
        if c.method == "GET" and c.path == "/discovery":
            api = f"https://{DATAPLANE_HOST}"
            return (
                200,
                {},
                {
                    "api": api,
                    "catalog": api,
                    "experimentation": api,
                    "history": api,
                    "modelmanagement": api,
                    "pipelines": api,
                    "studio": "https://ml.azure.com",
                },
            )
        if c.method != "POST":
            return None
        body = c.json() or {}
        if c.path == f"/history/v1.0{WS_PATH}/rundata":
            return 200, {}, {"runMetadata": self._run_metadata(body["runId"])}
        if c.path == f"/data/v1.0{WS_PATH}/dataversion/batchGetResolvedUris":
            return (
                200,
                {},
                {"values": {i: {"uri": self._asset_uri(i), "type": "uri_folder"} for i in body["values"]}},
            )
        if c.path == f"/modelregistry/v1.0{WS_PATH}/models/batchGetResolvedUris":
            return (
                200,
                {},
                {"values": {i: {"path": self._asset_uri(i), "type": "MLFlowModel"} for i in body["values"]}},
            )
        return None

    def _run_metadata(self, run_id: str) -> dict[str, Any]:
        """A run's outputs as run history reports them: each an asset id and its type."""
        props = self.jobs[run_id]["properties"]
        outputs = {}
        for output, spec in (props.get("outputs") or {}).items():
            kind = (spec or {}).get("jobOutputType", "uri_folder")
            model = kind.endswith("_model")
            asset = f"azureml://locations/{LOCATION}/workspaces/ws-guid/{'models' if model else 'data'}/azureml_{run_id}_output_{output}/versions/1"
            outputs[output] = {"assetId": asset, "type": "MLFlowModel" if kind == "mlflow_model" else kind}
        return {"runId": run_id, "status": props["status"], "outputs": outputs}

    def _asset_uri(self, asset_id: str) -> str:
        m = re.fullmatch(r".*/azureml_(?P<job>.+)_output_(?P<out>[^/]+)/versions/1", asset_id)
        if m is None:
            raise KeyError(asset_id)
        spec = (self.jobs[m["job"]]["properties"].get("outputs") or {}).get(m["out"]) or {}
        datastore, _, folder = self._output_location(
            m["job"], m["out"], spec.get("jobOutputType", "uri_folder")
        )
        return (
            f"azureml://subscriptions/{SUBSCRIPTION}/resourcegroups/{RESOURCE_GROUP}/workspaces/{WORKSPACE}"
            f"/datastores/{datastore}/paths/{folder}/"
        )

    # ------------------------------------------------------------------ Log Analytics and Event Grid

    def _logs(self, c: Call) -> Answer | None:
        if c.method != "POST" or not re.fullmatch(r"/v1/workspaces/[^/]+/query", c.path):
            return None
        body = c.json()
        return 200, {}, self.logs_answer(body["query"], body.get("timespan"))

    def _eventgrid(self, c: Call) -> Answer | None:
        if c.method != "POST" or c.path != "/api/events":
            return None
        self.events.extend(c.json())
        return 200, {}, b""


class _Adapter(BaseAdapter):
    """requests' transport adapter that answers from the stand-in instead of the network."""

    def __init__(self, standin: AzureStandIn):
        super().__init__()
        self._standin = standin

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(request.url or "")
        body = request.body
        if body is None:
            raw = b""
        elif isinstance(body, str):
            raw = body.encode()
        elif isinstance(body, bytes):
            raw = body
        else:  # a stream or file the SDK uploads
            raw = body.read() if hasattr(body, "read") else b"".join(body)
        call = Call(
            method=request.method or "GET",
            host=parts.hostname or "",
            path=parts.path,
            query={k: v[-1] for k, v in parse_qs(parts.query).items()},
            headers={k.lower(): v for k, v in request.headers.items()},
            body=raw,
        )
        status, headers, payload = self._standin.handle(call)
        response = requests.Response()
        response.status_code = status
        content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        response._content = content
        response.headers.update(
            {"Content-Type": "application/json", "Content-Length": str(len(content)), **headers}
        )
        response.url = request.url or ""
        response.request = request
        response.reason = "stand-in"
        response.encoding = "utf-8"
        import io

        response.raw = io.BytesIO(content)
        return response

    def close(self) -> None:
        pass
