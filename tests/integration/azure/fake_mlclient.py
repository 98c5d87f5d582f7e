"""A hand-written fake of the MLClient operation groups the Azure ML adapters use.

MLClient is a third-party boundary with no local stand-in, so this fake records calls and keeps
entities (the SDK's own entity classes) in dicts; tests inspect both. Long-running operations
return a poller-like object that is never waited on, just as the adapters must not wait."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceNotFoundError


class Poller:
    def __init__(self, value: Any = None):
        self.value = value
        self.waited = False

    def result(self, timeout: float | None = None) -> Any:
        self.waited = True
        return self.value

    def done(self) -> bool:
        return False


def _missing(what: str) -> ResourceNotFoundError:
    return ResourceNotFoundError(f"{what} not found")


@dataclass
class Calls:
    log: list[tuple] = field(default_factory=list)

    def __call__(self, *entry: Any) -> None:
        self.log.append(entry)

    def names(self) -> list[str]:
        return [e[0] for e in self.log]


class FakeJobs:
    def __init__(self, calls: Calls):
        self.calls, self.store = calls, {}

    def get(self, name: str):
        self.calls("jobs.get", name)
        if name not in self.store:
            raise _missing(f"job {name}")
        return self.store[name]

    def create_or_update(self, job, *, experiment_name: str | None = None, **kw):
        self.calls("jobs.create_or_update", job.name, experiment_name)
        job._status = "NotStarted"
        self.store[job.name] = job
        return job

    def begin_cancel(self, name: str):
        self.calls("jobs.begin_cancel", name)
        self.store[name]._status = "CancelRequested"
        return Poller()

    def download(self, name: str, *, download_path: str, output_name: str | None = None, all: bool = False):
        self.calls("jobs.download", name, download_path, output_name)
        out = Path(download_path) / "named-outputs" / (output_name or "default")
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text('{"auc": 0.9}')


class FakeData:
    def __init__(self, calls: Calls):
        self.calls, self.store = calls, {}

    def get(self, name: str, version: str | None = None, **kw):
        self.calls("data.get", name, version)
        if (name, version) not in self.store:
            raise _missing(f"data {name}:{version}")
        return self.store[(name, version)]

    def create_or_update(self, data):
        self.calls("data.create_or_update", data.name, data.version)
        self.store[(data.name, data.version)] = data
        return data


class FakeModels:
    def __init__(self, calls: Calls):
        self.calls, self.store = calls, {}

    def create_or_update(self, model):
        self.calls("models.create_or_update", model.name, model.version, dict(model.tags or {}))
        saved = copy.deepcopy(model)
        if saved.version is None:
            saved.version = str(1 + max((int(v) for n, v in self.store if n == model.name), default=0))
        self.store[(saved.name, str(saved.version))] = saved
        return copy.deepcopy(saved)

    def get(self, name: str, version: str | None = None, **kw):
        if (name, str(version)) not in self.store:
            raise _missing(f"model {name}:{version}")
        return copy.deepcopy(self.store[(name, str(version))])

    def list(self, name: str | None = None, **kw):
        if not any(n == name for n, _ in self.store):
            raise _missing(f"model {name}")
        return [copy.deepcopy(m) for (n, _), m in self.store.items() if n == name]

    def download(self, name: str, version: str, download_path: str = ".", **kw):
        self.calls("models.download", name, version)
        d = Path(download_path) / name / "model"
        d.mkdir(parents=True, exist_ok=True)
        (d / "MLmodel").write_text("flavors: {}\n")


class FakeOnlineEndpoints:
    def __init__(self, calls: Calls):
        self.calls, self.store, self.pollers = calls, {}, []

    def get(self, name: str, **kw):
        if name not in self.store:
            raise _missing(f"endpoint {name}")
        return copy.deepcopy(self.store[name])

    def begin_create_or_update(self, endpoint, **kw):
        self.calls(
            "online_endpoints.begin_create_or_update",
            endpoint.name,
            dict(endpoint.traffic or {}),
            dict(endpoint.mirror_traffic or {}),
        )
        saved = copy.deepcopy(endpoint)
        saved._provisioning_state = saved.provisioning_state or "Creating"
        self.store[endpoint.name] = saved
        self.pollers.append(Poller(saved))
        return self.pollers[-1]

    def add(self, name: str, scoring_uri: str, state: str = "Succeeded", auth_mode: str = "key") -> None:
        """An endpoint infra/ created."""
        from azure.ai.ml.entities import ManagedOnlineEndpoint

        ep = ManagedOnlineEndpoint(name=name, auth_mode=auth_mode)
        ep._provisioning_state, ep._scoring_uri = state, scoring_uri
        self.store[name] = ep

    def get_keys(self, name: str, **kw):
        self.calls("online_endpoints.get_keys", name)

        class Keys:
            primary_key = "primary-key"
            secondary_key = "secondary-key"

        return Keys()


class FakeOnlineDeployments:
    def __init__(self, calls: Calls):
        self.calls, self.store, self.pollers = calls, {}, []

    def get(self, name: str, endpoint_name: str, **kw):
        if (endpoint_name, name) not in self.store:
            raise _missing(f"deployment {endpoint_name}/{name}")
        return copy.deepcopy(self.store[(endpoint_name, name)])

    def list(self, endpoint_name: str, **kw):
        return [copy.deepcopy(d) for (e, _), d in self.store.items() if e == endpoint_name]

    def begin_create_or_update(self, deployment, **kw):
        self.calls("online_deployments.begin_create_or_update", deployment.name, deployment.model)
        saved = copy.deepcopy(deployment)
        saved._provisioning_state = "Creating"
        self.store[(deployment.endpoint_name, deployment.name)] = saved
        self.pollers.append(Poller(saved))
        return self.pollers[-1]

    def finish(self, endpoint: str, name: str, state: str = "Succeeded") -> None:
        """The service finishing a provisioning operation."""
        self.store[(endpoint, name)]._provisioning_state = state

    def begin_delete(self, name: str, endpoint_name: str, **kw):
        self.calls("online_deployments.begin_delete", endpoint_name, name)
        if (endpoint_name, name) not in self.store:
            raise _missing(f"deployment {endpoint_name}/{name}")
        del self.store[(endpoint_name, name)]
        return Poller()


class FakeMLClient:
    def __init__(self):
        self.calls = Calls()
        self.jobs = FakeJobs(self.calls)
        self.data = FakeData(self.calls)
        self.models = FakeModels(self.calls)
        self.online_endpoints = FakeOnlineEndpoints(self.calls)
        self.online_deployments = FakeOnlineDeployments(self.calls)
