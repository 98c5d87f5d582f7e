"""LocalEndpoints implements the Endpoints port against the real local endpoint server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.local.endpoints import EndpointError, LocalEndpoints, ScoringError
from core.kernel.ports import DeploymentInfo, Endpoints, ModelVersion, TrafficRuleError
from devhost import procs
from devstack import loadgen
from tests.integration.endpoint_support import KEY, base_url, start_server, train_churn_models

pytestmark = [pytest.mark.slow, pytest.mark.integration]

EP = "churn-adapter"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelVersion, ModelVersion]:
    blue, green = train_churn_models(tmp_path_factory.mktemp("models"))
    return ModelVersion("churn", "1", str(blue)), ModelVersion("churn", "2", str(green))


@pytest.fixture(scope="module")
def endpoints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEndpoints]:
    proc = start_server(tmp_path_factory.mktemp("endpoint-adapter"))
    try:
        yield LocalEndpoints(base_url(proc), KEY)
    finally:
        proc.stop()


def wait_deployed(endpoints: LocalEndpoints, deployment: str, timeout: float = 90) -> DeploymentInfo:
    deadline = time.monotonic() + timeout
    info = endpoints.deployment(EP, deployment)
    while info.state == "creating" and time.monotonic() < deadline:
        time.sleep(0.1)
        info = endpoints.deployment(EP, deployment)
    return info


@pytest.fixture(scope="module")
def blue_green(endpoints: LocalEndpoints, models: tuple[ModelVersion, ModelVersion]) -> LocalEndpoints:
    endpoints.ensure_endpoint(EP)
    for name, model in zip(("blue", "green"), models, strict=True):
        endpoints.begin_deploy(EP, name, model)
    assert wait_deployed(endpoints, "blue").state == "succeeded"
    assert wait_deployed(endpoints, "green").state == "succeeded"
    endpoints.set_traffic(EP, {"blue": 100, "green": 0}, {})
    return endpoints


def sample() -> dict:
    frame = loadgen.churn_rows(4, seed=5)
    return {
        "input_data": {"columns": list(frame.columns), "index": list(range(4)), "data": frame.values.tolist()}
    }


def test_the_adapter_satisfies_the_endpoints_port(endpoints: LocalEndpoints) -> None:
    assert isinstance(endpoints, Endpoints)


def test_ensure_endpoint_creates_once_and_returns_the_scoring_uri(endpoints: LocalEndpoints) -> None:
    first = endpoints.ensure_endpoint("fresh")
    again = endpoints.ensure_endpoint("fresh")
    assert first == again
    assert first.scoring_uri.endswith("/endpoints/fresh/score")
    assert (first.traffic, first.mirror_traffic, first.deployments) == ({}, {}, {})


def test_begin_deploy_returns_at_once_in_state_creating_and_the_model_then_serves(
    endpoints: LocalEndpoints, models: tuple[ModelVersion, ModelVersion]
) -> None:
    endpoints.ensure_endpoint(EP)
    started = time.monotonic()
    info = endpoints.begin_deploy(EP, "canary", models[0], environment_variables={"FAULT_ERROR_RATE": "0"})
    assert time.monotonic() - started < 2.0
    assert (info.state, info.model_name, info.model_version) == ("creating", "churn", "1")
    assert wait_deployed(endpoints, "canary").state == "succeeded"
    assert len(endpoints.invoke(EP, sample(), deployment="canary")) == 4
    # idempotent for the same model: nothing is reloaded
    assert endpoints.begin_deploy(
        EP, "canary", models[0], environment_variables={"FAULT_ERROR_RATE": "0"}
    ).state == ("succeeded")
    endpoints.delete_deployment(EP, "canary")


def test_a_deployment_of_something_that_is_not_an_mlflow_model_fails_with_a_reason(
    endpoints: LocalEndpoints, tmp_path: Path
) -> None:
    endpoints.ensure_endpoint(EP)
    endpoints.begin_deploy(EP, "broken", ModelVersion("churn", "9", str(tmp_path)))
    info = wait_deployed(endpoints, "broken")
    assert info.state == "failed" and "MLmodel" in info.message
    with pytest.raises(TrafficRuleError, match="only a succeeded deployment"):
        endpoints.set_traffic(EP, {"broken": 100})
    endpoints.delete_deployment(EP, "broken")


def test_an_unknown_deployment_is_reported_missing(endpoints: LocalEndpoints) -> None:
    endpoints.ensure_endpoint(EP)
    assert endpoints.deployment(EP, "nobody").state == "missing"


def test_set_traffic_applies_a_split_and_raises_traffic_rule_error_for_what_azure_ml_refuses(
    blue_green: LocalEndpoints,
) -> None:
    info = blue_green.set_traffic(EP, {"blue": 90, "green": 10})
    assert info.traffic == {"blue": 90, "green": 10}
    with pytest.raises(TrafficRuleError, match="sum to 100"):
        blue_green.set_traffic(EP, {"blue": 90, "green": 20})
    with pytest.raises(TrafficRuleError, match="cannot also receive mirror traffic"):
        blue_green.set_traffic(EP, {"blue": 90, "green": 10}, {"green": 20})
    assert blue_green.get(EP).traffic == {"blue": 90, "green": 10}


def test_mirror_is_kept_when_not_given_and_cleared_with_an_empty_split(blue_green: LocalEndpoints) -> None:
    assert blue_green.set_traffic(EP, {"blue": 100, "green": 0}, {"green": 20}).mirror_traffic == {
        "green": 20
    }
    assert blue_green.set_traffic(EP, {"blue": 100, "green": 0}).mirror_traffic == {"green": 20}
    assert blue_green.set_traffic(EP, {"blue": 100, "green": 0}, {}).mirror_traffic == {}


def test_invoke_scores_pinned_or_routed_and_raises_on_a_model_error(blue_green: LocalEndpoints) -> None:
    blue_green.set_traffic(EP, {"blue": 100, "green": 0}, {})
    routed = blue_green.invoke(EP, sample())
    pinned = blue_green.invoke(EP, sample(), deployment="green")
    assert len(routed) == len(pinned) == 4
    assert routed != pinned  # two different models answered
    blue_green.set_faults(EP, "green", error_rate=1.0)
    try:
        with pytest.raises(ScoringError) as failed:
            blue_green.invoke(EP, sample(), deployment="green")
        assert (failed.value.status, failed.value.deployment) == (424, "green")
    finally:
        blue_green.set_faults(EP, "green", error_rate=0.0)


def test_a_deployment_with_live_traffic_cannot_be_deleted_and_a_gone_one_deletes_quietly(
    blue_green: LocalEndpoints, models: tuple[ModelVersion, ModelVersion]
) -> None:
    blue_green.begin_deploy(EP, "retired", models[1])
    assert wait_deployed(blue_green, "retired").state == "succeeded"
    blue_green.set_traffic(EP, {"blue": 50, "green": 0, "retired": 50}, {})
    with pytest.raises(TrafficRuleError, match="live traffic"):
        blue_green.delete_deployment(EP, "retired")
    blue_green.set_traffic(EP, {"blue": 100, "green": 0, "retired": 0})
    blue_green.delete_deployment(EP, "retired")
    blue_green.delete_deployment(EP, "retired")
    assert blue_green.deployment(EP, "retired").state == "missing"
    assert "retired" not in blue_green.get(EP).deployments


def test_errors_say_what_is_wrong(endpoints: LocalEndpoints) -> None:
    with pytest.raises(LookupError, match="does not exist"):
        endpoints.get("never-created")
    with pytest.raises(EndpointError, match="not reachable"):
        LocalEndpoints(f"http://127.0.0.1:{procs.free_port()}", KEY, timeout=2).get(EP)
