"""The local online endpoint server behaves like an AML managed online endpoint, over HTTP."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devstack import loadgen
from tests.integration.endpoint_support import KEY, base_url, start_server, train_churn_models, wait_state

pytestmark = [pytest.mark.slow, pytest.mark.integration]

AUTH = {"Authorization": f"Bearer {KEY}"}
EP = "churn"


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("endpoint-server")


@pytest.fixture(scope="module")
def models(state: Path) -> tuple[Path, Path]:
    return train_churn_models(state / "models")


@pytest.fixture(scope="module")
def server(state: Path, models: tuple[Path, Path]) -> Iterator[dict]:
    """One server with endpoint `churn`: blue (logreg) at 100%, green (tree) at 0%."""
    proc = start_server(state)
    url = base_url(proc)
    box = {"proc": proc, "url": url}
    try:
        requests.put(f"{url}/endpoints/{EP}", headers=AUTH, json={}, timeout=10).raise_for_status()
        for name, path in zip(("blue", "green"), models, strict=True):
            body = {"model": {"name": "churn", "version": name, "uri": str(path)}}
            r = requests.put(f"{url}/endpoints/{EP}/deployments/{name}", headers=AUTH, json=body, timeout=10)
            assert r.status_code == 202 and r.json()["state"] == "creating"
        for name in ("blue", "green"):
            assert wait_state(url, EP, name)["state"] == "succeeded"
        set_split(url, {"blue": 100, "green": 0}, {})
        yield box
    finally:
        box["proc"].stop()


def set_split(url: str, traffic: dict, mirror: dict | None = None) -> requests.Response:
    body: dict = {"traffic": traffic}
    if mirror is not None:
        body["mirror_traffic"] = mirror
    return requests.patch(f"{url}/endpoints/{EP}", headers=AUTH, json=body, timeout=10)


def payload(rows: int = 3) -> dict:
    frame = loadgen.churn_rows(rows, seed=11)
    return {
        "input_data": {
            "columns": list(frame.columns),
            "index": list(range(rows)),
            "data": frame.values.tolist(),
        }
    }


def score(url: str, body: object, headers: dict | None = None) -> requests.Response:
    return requests.post(
        f"{url}/endpoints/{EP}/score", headers={**AUTH, **(headers or {})}, json=body, timeout=10
    )


def flushed_rows(url: str, state: Path, where: str = "1=1", args: tuple = ()) -> list[sqlite3.Row]:
    requests.post(f"{url}/admin/flush", headers=AUTH, timeout=10).raise_for_status()
    with sqlite3.connect(state / "traffic.db") as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(f"SELECT * FROM AmlOnlineEndpointTrafficLog WHERE {where}", args).fetchall()


def test_scoring_answers_one_probability_pair_per_row_with_the_serving_deployment(server: dict) -> None:
    r = score(server["url"], payload(3))
    assert r.status_code == 200
    predictions = r.json()
    assert len(predictions) == 3 and all(len(p) == 2 and abs(sum(p) - 1) < 1e-6 for p in predictions)
    assert r.headers["azureml-model-deployment"] == "blue"
    assert r.headers["x-request-id"]


def test_scoring_refuses_a_wrong_key_a_malformed_payload_and_an_unknown_deployment(server: dict) -> None:
    url = server["url"]
    assert requests.post(f"{url}/endpoints/{EP}/score", json=payload(), timeout=10).status_code == 401
    assert score(url, payload(), {"Authorization": "Bearer nope"}).status_code == 401
    bad = score(url, {"rows": [[1, 2]]})
    assert bad.status_code == 400 and "input_data" in bad.json()["message"]
    wrong_columns = score(url, {"input_data": {"columns": ["a"], "index": [0], "data": [[1.0]]}})
    assert wrong_columns.status_code == 400
    assert score(url, payload(), {"azureml-model-deployment": "purple"}).status_code == 404
    assert (
        requests.post(f"{url}/endpoints/nope/score", headers=AUTH, json=payload(), timeout=10).status_code
        == 404
    )


def test_score_at_the_root_routes_by_the_endpoint_named_in_the_host(server: dict) -> None:
    r = requests.post(
        f"{server['url']}/score", headers={**AUTH, "Host": f"{EP}.localhost"}, json=payload(1), timeout=10
    )
    assert r.status_code == 200 and len(r.json()) == 1


def test_the_deployment_header_pins_a_request_even_to_a_deployment_without_traffic(server: dict) -> None:
    assert set_split(server["url"], {"blue": 100, "green": 0}, {}).status_code == 200
    r = score(server["url"], payload(), {"azureml-model-deployment": "green"})
    assert r.status_code == 200 and r.headers["azureml-model-deployment"] == "green"


def test_requests_are_split_between_deployments_by_their_traffic_share(server: dict) -> None:
    url = server["url"]
    assert set_split(url, {"blue": 80, "green": 20}).status_code == 200
    result = loadgen.run(f"{url}/endpoints/{EP}/score", KEY, rps=400, seconds=1.5, max_requests=500)
    assert result.errors == 0 and result.sent == 500
    green = result.by_deployment().get("green", 0)
    assert 100 - 40 <= green <= 100 + 40, result.by_deployment()  # binomial(500, 0.2): sd ~9


def test_traffic_rules_of_azure_ml_are_enforced_with_actionable_messages(server: dict) -> None:
    url = server["url"]
    cases = [
        ({"blue": 70, "green": 20}, None, "sum to 100"),
        ({"blue": 100, "red": 0}, None, "does not exist"),
        ({"blue": 100, "green": 0}, {"green": 60}, "at most 50%"),
        ({"blue": 50, "green": 50}, {"green": 10}, "cannot also receive mirror traffic"),
    ]
    before = requests.get(f"{url}/endpoints/{EP}", headers=AUTH, timeout=10).json()
    for traffic, mirror, message in cases:
        r = set_split(url, traffic, mirror)
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "TrafficRuleViolation"
        assert message in r.json()["error"]["message"]
    after = requests.get(f"{url}/endpoints/{EP}", headers=AUTH, timeout=10).json()
    assert (after["traffic"], after["mirror_traffic"]) == (before["traffic"], before["mirror_traffic"])


def test_a_deployment_with_live_traffic_cannot_be_deleted(server: dict) -> None:
    url = server["url"]
    assert set_split(url, {"blue": 90, "green": 10}, {}).status_code == 200
    r = requests.delete(f"{url}/endpoints/{EP}/deployments/green", headers=AUTH, timeout=10)
    assert r.status_code == 400 and "10% live traffic" in r.json()["error"]["message"]
    assert wait_state(url, EP, "green")["state"] == "succeeded"


def test_mirror_copies_a_share_of_unpinned_requests_to_the_mirror_deployment(
    server: dict, state: Path
) -> None:
    url = server["url"]
    assert set_split(url, {"blue": 100, "green": 0}, {"green": 50}).status_code == 200
    marker = f"mirror-{time.time()}"
    answered = [
        score(url, payload(1), {"x-ms-client-request-id": f"{marker}-{i}"}).headers[
            "azureml-model-deployment"
        ]
        for i in range(120)
    ]
    pinned = score(
        url, payload(1), {"azureml-model-deployment": "blue", "x-ms-client-request-id": f"{marker}-p"}
    )
    assert pinned.status_code == 200
    assert set(answered) == {"blue"}  # clients only ever see the live deployment
    rows: list = []
    for _ in range(20):  # mirrored calls run in the background: wait until their rows stop arriving
        time.sleep(0.25)
        latest = flushed_rows(url, state, "XMSClientRequestId LIKE ?", (f"{marker}-%",))
        if rows and len(latest) == len(rows):
            break
        rows = latest
    mirrored = [r for r in rows if r["IsMirrored"] == 1]
    assert all(r["DeploymentName"] == "green" and r["ResponseCode"] == "200" for r in mirrored)
    assert 60 - 25 <= len(mirrored) <= 60 + 25
    assert f"{marker}-p" not in {r["XMSClientRequestId"] for r in mirrored}
    assert set_split(url, {"blue": 100, "green": 0}, {}).status_code == 200


def test_the_prediction_log_pairs_a_mirrored_answer_with_its_original_and_keeps_the_entity_id(
    server: dict, state: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    from adapters.local.prediction_log import SqlitePredictionLog
    from core.rollout.predictions import pair_by_request

    url = server["url"]
    r = requests.patch(
        f"{url}/endpoints/{EP}", headers=AUTH, json={"entity_id_column": "customer_id"}, timeout=10
    )
    assert r.status_code == 200 and r.json()["entity_id_column"] == "customer_id"
    assert set_split(url, {"blue": 100, "green": 0}, {"green": 50}).status_code == 200
    start = datetime.now(UTC)
    originals = {}
    for i in range(60):
        body = payload(1)
        body["input_data"]["columns"].append("customer_id")  # an id column the model does not use
        body["input_data"]["data"][0].append(f"C-{i}")
        answer = score(url, body)
        assert answer.status_code == 200
        originals[answer.headers["x-request-id"]] = (f"C-{i}", answer.json()[0][-1])  # [P(0), P(1)]
    log = SqlitePredictionLog(state / "traffic.db")
    window = log.window(EP, ["blue", "green"], start, datetime.now(UTC) + timedelta(seconds=5))
    for _ in range(20):  # mirrored calls run in the background: wait until their rows stop arriving
        time.sleep(0.25)
        requests.post(f"{url}/admin/flush", headers=AUTH, timeout=10).raise_for_status()
        latest = log.window(EP, ["blue", "green"], start, datetime.now(UTC) + timedelta(seconds=5))
        if len(latest.records) == len(window.records):
            break
        window = latest
    blue = [rec for rec in window.records if rec.deployment == "blue"]
    green = [rec for rec in window.records if rec.deployment == "green"]
    assert {rec.request_id for rec in blue} == set(originals) and not any(rec.mirrored for rec in blue)
    assert {rec.entity_id for rec in blue} == {e for e, _ in originals.values()}
    assert all(rec.score == pytest.approx(originals[rec.request_id][1]) for rec in blue)  # P(churn) logged
    # the row the model scored is logged beside its score (model data collection's model_inputs)
    assert all(
        rec.inputs is not None and rec.inputs["customer_id"] == originals[rec.request_id][0] for rec in blue
    )
    assert all(set(body["input_data"]["columns"]) <= set(rec.inputs or {}) for rec in blue)
    assert 30 - 18 <= len(green) <= 30 + 18 and all(rec.mirrored for rec in green)  # 50% of 60
    pairs = pair_by_request(window.records, "blue", "green")
    assert len(pairs) == len(green)  # every mirrored answer pairs with the original's
    assert window.ingested_until is not None and window.ingested_until >= start
    assert all(rec.model_version == rec.deployment for rec in window.records)  # version as deployed
    assert set_split(url, {"blue": 100, "green": 0}, {}).status_code == 200


def test_faults_make_a_deployment_fail_the_configured_share_of_requests(server: dict, state: Path) -> None:
    url = server["url"]
    faults = {"error_rate": 0.3, "extra_latency_ms": 0}
    assert requests.put(
        f"{url}/endpoints/{EP}/deployments/green/faults", headers=AUTH, json=faults, timeout=10
    ).ok
    try:
        result = loadgen.run(
            f"{url}/endpoints/{EP}/score", KEY, rps=300, seconds=1.5, max_requests=300, deployment="green"
        )
    finally:
        requests.put(
            f"{url}/endpoints/{EP}/deployments/green/faults", headers=AUTH, json={"error_rate": 0}, timeout=10
        )
    assert set(result.by_status()) == {"200", "424"}
    assert 90 - 30 <= result.by_status()["424"] <= 90 + 30
    rows = flushed_rows(url, state, "DeploymentName = 'green' AND ResponseCode = '424'")
    assert rows and all(r["ModelStatusCode"] == "500" for r in rows)


def test_faults_set_by_environment_variables_add_latency_and_errors_and_a_slow_model_times_out(
    server: dict, models: tuple[Path, Path]
) -> None:
    url = server["url"]
    body = {
        "model": {"name": "churn", "version": "slow", "uri": str(models[1])},
        "environment_variables": {"FAULT_ERROR_RATE": "1.0", "FAULT_EXTRA_LATENCY_MS": "120"},
        "request_settings": {"request_timeout_ms": 400},
    }
    assert (
        requests.put(
            f"{url}/endpoints/{EP}/deployments/faulty", headers=AUTH, json=body, timeout=10
        ).status_code
        == 202
    )
    assert wait_state(url, EP, "faulty")["state"] == "succeeded"
    started = time.perf_counter()
    r = score(url, payload(), {"azureml-model-deployment": "faulty"})
    assert r.status_code == 424 and time.perf_counter() - started >= 0.1
    slower = {"error_rate": 0, "extra_latency_ms": 600}
    assert requests.put(
        f"{url}/endpoints/{EP}/deployments/faulty/faults", headers=AUTH, json=slower, timeout=10
    ).ok
    assert (
        score(url, payload(), {"azureml-model-deployment": "faulty"}).status_code == 408
    )  # request_timeout_ms
    assert requests.delete(f"{url}/endpoints/{EP}/deployments/faulty", headers=AUTH, timeout=10).ok


def test_every_request_is_logged_with_the_aml_traffic_log_columns(server: dict, state: Path) -> None:
    url = server["url"]
    r = score(url, payload(2), {"x-ms-client-request-id": "columns-check"})
    (row,) = flushed_rows(url, state, "XMSClientRequestId = 'columns-check'")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", row["TimeGenerated"])
    assert (row["EndpointName"], row["DeploymentName"], row["ResponseCode"], row["ModelStatusCode"]) == (
        EP, r.headers["azureml-model-deployment"], "200", "200",
    )  # fmt: skip
    assert row["XRequestId"] == r.headers["x-request-id"]
    assert row["RequestPayloadSize"] == len(r.request.body) and row["ResponsePayloadSize"] == len(r.content)
    assert row["TotalDurationMs"] >= row["ResponseDurationMs"] > 0 and row["RequestDurationMs"] >= 0
    assert (row["Method"], row["Path"], row["IsMirrored"]) == ("POST", f"/endpoints/{EP}/score", 0)
    with sqlite3.connect(state / "traffic.db") as conn:
        types = {
            name: kind for _, name, kind, *_ in conn.execute("PRAGMA table_info(AmlOnlineEndpointTrafficLog)")
        }
    assert types["ResponseCode"] == "TEXT" and types["TotalDurationMs"] == "REAL"


def test_a_traffic_change_under_load_takes_effect_at_once_without_failing_requests(server: dict) -> None:
    url = server["url"]
    assert set_split(url, {"blue": 100, "green": 0}, {}).status_code == 200
    with loadgen.LoadGenerator(f"{url}/endpoints/{EP}/score", KEY, rps=150, seconds=2.5) as load:
        time.sleep(1.0)
        assert set_split(url, {"blue": 0, "green": 100}).status_code == 200
        switched = time.time()
        result = load.wait()
    assert result.errors == 0 and result.sent >= 300
    late = [r for r in result.responses if r.sent_at > switched]
    assert late and {r.deployment for r in late} == {"green"}
    assert {"blue", "green"} <= set(result.by_deployment())
    assert set_split(url, {"blue": 100, "green": 0}, {}).status_code == 200


def test_a_rollouts_only_load_scores_only_while_a_second_deployment_is_on_the_endpoint(
    server: dict, models: tuple[Path, Path]
) -> None:
    url, solo = server["url"], "solo"
    requests.put(f"{url}/endpoints/{solo}", headers=AUTH, json={}, timeout=10).raise_for_status()

    def deploy(name: str, path: Path) -> None:
        body = {"model": {"name": "churn", "version": name, "uri": str(path)}}
        r = requests.put(f"{url}/endpoints/{solo}/deployments/{name}", headers=AUTH, json=body, timeout=10)
        assert r.status_code == 202
        assert wait_state(url, solo, name)["state"] == "succeeded"

    deploy("blue", models[0])
    body = {"traffic": {"blue": 100}}
    requests.patch(f"{url}/endpoints/{solo}", headers=AUTH, json=body, timeout=10).raise_for_status()
    score_url = f"{url}/endpoints/{solo}/score"
    with loadgen.LoadGenerator(score_url, KEY, rps=100, seconds=60, rollouts_only=True) as load:
        time.sleep(1.5)
        assert load.result().sent == 0  # one deployment serves: no rollout, nothing to judge
        deploy("green", models[1])  # a rollout begins: green at 0%, before its smoke test and first split
        time.sleep(2.5)
        assert load.result().sent >= 50  # from the next check on, at the full rate
        r = requests.delete(f"{url}/endpoints/{solo}/deployments/green", headers=AUTH, timeout=10)
        assert r.status_code in (200, 202, 204), r.text
        time.sleep(2.5)  # the next check, a second at most
        stopped = load.result().sent
        time.sleep(1.5)
        assert load.result().sent == stopped  # the rollout ended: paused again
    assert load.result().errors == 0


def test_a_restarted_server_restores_endpoints_deployments_and_traffic(server: dict, state: Path) -> None:
    url = server["url"]
    assert set_split(url, {"blue": 70, "green": 30}, {}).status_code == 200
    before = requests.get(f"{url}/endpoints/{EP}", headers=AUTH, timeout=10).json()
    server["proc"].stop()
    server["proc"] = start_server(state, port=server["proc"].port)
    after = requests.get(f"{url}/endpoints/{EP}", headers=AUTH, timeout=10).json()
    assert after["traffic"] == before["traffic"] == {"blue": 70, "green": 30}
    assert {name: d["state"] for name, d in after["deployments"].items()} == {
        "blue": "succeeded",
        "green": "succeeded",
    }
    assert score(url, payload()).status_code == 200
