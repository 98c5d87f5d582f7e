"""The Azure-mode world the e2e tests share: the Azure adapters over the real SDK clients, sending
to the recording stand-in (tests/wire/armstandin.py), with the sample policy made fast.

AML (training jobs, model registry, online endpoints), Log Analytics and Event Grid are always the
Azure adapters at the wire. The data lake and the run ledger are whatever the test passes: the
in-memory fakes, or BlobDataLake on Azurite and CosmosRunLedger on the Cosmos emulator."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from azure.monitor.query import LogsQueryClient

from adapters.azure.endpoints import AzureMLEndpoints
from adapters.azure.events import EventGridEventPublisher
from adapters.azure.registry import AzureMLModelRegistry
from adapters.azure.traffic_stats import LogAnalyticsTrafficStats
from adapters.azure.training_jobs import AzureMLTrainingJobs
from core.kernel.policy import MirrorPolicy, load_policy
from core.kernel.ports import DataLake, RunLedger
from core.kernel.settings import Settings
from devhost.durable.clock import TimeSkippingClock
from tests.fakes import FakeAdapters
from tests.wire.armstandin import LA_WORKSPACE_ID, TOPIC_HOST, AzureStandIn, FakeCredential

ROOT = Path(__file__).resolve().parents[2]
EP = "churn-endpoint"
SRC = "azureml://jobs/churn-run-{}-train/outputs/model"
# What a training job leaves in the workspace's artifact store: an MLflow model (no signature, so the
# smoke test scores the evaluation split's own rows).
MLMODEL = b"artifact_path: model\nflavors:\n  python_function:\n    loader_module: mlflow.sklearn\n    python_version: 3.11.7\n"


def stats_table(green_errors: int) -> dict[str, Any]:
    """Log Analytics' answer to a gate's window query: blue at 1% errors, green at `green_errors`/3000."""
    rows = [["blue", 27000, 270, 0, 50.0, 114.0, 160.0], ["green", 3000, green_errors, 0, 50.0, 114.0, 160.0]]
    return {
        "tables": [
            {
                "name": "PrimaryResult",
                "columns": [
                    {"name": "DeploymentName", "type": "string"},
                    {"name": "requests", "type": "long"},
                    {"name": "errors", "type": "long"},
                    {"name": "throttled", "type": "long"},
                    {"name": "p50_ms", "type": "real"},
                    {"name": "p95_ms", "type": "real"},
                    {"name": "p99_ms", "type": "real"},
                ],
                "rows": rows,
            }
        ]
    }


class AzureWorld:
    """One AML workspace, Log Analytics workspace and Event Grid topic (the stand-in), the Azure
    adapters over them, and the sample policy with short bakes, polls and debounce."""

    def __init__(
        self,
        tmp: Path,
        standin: AzureStandIn,
        ml_client: Any,
        green_errors: int,
        *,
        data_lake: DataLake | None = None,
        ledger: RunLedger | None = None,
        now: Callable[[], datetime] | None = None,
        clock: TimeSkippingClock | None = None,
    ) -> None:
        """`clock`, given, is the engine's time-skipping clock: the world's "now" (Log Analytics' ingestion
        watermark) follows it, so the gates see the time the orchestrator sees."""
        self.clock = clock
        if now is None:
            now = clock.now if clock is not None else (lambda: datetime.now(UTC))
        self.standin = standin
        self.fakes = FakeAdapters()
        self.data_lake = data_lake if data_lake is not None else self.fakes.data_lake
        self.ledger = ledger if ledger is not None else self.fakes.ledger
        self.settings = Settings(mode="azure", local_state_dir=tmp / "state")
        policy = load_policy(ROOT / "samples" / "churn" / "policy.yaml")
        rollout = policy.rollout.model_copy(
            update={
                "mirror": MirrorPolicy(percent=20, bake_seconds=1),
                "min_bake_seconds": 1,
                "step_deadline_seconds": 30,
                "approval": None,
                "smoke_rows": 5,
            }
        )
        training = policy.training.model_copy(update={"poll_seconds": 1})
        triggers = policy.triggers.model_copy(update={"debounce_seconds": 1})
        self.policy = policy.model_copy(
            update={"rollout": rollout, "training": training, "triggers": triggers}
        )

        def logs(query: str, timespan: str | None) -> dict[str, Any]:
            if "summarize ingested_until" in query:  # everything up to now is ingested
                until = (now() + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                return {
                    "tables": [
                        {
                            "name": "PrimaryResult",
                            "columns": [{"name": "ingested_until", "type": "datetime"}],
                            "rows": [[until]],
                        }
                    ]
                }
            return stats_table(green_errors)

        standin.logs_answer = logs
        standin.score = lambda call: (200, {}, [0] * len(call.json()["input_data"]["data"]))
        standin.deployments_succeed_on_read = True
        session = requests.Session()
        session.mount("https://", standin.transport().session.get_adapter("https://"))
        self.training_jobs = AzureMLTrainingJobs(ml_client)
        self.registry = AzureMLModelRegistry(ml_client)
        self.endpoints = AzureMLEndpoints(ml_client, http=session)
        self.traffic_stats = LogAnalyticsTrafficStats(
            LogsQueryClient(FakeCredential(), transport=standin.transport()), LA_WORKSPACE_ID
        )
        self.events = EventGridEventPublisher(
            f"https://{TOPIC_HOST}/api/events", FakeCredential(), transport=standin.transport()
        )

    def champion_live(self, traffic: dict[str, int], *, challenger: bool = True) -> None:
        """Version 1 registered on AML as the champion, live as `traffic`; with `challenger`, version 2
        (run-1's model) registered too. The recorded calls start empty after this."""
        for run in (0, 1) if challenger else (0,):
            self.standin.put_blob(
                "azureml", f"ExperimentRun/dcid.churn-run-{run}-train/model/MLmodel", MLMODEL
            )
            self.registry.register(
                "churn", SRC.format(run), {"lifecycle_id": "earlier" if run == 0 else "run-1"}
            )
        self.registry.set_champion("churn", "1")
        self.standin.add_endpoint(EP)
        v1 = self.registry.get("churn", "1")
        for name in traffic:
            self.endpoints.begin_deploy(EP, name, v1)
            self.standin.finish_deployment(EP, name)
        self.endpoints.set_traffic(EP, traffic)
        self.standin.calls.clear()

    def overrides(self) -> dict[str, Any]:
        """wiring.override(...) keys: every port an Azure adapter, except what the test chose to fake."""
        return {
            **self.fakes.as_overrides(),
            "data_lake": self.data_lake,
            "ledger": self.ledger,
            "training_jobs": self.training_jobs,
            "registry": self.registry,
            "endpoints": self.endpoints,
            "traffic_stats": self.traffic_stats,
            "events": self.events,
        }

    def traffic_puts(self) -> list[tuple[dict[str, int], dict[str, int]]]:
        """(traffic, mirror traffic) of every endpoint PUT Azure ML received, in order."""
        puts = self.standin.sent("PUT", rf"/onlineEndpoints/{EP}$")
        return [
            (c.json()["properties"].get("traffic", {}), c.json()["properties"].get("mirrorTraffic") or {})
            for c in puts
        ]
