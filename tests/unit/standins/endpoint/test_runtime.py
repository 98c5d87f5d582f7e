"""Scoring payloads and injected faults of a local deployment."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from standins.endpoint.runtime import Faults, PayloadError, parse_payload, to_jsonable


def test_the_aml_mlflow_payload_becomes_a_frame_with_its_columns_and_index() -> None:
    body = {"input_data": {"columns": ["age", "tenure"], "index": [7, 8], "data": [[30, 2], [41, 12]]}}
    frame = parse_payload(json.dumps(body).encode())
    assert list(frame.columns) == ["age", "tenure"] and list(frame.index) == [7, 8]
    assert frame.loc[8, "tenure"] == 12


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"rows": []}',
        b'{"input_data": {"columns": ["a"]}}',
        b'{"input_data": {"columns": ["a"], "data": [[1, 2]]}}',
    ],
)
def test_malformed_payloads_are_refused_with_the_expected_shape(body: bytes) -> None:
    with pytest.raises(PayloadError):
        parse_payload(body)


def test_predictions_serialise_as_a_json_list() -> None:
    assert to_jsonable(np.array([0.25, 0.75])) == [0.25, 0.75]


def test_faults_come_from_deployment_environment_variables() -> None:
    faults = Faults.from_env({"FAULT_ERROR_RATE": "0.05", "FAULT_EXTRA_LATENCY_MS": "200"})
    assert (faults.error_rate, faults.extra_latency_ms, faults.jitter_ms, faults.error_status) == (
        0.05,
        200,
        20,
        424,
    )
    assert Faults.from_env({}) == Faults()


def test_an_error_rate_fails_about_that_share_and_latency_stays_within_its_jitter() -> None:
    rng = random.Random(1)
    faults = Faults(error_rate=0.2, extra_latency_ms=100, jitter_ms=10)
    assert 1700 < sum(faults.fails(rng) for _ in range(10_000)) < 2300
    assert all(0.09 <= faults.delay_seconds(rng) <= 0.11 for _ in range(1000))


def test_invalid_fault_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="FAULT_"):
        Faults.from_env({"FAULT_ERROR_RATE": "often"})
    with pytest.raises(ValueError, match="error_rate"):
        Faults(error_rate=1.5)
