"""The operator API's JSON, defined once: request bodies and responses as pydantic models.

The handlers build these; `triggers/openapi.py` generates the document's schemas from them, so
the OpenAPI document cannot drift from what the handlers send.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.kernel.ports import LedgerEntry, RetrainRequest, RunRecord
from core.run.facts import AnyFact
from core.run.status import BatchProgress, CoordinatorStatus, RunProgress, RunStatus


class Body(BaseModel):
    """A request body: unknown keys are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class RetrainBody(Body):
    reason: str = Field(default="", max_length=1000)
    requested_by: str = Field(default="", max_length=200)


class ActionBody(Body):
    reason: str = Field(default="", max_length=1000)
    by: str = Field(default="", max_length=200)


class Response(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class Error(Response):
    error: str  # what to change


class Unavailable(Response):
    """A part of a view whose source is down (the rest of the view is still answered)."""

    unavailable: str


class Accepted(Response):
    status: Literal["accepted", "duplicate"]
    model: str
    request_id: str
    dedupe_key: str
    coordinator: str
    links: dict[str, str] | None = None


class ActionAccepted(Response):
    status: Literal["accepted"] = "accepted"
    id: str
    action: str
    delivered_to: list[str]


class Request(Response):
    request_id: str
    source: str
    dedupe_key: str
    received_at: datetime
    consumed_by: str | None
    held_reason: str | None
    details: dict[str, Any]

    @classmethod
    def of(cls, r: RetrainRequest) -> Request:
        return cls(
            request_id=r.request_id,
            source=r.source,
            dedupe_key=r.dedupe_key,
            received_at=r.received_at,
            consumed_by=r.consumed_by,
            held_reason=r.held_reason,
            details=r.details,
        )


class LifecycleSummary(Response):
    id: str
    model: str
    status: RunStatus
    stage: str
    created_at: datetime | None
    updated_at: datetime | None
    challenger_version: str | None
    champion_version: str | None

    @classmethod
    def of(cls, run: RunRecord) -> LifecycleSummary:
        return cls(
            id=run.run_id,
            model=run.model,
            status=run.status,  # type: ignore[arg-type]
            stage=run.stage,
            created_at=run.created_at,
            updated_at=run.updated_at,
            challenger_version=run.challenger_version,
            champion_version=run.champion_version,
        )


class LifecycleList(Response):
    lifecycles: list[LifecycleSummary]  # newest first


class Entry(Response):
    """A ledger entry: when, its sequence number, and its fact's fields (`kind` names the fact)."""

    model_config = ConfigDict(frozen=True, extra="allow")
    at: datetime
    seq: int

    @classmethod
    def of(cls, e: LedgerEntry, fact: AnyFact | None) -> Entry:
        # an entry written before facts were typed is shown as it was stored
        data = fact.dump() if fact is not None else e.data
        return cls.model_validate({"at": e.at, "seq": e.seq, **data})


class Orchestration(Response):
    runtime_status: str | None
    custom_status: RunProgress | CoordinatorStatus | None
    created_time: datetime | None
    last_updated_time: datetime | None


class Champion(Response):
    version: str
    source_uri: str
    created_at: datetime | None
    lineage: dict[str, str]


class Deployment(Response):
    model: str
    version: str
    state: str


class Endpoint(Response):
    name: str
    scoring_uri: str
    traffic: dict[str, int]
    mirror_traffic: dict[str, int]
    deployments: dict[str, Deployment]


class Promotion(Response):
    """A promotion across environments: `shared` (this environment copied its champion into the
    shared registry) or `deployed` (a deploy lifecycle took a registry version from another
    environment's `promoted` event)."""

    direction: Literal["shared", "deployed"]
    model: str
    run_id: str  # the lifecycle that shared it, or the deploy lifecycle
    status: str  # that lifecycle's status
    at: datetime
    registry: str
    registry_model: str | None = None
    registry_version: str | None = None
    version: str | None = None  # shared: this environment's version
    event_id: str | None = None  # deployed: the `promoted` CloudEvent that started it
    event_source: str | None = None
    error: str | None = None  # shared: why the copy failed


class PromotionList(Response):
    promotions: list[Promotion]  # newest first


class OnlineFeatures(Response):
    """The model's online feature set (policy online_features): the version the champion serves, the newest
    materialized one, and how fresh that is (seconds since it was materialized)."""

    feature_set: str
    serving_version: str | None  # the champion's feature_set_version lineage tag
    latest_version: str | None
    latest_entities: int | None
    materialized_at: datetime | None
    freshness_seconds: float | None  # now - materialized_at of the latest version
    serving_is_latest: bool


class Model(Response):
    model: str
    kind: Literal["lifecycle", "deploy_only"] = "lifecycle"  # deploy_only: versions come from `source`
    policy_hash: str
    champion: Champion | Unavailable | None
    endpoint: Endpoint | Unavailable | None
    pending_requests: list[Request]
    last_hold: Entry | None
    recent_lifecycles: list[LifecycleSummary]
    coordinator: Orchestration | Unavailable | None
    # the shared registry: the policy's (promotion.registry or source.registry), and the latest
    # promotions through it (the champion's registry version is the newest `shared` one)
    registry: str | None = None
    promotions: list[Promotion] = Field(default_factory=list)
    online_features: OnlineFeatures | Unavailable | None = None  # None: the policy serves no online features


class PendingApproval(Response):
    """The approval a rollout waits for; at `deadline` the policy's timeout rejects it."""

    since: datetime
    deadline: datetime
    timeout_seconds: int
    reason: str = ""


class Lifecycle(Response):
    """One lifecycle: its record (when the ledger has it), its facts grouped, its requests."""

    id: str
    model: str | None = None
    status: RunStatus | None = None
    stage: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    challenger_version: str | None = None
    champion_version: str | None = None
    trigger: dict[str, Any] | None = None
    data_version: str | None = None
    job_name: str | None = None
    metrics: dict[str, Any] | None = None
    decision: dict[str, Any] | None = None
    lineage: dict[str, Any] | None = None
    steps: list[Entry]
    gates: list[Entry]
    traffic: list[Entry]
    decisions: list[Entry]
    events: list[Entry]
    errors: list[Entry]
    requests: list[Request]
    approval: PendingApproval | None = None
    orchestration: Orchestration | Unavailable | None
    # a deploy lifecycle: the source event and registry version; a lifecycle that shared: the copy
    promotions: list[Promotion] = Field(default_factory=list)


# --------------------------------------------------------------------------- batch scoring


class BatchDeployment(Response):
    model: str
    version: str
    state: str
    created_at: datetime | None


class BatchEndpoint(Response):
    """A model's batch endpoint as its policy names it and the service finds it."""

    model: str
    endpoint: str
    scoring_prefix: str | None
    schedule: str | None
    output_prefix: str
    ab: dict[str, Any] | None  # the policy's A/B split, when it has one
    default: str | None  # the deployment scoring runs use
    deployments: dict[str, BatchDeployment] | Unavailable
    recent_runs: list[BatchRunSummary]


class BatchRunSummary(Response):
    """One scoring run, from the model's batch index in the ledger (its start and end facts)."""

    id: str
    model: str
    status: Literal["running", "scored", "rejected", "failed"]
    source: str
    started_at: datetime
    ended_at: datetime | None = None
    blobs: list[str] = Field(default_factory=list)
    default: str | None = None
    rows_in: int | None = None
    rows_scored: int | None = None
    model_versions: list[str] = Field(default_factory=list)  # of the arms that scored
    predictions: str | None = None
    report: str | None = None


class BatchRunList(Response):
    runs: list[BatchRunSummary]  # newest first


class BatchRunDetail(Response):
    """A scoring run: its summary, every fact it recorded, and its orchestration's status."""

    id: str
    summary: BatchRunSummary | None
    facts: list[Entry]
    orchestration: BatchOrchestration | Unavailable | None


class BatchOrchestration(Response):
    runtime_status: str | None
    custom_status: BatchProgress | None
    created_time: datetime | None
    last_updated_time: datetime | None


BatchEndpoint.model_rebuild()
BatchRunDetail.model_rebuild()


RESPONSES: tuple[type[Response], ...] = (
    Error,
    Accepted,
    ActionAccepted,
    LifecycleList,
    Lifecycle,
    Model,
    BatchEndpoint,
    BatchRunList,
    BatchRunDetail,
    PromotionList,
)
BODIES: tuple[type[Body], ...] = (RetrainBody, ActionBody)
