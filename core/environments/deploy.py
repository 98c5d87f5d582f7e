"""Promotion across environments, the use cases behind the activities and the operator API.

Dev: `share_champion` copies the new champion into the shared registry and says what the
`promoted` event must carry. Prod: `start_deploy` opens a deploy lifecycle's ledger record (the
source event and the exact registry version in its lineage), and `DeployOnlyModelRegistry` makes
a deploy-only model's versions *be* the registry's: the rollout asks the ModelRegistry port for
`churn-prod:7` and gets the registry's `churn:7` with its URI, so the endpoint deploys exactly
that artifact. `promotions` reads both directions back from the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from core.environments.facts import DeployRequested, ModelShared
from core.environments.payloads import DeployStartInput, DeployStartResult, ShareInput, ShareResult
from core.environments.release import released_registry_data
from core.kernel.policy import DeployOnlyPolicy
from core.kernel.ports import ModelRegistry, ModelRegistryShare, ModelVersion, RunLedger, RunRecord


class ReleaseSetupError(ValueError):
    """The policy names a registry this environment is not configured for."""


def _check_share(share: ModelRegistryShare | None, registry: str) -> ModelRegistryShare:
    if share is None:
        raise ReleaseSetupError(
            f"the policy names the shared registry {registry!r}, but this environment has none: "
            "set SHARED_REGISTRY_NAME (and locally SHARED_REGISTRY_TRACKING_URI)"
        )
    if share.registry != registry:
        raise ReleaseSetupError(
            f"the policy names the shared registry {registry!r}, but SHARED_REGISTRY_NAME is "
            f"{share.registry!r}: make them the same"
        )
    return share


# --------------------------------------------------------------------------- dev: share


def share_champion(registry: ModelRegistry, share: ModelRegistryShare | None, req: ShareInput) -> ShareResult:
    """Copy `model:version` (with its lineage tags) into the shared registry. Idempotent (the
    port finds an earlier copy), so the orchestrator repeats it until the copy is readable."""
    shared_registry = _check_share(share, req.registry)
    dev = registry.get(req.model, req.version)
    copy = shared_registry.share(dev)
    try:
        found = shared_registry.get(copy.name, copy.version)
    except KeyError:  # Azure ML is still importing it
        return ShareResult(
            state="copying", registry=req.registry, registry_model=copy.name, registry_version=copy.version
        )
    return ShareResult(
        state="shared",
        registry=req.registry,
        registry_model=found.name,
        registry_version=found.version,
        data=released_registry_data(req.registry, found, dev),
    )


# --------------------------------------------------------------------------- prod: deploy


def deploy_rules(policy: DeployOnlyPolicy) -> dict[str, Any]:
    """The run's rules snapshot, as lifecycles keep theirs (no data contract: nothing is ingested)."""
    return {
        "policy": policy.model_dump(mode="json"),
        "policy_dir": None if policy.base_dir is None else str(policy.base_dir),
        "contract": None,
        "deploy_only": True,
    }


def start_deploy(
    ledger: RunLedger,
    deploy_only: Mapping[str, DeployOnlyPolicy],
    share: ModelRegistryShare | None,
    req: DeployStartInput,
) -> DeployStartResult:
    """Open the deploy run's ledger record with its source event and registry version, after
    checking that the registry holds that version. A retried start keeps the snapshot it took."""
    trigger = req.trigger
    existing = ledger.get_run(req.run_id)
    if existing is not None and isinstance(existing.lineage.get("rules"), dict):
        rules = existing.lineage["rules"]
        base = rules.get("policy_dir")
        policy = DeployOnlyPolicy.model_validate(rules["policy"]).model_copy(
            update={"base_dir": Path(base) if base else None}
        )
    elif trigger.model in deploy_only:
        policy = deploy_only[trigger.model]
    else:
        raise LookupError(
            f"no deploy-only policy for model {trigger.model!r} (known: {sorted(deploy_only)}); "
            "add {dir}/policy.yaml with `model:` and a `source:` section"
        )
    shared = _check_share(share, policy.source.registry)
    try:
        version: ModelVersion | None = shared.get(trigger.registry_model, trigger.registry_version)
        reason = ""
    except KeyError as exc:
        version, reason = None, f"{exc.args[0] if exc.args else exc}"
    if existing is None:
        ledger.put_run(
            RunRecord(
                run_id=req.run_id,
                model=policy.model,
                status="running",
                stage="start",
                trigger=trigger.dump(),
                challenger_version=trigger.registry_version,
                lineage={
                    "policy_hash": policy.hash,
                    "code_version": req.code_version,
                    "rules": deploy_rules(policy),
                    "source_event": {"id": trigger.event_id, "source": trigger.event_source},
                    "registry": {
                        "name": trigger.registry,
                        "model": trigger.registry_model,
                        "version": trigger.registry_version,
                        "source_uri": version.source_uri if version else None,
                    },
                    "dev_lineage": trigger.lineage,
                },
                created_at=req.started_at,
            )
        )
        fact = DeployRequested(
            event_id=trigger.event_id,
            event_source=trigger.event_source,
            registry=trigger.registry,
            registry_model=trigger.registry_model,
            registry_version=trigger.registry_version,
            source_uri=version.source_uri if version else None,
        )
        ledger.append(req.run_id, fact.ledger_kind, fact.dump())
    champion = _champion_version(ledger, policy.model)
    return DeployStartResult(
        run_id=req.run_id,
        model=policy.model,
        policy=policy,
        policy_hash=policy.hash,
        champion_version=champion,
        found=version is not None,
        source_uri=version.source_uri if version else "",
        reason=reason,
    )


def _champion_version(ledger: RunLedger, model: str) -> str | None:
    """A deploy-only model's champion: the registry version of its latest promoted deploy run."""
    runs = ledger.list_runs(model=model, status="promoted", limit=50)
    latest = max(runs, key=lambda r: r.updated_at or r.created_at or datetime.min, default=None)
    return latest.champion_version if latest else None


class DeployOnlyModelRegistry:
    """The ModelRegistry port of an environment with deploy-only models: their versions are read
    from the shared registry (under the registry's model name), their champion is the version its
    latest promoted deploy run put live (the ledger records it; the champion marks of the registry
    copy belong to no environment). Every other model goes to the workspace registry."""

    def __init__(
        self,
        workspace: ModelRegistry,
        share: Callable[[], ModelRegistryShare | None],
        deploy_only: Callable[[], Mapping[str, DeployOnlyPolicy]],
        ledger: Callable[[], RunLedger],
    ) -> None:
        self.workspace = workspace
        self._share = share
        self._deploy_only = deploy_only
        self._ledger = ledger

    def _shared(self, name: str) -> tuple[ModelRegistryShare, str] | None:
        policy = self._deploy_only().get(name)
        if policy is None:
            return None
        return _check_share(self._share(), policy.source.registry), policy.registry_model

    def register(self, name: str, source_uri: str, tags: dict[str, str]) -> ModelVersion:
        if self._shared(name) is not None:
            raise ReleaseSetupError(f"{name} is deploy-only here: its versions come from the shared registry")
        return self.workspace.register(name, source_uri, tags)

    def get(self, name: str, version: str) -> ModelVersion:
        found = self._shared(name)
        return found[0].get(found[1], version) if found else self.workspace.get(name, version)

    def versions(self, name: str) -> list[ModelVersion]:
        found = self._shared(name)
        return found[0].versions(found[1]) if found else self.workspace.versions(name)

    def champion(self, name: str) -> ModelVersion | None:
        found = self._shared(name)
        if found is None:
            return self.workspace.champion(name)
        version = _champion_version(self._ledger(), name)
        return found[0].get(found[1], version) if version else None

    def set_champion(self, name: str, version: str) -> None:
        found = self._shared(name)
        if found is None:
            self.workspace.set_champion(name, version)
            return
        found[0].get(found[1], version)  # must exist; the deploy run's record says it is live

    def download(self, name: str, version: str, dest: Path) -> Path:
        found = self._shared(name)
        return (
            found[0].download(found[1], version, dest)
            if found
            else self.workspace.download(name, version, dest)
        )


# --------------------------------------------------------------------------- both: read back


class Release(BaseModel):
    """One promotion as the operator API shows it: `shared` out of this environment (dev) or
    `deployed` into it from the registry (prod), with the run that did it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    direction: Literal["shared", "deployed"]
    model: str
    run_id: str
    status: str
    at: datetime
    registry: str
    registry_model: str | None = None
    registry_version: str | None = None
    version: str | None = None  # shared: this environment's version
    event_id: str | None = None  # deployed: the `promoted` event that started it
    event_source: str | None = None
    error: str | None = None


_RELEASE_FACT: TypeAdapter[ModelShared | DeployRequested] = TypeAdapter(
    Annotated[ModelShared | DeployRequested, Field(discriminator="kind")]
)


def _release_fact(data: dict[str, Any]) -> ModelShared | DeployRequested | None:
    try:
        return _RELEASE_FACT.validate_python(data)
    except ValidationError:
        return None  # another kind of fact: not this slice's


def run_releases(ledger: RunLedger, run: RunRecord) -> list[Release]:
    found: list[Release] = []
    base = {"model": run.model, "run_id": run.run_id, "status": run.status}
    for entry in ledger.entries(run.run_id):
        fact = _release_fact(entry.data)
        if isinstance(fact, ModelShared):
            found.append(
                Release(
                    direction="shared",
                    at=entry.at,
                    registry=fact.registry,
                    registry_model=fact.registry_model,
                    registry_version=fact.registry_version,
                    version=fact.version,
                    error=fact.error,
                    **base,
                )
            )
        elif isinstance(fact, DeployRequested):
            found.append(
                Release(
                    direction="deployed",
                    at=entry.at,
                    registry=fact.registry,
                    registry_model=fact.registry_model,
                    registry_version=fact.registry_version,
                    event_id=fact.event_id,
                    event_source=fact.event_source,
                    **base,
                )
            )
    return found


def releases(ledger: RunLedger, model: str | None, limit: int = 50) -> list[Release]:
    """The promotions of the latest `limit` runs (of `model`), newest first."""
    runs = ledger.list_runs(model=model, limit=limit)
    found = [p for run in runs for p in run_releases(ledger, run)]
    return sorted(found, key=lambda p: p.at, reverse=True)
