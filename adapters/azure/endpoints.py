"""Endpoints on azure-ai-ml managed online endpoints (blue/green deployments, traffic, mirror).

Every long-running operation is begun (`begin_create_or_update`, `begin_delete`) and NOT waited
for: an activity must return in seconds, and the orchestrator polls `deployment()` / `get()` with
durable timers. MLflow models deploy without a scoring script or environment (AML's no-code
MLflow deployment), which is why `begin_deploy` needs only the registered model.

Traffic splits are checked here before AML sees them, with the same rules AML enforces (and the
local endpoint server enforces), so a refused split fails fast with a message naming the fix.

With `collect_predictions` (the policy has ML-aware gates) a deployment is created with AML model
data collection: payload logging (`request`/`response`, which a no-code MLflow deployment fills
without a scoring script), the `model_inputs`/`model_outputs` collections (filled when AML
instruments the MLflow scoring script, as studio's switch does), sampling 1.0 and the client's
`x-ms-client-request-id` captured, so adapters/azure/prediction_log.py can pair a mirrored request
with its original. `invoke` sends a fresh `x-ms-client-request-id` with every request for that reason.
See prediction_log.py for the mechanism, its documentation and its limits.

A model version trained on an online feature set (its deployment environment carries FEATURE_SET_VERSION,
core/rollout/online_features.py) is the exception to no-code serving: AML's own MLflow script cannot fill
an id-only row, so the deployment gets `code_configuration` (adapters/azure/scoring/score.py, with
core/rollout/online_features.py beside it in the uploaded code folder), the serving environment
(scoring/conda.yaml on SCORING_IMAGE: a custom script needs one, Microsoft's "Deploy MLflow models to
online endpoints", customize with a scoring script) and the store's location as environment variables.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from azure.ai.ml import MLClient
from azure.ai.ml.entities import (
    CodeConfiguration,
    DataCollector,
    DeploymentCollection,
    Environment,
    ManagedOnlineDeployment,
    ManagedOnlineEndpoint,
    RequestLogging,
)
from azure.core.exceptions import ResourceNotFoundError

from core.kernel.ports import DeploymentInfo, DeploymentState, EndpointInfo, ModelVersion, TrafficRuleError
from core.rollout.online_features import FEATURE_SET_VERSION_ENV
from core.rollout.traffic_rules import validate_split

AML_SCOPE = "https://ml.azure.com/.default"
# payload logging (reserved names) and custom logging (the names model monitoring recognises)
PREDICTION_COLLECTIONS = ("request", "response", "model_inputs", "model_outputs")
CLIENT_REQUEST_ID = "x-ms-client-request-id"
_PROVISIONING: dict[str, DeploymentState] = {
    "creating": "creating",
    "updating": "creating",
    "scaling": "creating",
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "failed",
    "deleting": "deleting",
}
# azureml:name:version, or an ARM id …/models/{name}/versions/{version}
_MODEL_REF = re.compile(r"(?:azureml:)?(?:.*/models/)?(?P<name>[^:/]+)(?::|/versions/)(?P<version>[^:/]+)$")


SCORING_DIR = Path(__file__).resolve().parent / "scoring"
SCORING_SCRIPT = "score.py"
SCORING_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
# the core modules the script imports, copied beside it (paths relative to the repository root)
SCORING_CORE = ("core/__init__.py", "core/rollout/__init__.py", "core/rollout/online_features.py")
_REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class FeatureStoreLocation:
    """Where a deployment that serves by entity id reads its features (the app's own container)."""

    endpoint: str
    database: str
    container: str = "features"
    client_id: str = ""  # a user-assigned identity's client id; empty: the endpoint's system identity

    def environment(self) -> dict[str, str]:
        env = {
            "FEATURE_STORE_ENDPOINT": self.endpoint,
            "FEATURE_STORE_DATABASE": self.database,
            "FEATURE_STORE_CONTAINER": self.container,
        }
        if self.client_id:
            env["FEATURE_STORE_CLIENT_ID"] = self.client_id
        return env


def stage_scoring_code(folder: Path) -> Path:
    """The deployment's code folder: score.py at its root, the core modules it imports beside it."""
    shutil.copy2(SCORING_DIR / SCORING_SCRIPT, folder / SCORING_SCRIPT)
    for relative in SCORING_CORE:
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(_REPO / relative, target)
    return folder


def scoring_environment() -> Environment:
    return Environment(
        image=SCORING_IMAGE,
        conda_file=str(SCORING_DIR / "conda.yaml"),
        description="serving by entity id: the model's packages, the inference server, azure-identity, azure-cosmos",
    )


def _state_name(state: Any) -> str:
    """A provisioning state as AML spells it. The SDK hands back its REST enum (a str subclass whose
    str() is "EndpointProvisioningState.SUCCEEDED"), so read `.value` rather than str()."""
    return str(getattr(state, "value", state) or "")


def prediction_collector() -> DataCollector:
    """A fresh DataCollector each time: azure-ai-ml's `_to_rest_object` deletes attributes of the
    object it serialises, so one instance cannot be sent twice."""
    return DataCollector(
        collections={name: DeploymentCollection(enabled="true") for name in PREDICTION_COLLECTIONS},
        rolling_rate="Hour",
        sampling_rate=1.0,
        request_logging=RequestLogging(capture_headers=[CLIENT_REQUEST_ID]),
    )


def _deployment_info(dep: ManagedOnlineDeployment) -> DeploymentInfo:
    model_ref = (
        dep.model
        if isinstance(dep.model, str)
        else f"{getattr(dep.model, 'name', '')}:{getattr(dep.model, 'version', '')}"
    )
    match = _MODEL_REF.search(model_ref or "")
    state = _PROVISIONING.get((_state_name(dep.provisioning_state) or "creating").lower(), "creating")
    return DeploymentInfo(
        name=str(dep.name),
        model_name=match["name"] if match else "",
        model_version=match["version"] if match else "",
        state=state,
        message=""
        if state != "failed"
        else f"AML provisioning state {_state_name(dep.provisioning_state)}; see the deployment logs",
    )


class AzureMLEndpoints:
    def __init__(
        self,
        ml_client: MLClient,
        *,
        credential: Any = None,
        http: requests.Session | None = None,
        timeout: float = 60.0,
        collect_predictions: bool = False,
        feature_store: FeatureStoreLocation | None = None,
    ):
        self._ml = ml_client
        self._collect_predictions = collect_predictions
        self._feature_store = feature_store
        self._credential = credential  # for aad_token endpoints
        self._http = http or requests.Session()
        self._timeout = timeout

    @classmethod
    def connect(
        cls,
        credential: Any,
        subscription_id: str,
        resource_group: str,
        workspace: str,
        *,
        collect_predictions: bool = False,
        feature_store: FeatureStoreLocation | None = None,
    ) -> AzureMLEndpoints:
        return cls(
            MLClient(credential, subscription_id, resource_group, workspace),
            credential=credential,
            collect_predictions=collect_predictions,
            feature_store=feature_store,
        )

    def _info(self, ep: ManagedOnlineEndpoint) -> EndpointInfo:
        deployments = {
            d.name: _deployment_info(d) for d in self._ml.online_deployments.list(endpoint_name=ep.name)
        }
        return EndpointInfo(
            name=str(ep.name),
            scoring_uri=ep.scoring_uri or "",
            traffic={k: int(v) for k, v in (ep.traffic or {}).items()},
            mirror_traffic={k: int(v) for k, v in (ep.mirror_traffic or {}).items() if int(v)},
            deployments=deployments,
        )

    def ensure_endpoint(self, endpoint: str) -> EndpointInfo:
        """infra/ creates the endpoint; this creates it (without waiting) only if it is missing."""
        try:
            return self.get(endpoint)
        except KeyError:
            ep = ManagedOnlineEndpoint(
                name=endpoint, auth_mode="key", description="managed by the ML lifecycle"
            )
            self._ml.online_endpoints.begin_create_or_update(ep)
            return EndpointInfo(name=endpoint, scoring_uri="", traffic={}, mirror_traffic={}, deployments={})

    def get(self, endpoint: str) -> EndpointInfo:
        try:
            return self._info(self._ml.online_endpoints.get(name=endpoint))
        except ResourceNotFoundError:
            raise KeyError(f"online endpoint {endpoint!r} does not exist in the AML workspace") from None

    def begin_deploy(
        self,
        endpoint: str,
        deployment: str,
        model: ModelVersion,
        *,
        instance_type: str = "Standard_DS3_v2",
        instance_count: int = 1,
        environment_variables: dict[str, str] | None = None,
        collect_predictions: bool | None = None,
    ) -> DeploymentInfo:
        """`collect_predictions` (default: the constructor's) turns on model data collection."""
        ep = self._ml.online_endpoints.get(name=endpoint)
        if _state_name(ep.provisioning_state).lower() not in ("succeeded", ""):
            raise RuntimeError(
                f"endpoint {endpoint} is {_state_name(ep.provisioning_state)}; a deployment can be created once it has succeeded (retry)"
            )
        current = self.deployment(endpoint, deployment)
        if current.state in ("creating", "succeeded") and (current.model_name, current.model_version) == (
            model.name,
            model.version,
        ):
            return current  # idempotent: a replayed activity does not redeploy
        environment = dict(environment_variables or {})
        by_entity = bool(environment.get(FEATURE_SET_VERSION_ENV))
        if by_entity:
            if self._feature_store is None:
                raise RuntimeError(
                    f"model {model.name} v{model.version} serves by entity id (feature set version "
                    f"{environment[FEATURE_SET_VERSION_ENV]}) but no online feature store is configured for "
                    "its deployments (COSMOS_ENDPOINT / FEATURE_STORE_ENDPOINT)"
                )
            environment.update(self._feature_store.environment())
        with tempfile.TemporaryDirectory(prefix="scoring-") as folder:
            dep = ManagedOnlineDeployment(
                name=deployment,
                endpoint_name=endpoint,
                # a registry version (a deploy-only environment) is deployed by its registry URI,
                # azureml://registries/{registry}/models/{name}/versions/{version}; a workspace one by name
                model=model.source_uri
                if model.source_uri.startswith("azureml://registries/")
                else f"azureml:{model.name}:{model.version}",
                instance_type=instance_type,
                instance_count=instance_count,
                environment_variables=environment,
                # serving by entity id needs our script (and so an environment); otherwise no-code MLflow
                code_configuration=CodeConfiguration(
                    code=str(stage_scoring_code(Path(folder))), scoring_script=SCORING_SCRIPT
                )
                if by_entity
                else None,
                environment=scoring_environment() if by_entity else None,
                tags={
                    "model": model.name,
                    "model_version": model.version,
                    **{k: v for k, v in model.tags.items() if k == "lifecycle_id"},
                },
                data_collector=prediction_collector()
                if (self._collect_predictions if collect_predictions is None else collect_predictions)
                else None,
            )
            # new deployments get 0% traffic; the code folder is uploaded before this returns
            self._ml.online_deployments.begin_create_or_update(dep)
        return DeploymentInfo(deployment, model.name, model.version, "creating", "creation requested")

    def deployment(self, endpoint: str, deployment: str) -> DeploymentInfo:
        try:
            return _deployment_info(self._ml.online_deployments.get(name=deployment, endpoint_name=endpoint))
        except ResourceNotFoundError:
            return DeploymentInfo(deployment, "", "", "missing")

    def set_traffic(
        self, endpoint: str, traffic: dict[str, int], mirror_traffic: dict[str, int] | None = None
    ) -> EndpointInfo:
        info = self.get(endpoint)
        states = {name: d.state for name, d in info.deployments.items()}
        live, mirror = validate_split(endpoint, states, traffic, mirror_traffic or {})
        ep = self._ml.online_endpoints.get(name=endpoint)
        ep.traffic = {name: live.get(name, 0) for name in info.deployments}
        ep.mirror_traffic = mirror
        self._ml.online_endpoints.begin_create_or_update(ep)  # applied in seconds; the orchestrator re-reads
        return EndpointInfo(endpoint, info.scoring_uri, dict(ep.traffic), dict(mirror), info.deployments)

    def _auth_header(self, endpoint: str, auth_mode: str | None) -> str:
        if (auth_mode or "key").lower() == "aad_token":
            if self._credential is None:
                raise RuntimeError(
                    f"endpoint {endpoint} uses aad_token auth: pass a credential to AzureMLEndpoints"
                )
            return f"Bearer {self._credential.get_token(AML_SCOPE).token}"
        keys = self._ml.online_endpoints.get_keys(name=endpoint)
        return f"Bearer {keys.primary_key}"

    def invoke(self, endpoint: str, payload: dict[str, Any], deployment: str | None = None) -> Any:
        ep = self._ml.online_endpoints.get(name=endpoint)
        if not ep.scoring_uri:
            raise RuntimeError(
                f"endpoint {endpoint} has no scoring URI yet (provisioning state {ep.provisioning_state})"
            )
        headers = {
            "Content-Type": "application/json",
            "Authorization": self._auth_header(endpoint, ep.auth_mode),
            CLIENT_REQUEST_ID: str(uuid.uuid4()),  # the prediction log's pairing key (see above)
        }
        if deployment:
            headers["azureml-model-deployment"] = deployment
        response = self._http.post(
            ep.scoring_uri, data=json.dumps(payload), headers=headers, timeout=self._timeout
        )
        if response.status_code >= 400:
            raise RuntimeError(
                f"scoring {endpoint}{'/' + deployment if deployment else ''} failed with {response.status_code}: "
                f"{response.text[:500]}"
            )
        return response.json()

    def delete_deployment(self, endpoint: str, deployment: str) -> None:
        ep = self._ml.online_endpoints.get(name=endpoint)
        if int((ep.traffic or {}).get(deployment, 0)) > 0:
            raise TrafficRuleError(
                f"deployment '{deployment}' still has {ep.traffic[deployment]}% live traffic; move it off first"
            )
        if int((ep.mirror_traffic or {}).get(deployment, 0)) > 0:
            raise TrafficRuleError(
                f"deployment '{deployment}' still receives mirror traffic; set it to 0 first"
            )
        try:
            self._ml.online_deployments.begin_delete(name=deployment, endpoint_name=endpoint)
        except ResourceNotFoundError:
            return  # already gone: deleting is idempotent
