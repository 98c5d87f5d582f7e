"""The trigger side's handlers over the composition root's ports (`get_edge()`: one Edge per process,
built on `wiring.edge_parts()`; the root never imports the trigger side).

A trigger parses its input and hands the typed result to one method here (cosmicpython's
entrypoints over a bus that bootstrap built): the handlers get the ledger, the live policies, the
data lake's URL rule and the contracts injected, and never look them up themselves. Each
delivery routes with one snapshot of the policies.

Bad or foreign inputs are recorded (`EventIgnored`) and answered, not raised: raising makes
Event Grid redeliver an event that can never succeed. Errors a retry can fix (ledger or host
unavailable) propagate.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import wiring
from core.batch.payloads import BatchScoreInput, batch_request_scope, batch_run_id
from core.batch.routing import route_scoring, scoring_due
from core.intake.events import (
    AmlRunStatusChanged,
    BlobCreated,
    InboundEvent,
    MonitorAlert,
    route_alert,
    route_aml_run,
    route_blob,
    same_blob_location,
)
from core.intake.facts import EventIgnored, RequestIgnored
from core.intake.payloads import coordinator_id
from core.intake.schedule import due
from core.kernel.contract import DataContract
from core.kernel.payload import BlobRef
from core.kernel.policy import Policies, Policy
from core.kernel.ports import RequestRecorded, RetrainRequest, RunLedger
from core.rollout.facts import LabelsArrived
from triggers.intake import (
    Intake,
    Together,
    claim_due_seen,
    ensure_coordinator,
    exists_error,
    new_request,
    off_loop,
)

log = logging.getLogger("triggers.edge")

OUTSIDE = "url outside the configured storage account or container"
_warned: set[tuple[str, str]] = set()


def route_labels(policies: Iterable[Policy], container: str, path: str) -> str | None:
    """The model whose online accuracy gate reads labels from container/path (longest prefix wins)."""
    best: tuple[int, str] | None = None
    for policy in policies:
        online = policy.rollout.gates.online_accuracy if isinstance(policy, Policy) else None
        if online is None or online.labels_container != container:
            continue
        prefix = online.labels_prefix
        if path.startswith(prefix) and (best is None or (len(prefix), policy.model) > best):
            best = (len(prefix), policy.model)
    return best[1] if best else None


@dataclass(frozen=True)
class Edge:
    ledger: RunLedger
    policies: Policies
    lake_url: Callable[[str, str], str]  # our data lake's URL of container/path
    contract: Callable[[Policy], DataContract]  # the contract a policy names; raises when it cannot load
    intake_pause_seconds: int = 0  # test only: a crash between recording and waking lands here

    # ----------------------------------------------------------------------- recording

    async def submit(self, client: Any, request: RetrainRequest) -> Intake:
        """Record the request (with the others arriving at the same time, in one ledger call; not
        accepted = a delivery seen before), then make sure a claim will see it. If the host dies
        between the two steps, the outbox sweep (triggers/outbox.py) does the waking.

        When another request of the model still waits unconsumed and this worker saw the
        coordinator alive with a claim due within the last second (`claim_due_seen`), a claim is
        already due that will see this one too, so the coordinator is not asked (`busy`): that
        request's own submit made sure of a claim after it was recorded; a claim that has not
        consumed it has not run yet, or ran before this one was recorded and started a run or a
        debounce wait, each of which ends in another claim (orchestrators/coordinator.py). In a
        storm this spares the durable status call that cost the edge most of its time (issue 17).
        Otherwise the coordinator is woken either way: if a first delivery crashed after
        recording, its retry is what makes sure the recorded request is claimed."""
        recorded = await self._record(request)
        if not recorded.accepted:
            fact = RequestIgnored(dedupe_key=request.dedupe_key, source=request.source)
            await off_loop(self.ledger.append, coordinator_id(request.model), fact.ledger_kind, fact.dump())
        if pause := self.intake_pause_seconds:
            log.warning("LIFECYCLE_TEST_INTAKE_PAUSE_SECONDS: pausing %ss before waking", pause)
            await asyncio.sleep(pause)
        if recorded.others_pending and claim_due_seen(request.model):
            action = "busy"
        else:
            action = await ensure_coordinator(client, request.model)
        return Intake(request, not recorded.accepted, coordinator_id(request.model), action)

    @functools.cached_property
    def _record(self) -> Together[RetrainRequest, RequestRecorded]:
        """Requests that arrive together are recorded in one ledger call (`RunLedger.record_requests`)."""
        return Together(self.ledger.record_requests)

    async def record_ignored(self, model: str | None, fact: EventIgnored) -> None:
        """Inputs that start nothing (resolved alerts, unmapped events, uncommitted writes) are kept
        in the ledger too, under the model's coordinator (or `unrouted`), so 'why did nothing
        happen?' has an answer."""
        run_id = coordinator_id(model) if model else "unrouted"
        await off_loop(self.ledger.append, run_id, fact.ledger_kind, fact.dump())

    # ----------------------------------------------------------------------- Event Grid

    async def event(self, client: Any, parsed: InboundEvent) -> Intake | None:
        if isinstance(parsed, BlobCreated):
            return await self.blob(client, parsed)
        if isinstance(parsed, AmlRunStatusChanged):
            return await self.aml_run(client, parsed)
        return None

    async def blob(self, client: Any, event: BlobCreated) -> Intake | None:
        """A committed blob is labels (online accuracy), a file to score (batch.scoring_prefix)
        or training data (the longest blob prefix), in that order; anything else is recorded."""
        info = self._blob_info(event)
        if not event.committed:
            log.info("ignored %s: api %s is not a committed write", event.event_id, event.api)
            return None
        live = self.policies.all()  # one snapshot per delivery
        policies = list(live.values())
        if (labelled := route_labels(policies, event.container, event.path)) is not None:
            if await self._outside(labelled, event):
                return None
            fact = LabelsArrived(
                event_id=event.event_id,
                container=event.container,
                path=event.path,
                url=event.url,
                content_length=event.content_length,
            )
            await off_loop(self.ledger.append, coordinator_id(labelled), fact.ledger_kind, fact.dump())
            log.info("labels for %s arrived: %s/%s", labelled, event.container, event.path)
            return None
        if (scoring := route_scoring(policies, event.container, event.path)) is not None:
            if await self._outside(scoring, event) or await self._not_data(live[scoring], event):
                return None
            details = {**info, "url": event.url, "etag": event.etag, "content_length": event.content_length}
            blob = BlobRef(container=event.container, path=event.path, etag=event.etag)
            return await self.submit_scoring(client, scoring, "blob", event.dedupe_keys[0], details, [blob])
        model = route_blob(policies, event.container, event.path)
        if model is None:
            await self.record_ignored(None, EventIgnored(ignored="no policy claims this blob", **info))
            return None
        if await self._outside(model, event) or await self._not_data(live[model], event):
            return None
        details = {
            **info,
            "url": event.url,
            "etag": event.etag,
            "content_length": event.content_length,
            "sequencer": event.sequencer,
            "schema": event.schema,
        }
        return await self.submit(client, new_request(model, "blob", event.dedupe_keys[0], details))

    @staticmethod
    def _blob_info(event: BlobCreated) -> dict[str, Any]:
        return {
            "event_id": event.event_id,
            "container": event.container,
            "path": event.path,
            "api": event.api,
        }

    async def _outside(self, model: str, event: BlobCreated) -> bool:
        """The one location check: an event whose URL is not our account's blob at container/path
        is refused (recorded) and never fetched."""
        if same_blob_location(event.url, self.lake_url(event.container, event.path)):
            return False
        log.warning(
            "refused %s: %s is outside the configured storage account", event.event_id, event.url[:300]
        )
        await self.record_ignored(
            model, EventIgnored(ignored=OUTSIDE, url=event.url, **self._blob_info(event))
        )
        return True

    async def _not_data(self, policy: Policy, event: BlobCreated) -> bool:
        """Folder placeholders, `_SUCCESS` markers and empty blobs are not data (the contract says
        which names are; recorded); a contract that cannot load is left for the run to report."""
        try:
            why = self.contract(policy).not_data(event.path, event.content_length)
        except Exception as exc:
            if (policy.model, str(exc)) not in _warned:  # once per failure, not once per event
                _warned.add((policy.model, str(exc)))
                log.warning(
                    "contract of %s unavailable at the edge (%s); the run will report it", policy.model, exc
                )
            return False
        if why is None:
            return False
        fact = EventIgnored(ignored=f"not a data file: {why}", url=event.url, **self._blob_info(event))
        await self.record_ignored(policy.model, fact)
        return True

    async def aml_run(self, client: Any, event: AmlRunStatusChanged) -> Intake | None:
        info: dict[str, Any] = {
            "event_id": event.event_id,
            "run_id": event.run_id,
            "run_status": event.run_status,
        }
        if not event.monitor_breach:
            why = "not a model monitor breach"
            await self.record_ignored(
                None, EventIgnored(ignored=why, experiment=event.experiment_name, **info)
            )
            return None
        model = route_aml_run(self.policies.all().values(), event)
        if model is None:
            why = "no policy claims this model monitor"
            await self.record_ignored(
                None, EventIgnored(ignored=why, experiment=event.experiment_name, **info)
            )
            return None
        details = {**info, "experiment": event.experiment_name, "tags": event.run_tags}
        return await self.submit(client, new_request(model, "aml_monitor", event.dedupe_key, details))

    # ----------------------------------------------------------------------- alerts

    async def alert(self, client: Any, alert: MonitorAlert) -> tuple[str, str | None, Intake | None]:
        """-> (ignored | recorded | submitted, model, intake)."""
        model = route_alert(self.policies.all().values(), alert)
        info: dict[str, Any] = {
            "alert_id": alert.alert_id,
            "alert_rule": alert.alert_rule,
            "condition": alert.monitor_condition,
        }
        if model is None:
            await self.record_ignored(None, EventIgnored(ignored="no policy claims this alert", **info))
            return "ignored", None, None
        if not alert.fired:
            await self.record_ignored(model, EventIgnored(ignored="alert resolved", **info))
            return "recorded", model, None
        details = {
            **info,
            "severity": alert.severity,
            "signal_type": alert.signal_type,
            "fired_at": alert.fired_at.isoformat() if alert.fired_at else None,
            "configuration_items": list(alert.configuration_items),
        }
        return (
            "submitted",
            model,
            await self.submit(client, new_request(model, "alert", alert.dedupe_key, details)),
        )

    # ----------------------------------------------------------------------- schedules

    async def schedule_tick(self, client: Any, now: datetime) -> list[Intake]:
        """Retrains and scoring runs whose schedules are due at `now`."""
        return await self.request_due(client, now) + await self.request_scoring_due(client, now)

    async def request_due(self, client: Any, now: datetime) -> list[Intake]:
        policies = self.policies.all()
        intakes = []
        for model, occurrence in due(policies.values(), now):
            details = {"schedule": policies[model].triggers.schedule, "occurrence": occurrence.isoformat()}
            key = f"schedule:{model}:{occurrence.isoformat()}"
            intakes.append(await self.submit(client, new_request(model, "schedule", key, details)))
        return intakes

    async def request_scoring_due(self, client: Any, now: datetime) -> list[Intake]:
        """A scheduled run scores every data file under the model's scoring prefix."""
        policies = self.policies.all()
        intakes = []
        for model, occurrence in scoring_due(policies.values(), now):
            batch = policies[model].batch
            key = f"batch-schedule:{model}:{occurrence.isoformat()}"
            details = {"schedule": batch.schedule if batch else None, "occurrence": occurrence.isoformat()}
            intakes.append(await self.submit_scoring(client, model, "schedule", key, details, []))
        return intakes

    # ----------------------------------------------------------------------- batch scoring

    async def submit_scoring(
        self,
        client: Any,
        model: str,
        source: str,
        dedupe_key: str,
        details: dict[str, Any],
        blobs: list[BlobRef],
    ) -> Intake:
        """Record the delivery (under `batch:{model}`, which no coordinator claims), then make sure
        its run exists, also for a duplicate: the first delivery may have crashed between the two.
        Scoring runs never wait for (or hold up) a retrain."""
        request = new_request(batch_request_scope(model), source, dedupe_key, details)
        accepted = await off_loop(self.ledger.add_request, request)
        run_id = batch_run_id(model, dedupe_key)
        payload = BatchScoreInput(
            run_id=run_id,
            model=model,
            source=source,  # type: ignore[arg-type]
            request_id=request.request_id,
            dedupe_key=dedupe_key,
            blobs=blobs,
        )
        return Intake(request, not accepted, run_id, await ensure_scoring_run(client, payload))


async def ensure_scoring_run(client: Any, payload: BatchScoreInput) -> str:
    """Start the run unless its instance exists in any state (-> started | exists): a finished
    run is never started again, so an input is scored once."""
    if await client.get_status(payload.run_id):
        return "exists"
    try:
        await client.start_new("batch_score", instance_id=payload.run_id, client_input=payload.dump())
        return "started"
    except Exception as exc:
        if not exists_error(exc):
            raise
        return "exists"


def get_edge() -> Edge:
    """This process's handlers over the composition root's parts (a test that swaps a port through
    wiring.override gets one built on what it swapped)."""
    return wiring.built("edge", lambda: Edge(**wiring.edge_parts()))
