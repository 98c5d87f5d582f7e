"""wiring.py builds the local adapters for LIFECYCLE_MODE=local into one Ports object, and tests
swap it whole. (Azure mode: tests/integration/azure/test_azure_bootstrap.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import wiring
from activities.lifecycle import LifecycleActivities
from adapters.local.endpoints import LocalEndpoints
from adapters.local.ledger import SqliteRunLedger
from adapters.local.registry import MlflowModelRegistry
from adapters.local.shared_registry import MlflowSharedRegistry
from adapters.local.traffic_stats import SqliteTrafficStats
from adapters.local.training_jobs import LocalTrainingJobs
from core.environments.deploy import DeployOnlyModelRegistry
from core.kernel.policy import PolicyDirectory
from core.kernel.ports import LifecycleEvent
from core.kernel.settings import Settings, SettingsError
from core.training.payloads import ChampionInput
from tests.fakes import FakeAdapters

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Settings]:
    settings = Settings(local_state_dir=tmp_path / "state", code_version="v1")
    wiring.reset()
    with wiring.override(settings=settings):
        yield settings
    wiring.reset()


def test_local_mode_wires_the_local_adapters_and_the_policy_directory(local):
    ports = wiring.ports()
    assert isinstance(ports.training_jobs, LocalTrainingJobs)
    # deploy-only models read the shared registry; every other model the workspace's MLflow store
    assert isinstance(ports.registry, DeployOnlyModelRegistry)
    assert isinstance(ports.registry.workspace, MlflowModelRegistry)
    assert ports.model_share is None  # SHARED_REGISTRY_NAME unset
    assert isinstance(ports.endpoints, LocalEndpoints)
    assert isinstance(ports.traffic_stats, SqliteTrafficStats)
    assert isinstance(ports.ledger, SqliteRunLedger) and ports.ledger.path == local.ledger_file
    assert isinstance(ports.policies, PolicyDirectory) and "churn" in ports.policies.all()
    assert ports.code_version == "v1" and ports.settings is local
    assert ports.job_input_root == local.local_state_dir / "datalake"
    assert wiring.ports().ledger is ports.ledger  # built once per process


def test_without_a_topic_the_run_goes_on_and_each_publish_names_the_missing_setting(local):
    event = LifecycleEvent(
        id="e1", type="mllifecycle.started", model="churn", run_id="r1", time=datetime.now(UTC)
    )
    with pytest.raises(SettingsError, match="EVENTS_TOPIC_ENDPOINT"):
        wiring.ports().events.publish([event])


def test_tests_swap_every_port_at_once(local):
    fakes = FakeAdapters()
    ports = fakes.ports(local, {})
    with wiring.override(ports=ports):
        assert wiring.ports() is ports
        mv = fakes.registry.register("churn", "file:///m", {})
        fakes.registry.set_champion("churn", mv.version)
        assert LifecycleActivities(wiring.ports()).get_champion(ChampionInput(model="churn")).version == "1"


def test_a_named_shared_registry_is_a_second_mlflow_store_fed_by_the_workspace_registry(tmp_path):
    settings = Settings(
        local_state_dir=tmp_path / "state", shared_registry_name="shared-ml", environment_name="dev"
    )
    wiring.reset()
    try:
        with wiring.override(settings=settings):
            assert wiring.ports().model_share.registry == "shared-ml"  # type: ignore[union-attr]
            share = wiring.model_share()
            assert isinstance(share, MlflowSharedRegistry)
            assert share.registry == "shared-ml" and share.source is wiring.workspace_registry()
            assert share.source_name == "dev"
            assert share.tracking_uri.endswith("shared-registry.db")
    finally:
        wiring.reset()


def test_activities_get_their_ports_while_the_shared_registry_cannot_be_reached(tmp_path, monkeypatch):
    """Building the Azure registry client calls registry discovery; before prod's Registry User
    grant it fails. Only the use of the registry may fail then, not every activity."""
    settings = Settings(local_state_dir=tmp_path / "state", shared_registry_name="shared-ml")
    built: list[str] = []

    def unreachable():
        built.append("model_share")
        raise ConnectionError("registry discovery for 'shared-ml' failed: 403")

    monkeypatch.setattr(wiring, "model_share", unreachable)
    wiring.reset()
    try:
        with wiring.override(settings=settings):
            ports = wiring.ports()
            assert built == []  # nothing reached for the registry yet
            assert ports.model_share is not None and ports.model_share.registry == "shared-ml"
            assert ports.ledger is not None and ports.registry is not None
            with pytest.raises(ConnectionError, match="discovery"):
                ports.model_share.get("churn", "1")
            assert built == ["model_share"]
    finally:
        wiring.reset()


def test_locally_a_policy_that_names_a_data_factory_pipeline_fails_saying_it_needs_azure(local):
    with pytest.raises(SettingsError, match=r"raw-to-features.*LIFECYCLE_MODE=azure"):
        wiring.ports().data_pipelines.start("raw-to-features", {"runId": "r1"}, reference="r1")


def test_a_contract_that_cannot_load_is_read_once_and_each_event_gets_its_own_error(tmp_path):
    """The edge asks for a policy's contract on every blob event; a broken contract is read once per
    edit and each ask raises a new ContractError with the reason. (The cached exception used to be
    raised again and again: its traceback grew by every event's frames and kept them, and their
    events, alive: 150,000 objects for gen-2 collections to scan in a 10,000-event storm.)"""
    import traceback

    from bench.events import write_policies
    from core.kernel.contract import ContractError
    from core.kernel.policy import load_policies

    [policy] = load_policies(write_policies(tmp_path, ["churn"], debounce_seconds=30)).values()
    errors = []
    for _ in range(50):
        with pytest.raises(ContractError, match="invalid data contract") as caught:
            wiring.contract_of(policy)
        errors.append(caught.value)
    assert len({id(e) for e in errors}) == 50  # a new error each time
    assert len(traceback.extract_tb(errors[-1].__traceback__)) <= 2  # this call's frames only
    policy.path(policy.data.contract).write_text("not: [valid", encoding="utf-8")
    with pytest.raises(ContractError, match="invalid data contract"):
        wiring.contract_of(policy)  # the same policy object: not read again
