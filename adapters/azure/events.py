"""EventPublisher on azure-eventgrid: lifecycle events out as CloudEvents 1.0.

One adapter for both modes. On Azure it posts to the Event Grid custom topic with the Function
App's managed identity (role "EventGrid Data Sender"); locally it posts to devhost's topic
endpoint with a key credential over http, which the SDK allows for key credentials."""

from __future__ import annotations

from typing import Any

from azure.core.credentials import AzureKeyCredential, TokenCredential
from azure.core.messaging import CloudEvent
from azure.eventgrid._legacy import EventGridPublisherClient as BasicTopicPublisherClient

from core.environments.release import event_source
from core.kernel.ports import LifecycleEvent

EVENT_TYPE_PREFIX = "mllifecycle."
# Event Grid rejects a batch over 1 MB; lifecycle events are small, so a fixed count is enough.
MAX_BATCH = 100


def to_cloud_event(event: LifecycleEvent, environment: str | None = None) -> CloudEvent:
    """Map a LifecycleEvent onto the CloudEvent subscribers filter on (type, source, subject);
    the source names the environment when it has a name (core.environments.release.event_source)."""
    kind = event.type.removeprefix(EVENT_TYPE_PREFIX)
    return CloudEvent(
        source=event_source(event.model, environment),
        type=f"{EVENT_TYPE_PREFIX}{kind}",
        data={"model": event.model, "run_id": event.run_id, **event.data},
        subject=f"lifecycles/{event.run_id}",
        id=event.id,
        time=event.time,
        datacontenttype="application/json",
    )


class EventGridEventPublisher:
    """Publishes in batches; the event id is the orchestration's deterministic id, so a replayed
    activity re-sends the same ids and subscribers can dedupe on them."""

    def __init__(
        self,
        endpoint: str,
        credential: AzureKeyCredential | TokenCredential,
        *,
        environment: str | None = None,
        **client_kwargs: Any,
    ):
        if not endpoint:
            raise ValueError(
                "EventGridEventPublisher needs the topic endpoint (setting EVENTS_TOPIC_ENDPOINT), "
                "e.g. https://<topic>.<region>-1.eventgrid.azure.net/api/events"
            )
        self.endpoint = endpoint
        self.environment = environment
        # The basic-topic client itself: azure-eventgrid 4.22's public EventGridPublisherClient builds
        # it for a basic topic but drops every keyword (transport, retry and logging options). Private
        # module, exact pin: tests/integration/azure/test_sdk_private_apis.py fails if it moves.
        self._client = BasicTopicPublisherClient(endpoint, credential, **client_kwargs)

    @classmethod
    def with_key(
        cls, endpoint: str, key: str, *, environment: str | None = None, **client_kwargs: Any
    ) -> EventGridEventPublisher:
        """Local mode: devhost's topic endpoint checks the `aeg-sas-key` header."""
        return cls(endpoint, AzureKeyCredential(key), environment=environment, **client_kwargs)

    def publish(self, events: list[LifecycleEvent]) -> None:
        cloud_events = [to_cloud_event(e, self.environment) for e in events]
        for i in range(0, len(cloud_events), MAX_BATCH):
            self._client.send(cloud_events[i : i + MAX_BATCH])

    def close(self) -> None:
        self._client.close()
