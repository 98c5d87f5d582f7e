"""An activity reference carries its name and types: what an orchestrator sends is checked against
the input type, and what comes back (fresh or from history) is read as the output type."""

from __future__ import annotations

import pytest

from core.training.payloads import JOB_STATUS, ChampionInput, JobInput, JobResult


def test_a_reference_sends_its_input_as_json():
    assert JOB_STATUS.request(JobInput(job_name="j1")) == {"job_name": "j1"}


def test_a_reference_refuses_a_payload_of_another_type_with_both_names():
    with pytest.raises(TypeError, match="lifecycle_job_status takes JobInput, not ChampionInput"):
        JOB_STATUS.request(ChampionInput(model="churn"))  # type: ignore[arg-type]


def test_a_reference_reads_the_result_as_its_output_type():
    raw = {"name": "j1", "state": "completed", "done": True}
    result = JOB_STATUS.result(raw)
    assert isinstance(result, JobResult) and result.done and result.state == "completed"
