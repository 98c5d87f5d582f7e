"""The endpoint server's state: endpoints, their deployments and traffic, persisted to the state dir.

`EndpointStore` is what the control API changes and the scoring path reads. Traffic routes are a
tuple replaced whole on every change, so a request in flight reads either the old split or the
new one, never a mix. `save()` writes endpoints.json atomically; `restore()` reloads every model
that was serving, as an AML deployment comes back after a node restart.
"""

from __future__ import annotations

import json
import logging
import os
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.rollout.traffic_rules import validate_split
from standins.endpoint.runtime import DEFAULT_REQUEST_TIMEOUT_MS, Faults, ModelRuntime, load_model

log = logging.getLogger("standins.endpoint")

NAME_RULE = "names are 3-32 characters of letters, digits and '-', starting with a letter"
NO_ROUTE = (
    "No valid deployments to route to. Please check that the endpoint has at least one deployment "
    "with positive weight values or use a deployment specific header to route."
)


def valid_name(name: str) -> bool:
    return 1 <= len(name) <= 32 and name[0].isalpha() and all(c.isalnum() or c == "-" for c in name)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Deployment:
    name: str
    endpoint: str
    model: dict[str, str]
    environment_variables: dict[str, str]
    instance_type: str
    instance_count: int
    request_timeout_ms: int
    faults: Faults
    state: str = "creating"
    message: str = ""
    local_path: str | None = None
    generation: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    runtime: ModelRuntime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "endpoint_name": self.endpoint,
            "model": dict(self.model),
            "state": self.state,
            "provisioning_state": {"creating": "Creating", "succeeded": "Succeeded", "failed": "Failed"}.get(
                self.state, self.state
            ),
            "message": self.message,
            "environment_variables": dict(self.environment_variables),
            "instance_type": self.instance_type,
            "instance_count": self.instance_count,
            "request_settings": {"request_timeout_ms": self.request_timeout_ms},
            "faults": self.faults.to_json(),
        }

    def to_state(self) -> dict[str, Any]:
        return {**self.to_json(), "local_path": self.local_path, "generation": self.generation}


@dataclass
class Endpoint:
    name: str
    traffic: dict[str, int] = field(default_factory=dict)
    mirror_traffic: dict[str, int] = field(default_factory=dict)
    deployments: dict[str, Deployment] = field(default_factory=dict)
    # the input column whose value the prediction log records as the entity id (None: the server's default)
    entity_id_column: str | None = None
    # (deployment, cumulative percent) pairs: replaced whole on every change, read whole per request
    routes: tuple[tuple[str, int], ...] = ()

    def rebuild_routes(self) -> None:
        acc, routes = 0, []
        for name, pct in sorted(self.traffic.items()):
            if pct > 0:
                acc += pct
                routes.append((name, acc))
        self.routes = tuple(routes)

    def pick(self, rng: random.Random) -> str | None:
        routes = self.routes
        if not routes:
            return None
        x = rng.random() * routes[-1][1]
        for name, upto in routes:
            if x < upto:
                return name
        return routes[-1][0]


class EndpointStore:
    """Every endpoint of the server, and their persistence under `state_dir`."""

    def __init__(
        self,
        state_dir: Path,
        tracking_uri: str | None = None,
        public_base: str = "http://127.0.0.1:8501",
        entity_id_column: str | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.tracking_uri = tracking_uri
        self.public_base = public_base.rstrip("/")
        self.default_entity_id_column = entity_id_column or None
        self.endpoints: dict[str, Endpoint] = {}
        self._state_file = state_dir / "endpoints.json"

    # ------------------------------------------------------------------ lookups

    def endpoint(self, name: str) -> Endpoint:
        ep = self.endpoints.get(name)
        if ep is None:
            raise ApiError(404, "EndpointNotFound", f"endpoint '{name}' does not exist")
        return ep

    @staticmethod
    def deployment(ep: Endpoint, name: str) -> Deployment:
        dep = ep.deployments.get(name)
        if dep is None:
            raise ApiError(
                404, "DeploymentNotFound", f"deployment '{name}' does not exist in endpoint '{ep.name}'"
            )
        return dep

    def entity_id_column(self, ep: Endpoint) -> str | None:
        return ep.entity_id_column or self.default_entity_id_column

    def endpoint_json(self, ep: Endpoint) -> dict[str, Any]:
        return {
            "name": ep.name,
            "scoring_uri": f"{self.public_base}/endpoints/{ep.name}/score",
            "auth_mode": "key",
            "traffic": {d: ep.traffic.get(d, 0) for d in ep.deployments},
            "mirror_traffic": dict(ep.mirror_traffic),
            "provisioning_state": "Succeeded",
            "entity_id_column": self.entity_id_column(ep),
            "deployments": {d.name: d.to_json() for d in ep.deployments.values()},
        }

    def model_dir(self, dep: Deployment) -> Path:
        return self.state_dir / "models" / dep.endpoint / dep.name / dep.generation

    # ------------------------------------------------------------------ changes

    def apply_split(
        self, ep: Endpoint, traffic: dict[str, Any] | None, mirror: dict[str, Any] | None
    ) -> None:
        new_traffic = ep.traffic if traffic is None else traffic
        new_mirror = ep.mirror_traffic if mirror is None else mirror
        # a deployment being updated keeps serving its previous model, so it may keep its traffic
        states = {
            d.name: ("succeeded" if d.runtime is not None else d.state) for d in ep.deployments.values()
        }
        full, mirror_ok = validate_split(ep.name, states, new_traffic, new_mirror)
        # one assignment each, then one tuple swap: the next request sees the whole new split
        ep.traffic, ep.mirror_traffic = full, mirror_ok
        ep.rebuild_routes()
        self.save()

    # ------------------------------------------------------------------ persistence

    def save(self) -> None:
        doc = {
            "endpoints": {
                ep.name: {
                    "traffic": ep.traffic,
                    "mirror_traffic": ep.mirror_traffic,
                    "entity_id_column": ep.entity_id_column,
                    "deployments": {d.name: d.to_state() for d in ep.deployments.values()},
                }
                for ep in self.endpoints.values()
            }
        }
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
        os.replace(tmp, self._state_file)

    def restore(self) -> None:
        """Rebuild endpoints from the state dir and reload every model that was serving."""
        if not self._state_file.exists():
            return
        doc = json.loads(self._state_file.read_text())
        for name, raw in doc.get("endpoints", {}).items():
            ep = Endpoint(name, dict(raw.get("traffic", {})), dict(raw.get("mirror_traffic", {})))
            ep.entity_id_column = raw.get("entity_id_column")
            for dname, d in raw.get("deployments", {}).items():
                ep.deployments[dname] = self._restore_deployment(name, dname, d)
            # a deployment that failed to reload cannot keep live traffic: fall back to what still serves
            ep.traffic = {
                d: (p if ep.deployments[d].state == "succeeded" else 0) for d, p in ep.traffic.items()
            }
            if sum(ep.traffic.values()) not in (0, 100):
                ep.traffic = dict.fromkeys(ep.traffic, 0)
            ep.mirror_traffic = {
                d: p for d, p in ep.mirror_traffic.items() if ep.deployments[d].state == "succeeded"
            }
            ep.rebuild_routes()
            self.endpoints[name] = ep

    def _restore_deployment(self, endpoint: str, name: str, d: dict[str, Any]) -> Deployment:
        dep = Deployment(
            name=name,
            endpoint=endpoint,
            model=d["model"],
            environment_variables=d.get("environment_variables", {}),
            instance_type=d.get("instance_type", "Standard_DS3_v2"),
            instance_count=int(d.get("instance_count", 1)),
            request_timeout_ms=int(
                d.get("request_settings", {}).get("request_timeout_ms", DEFAULT_REQUEST_TIMEOUT_MS)
            ),
            faults=Faults.from_json(d.get("faults", {})),
            state=d.get("state", "creating"),
            message=d.get("message", ""),
            local_path=d.get("local_path"),
            generation=d.get("generation") or uuid.uuid4().hex[:12],
        )
        if dep.state in ("succeeded", "creating"):
            try:
                dep.runtime = load_model(dep.model["uri"], self.model_dir(dep), self.tracking_uri)
                dep.local_path = str(dep.runtime.local_path)
                dep.state, dep.message = "succeeded", ""
            except Exception as exc:
                log.exception("cannot reload deployment %s/%s", endpoint, name)
                dep.state, dep.message = "failed", f"reload after restart failed: {exc}"
        return dep
