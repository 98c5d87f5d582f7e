"""The policy loader: good files load with defaults; bad files fail naming the file, the field and the fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from core.kernel.policy import PolicyError, load_policies, load_policy, parse_policy

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "churn" / "policy.yaml"

MINIMAL = """
model: churn
data: {prefix: churn/, contract: contract.yaml}
training: {job: jobs/train.yml, evaluation_job: jobs/evaluate.yml, experiment: churn}
"""


def _parse(text: str, name: str = "models/churn/policy.yaml"):
    return parse_policy(textwrap.dedent(text), Path(name))


def _error(text: str) -> str:
    with pytest.raises(PolicyError) as info:
        _parse(text)
    return str(info.value)


def test_the_sample_policy_loads_with_its_paths_resolved_next_to_it():
    policy = load_policy(SAMPLE)
    assert policy.model == "churn"
    assert policy.evaluation.metric == "auc" and policy.evaluation.direction == "max"
    assert policy.path(policy.training.job).is_file()
    assert policy.path(policy.data.contract) == SAMPLE.parent / "contract.yaml"
    assert policy.rollout.steps[-1] == 100


def test_a_minimal_policy_gets_documented_defaults():
    policy = _parse(MINIMAL)
    assert policy.data.split.eval_fraction == 0.2
    assert policy.evaluation.min_abs_gain == 0.0
    assert policy.rollout.enabled is False and policy.rollout.on_inconclusive == "rollback"
    assert policy.rollout.gates.alpha == 0.05
    assert policy.budget.max_trainings_per_day == 4


def test_the_hash_ignores_comments_and_formatting_but_not_rules():
    a = _parse(MINIMAL)
    b = _parse(
        "# a comment\n"
        + MINIMAL.replace(
            "{prefix: churn/, contract: contract.yaml}", "\n  prefix: churn/\n  contract: contract.yaml"
        )
    )
    c = _parse(MINIMAL + "evaluation: {min_abs_gain: 0.01}\n")
    assert a.hash == b.hash
    assert a.hash != c.hash
    assert a.hash.startswith("sha256:")


def test_a_missing_section_names_the_file_the_field_and_the_fix():
    message = _error("model: churn\ndata: {prefix: churn/, contract: c.yaml}\n")
    assert "models/churn/policy.yaml" in message
    assert "training: Field required; fix: add this field" in message


def test_a_misspelt_key_is_named_with_the_keys_allowed_there():
    message = _error(MINIMAL + "evaluation: {metrik: auc}\n")
    assert "evaluation.metrik" in message
    assert "allowed here: direction, metric, min_abs_gain, min_rel_gain" in message


def test_a_wrong_enum_value_says_which_values_are_allowed():
    message = _error(MINIMAL + "rollout: {on_inconclusive: retry}\n")
    assert "rollout.on_inconclusive" in message
    assert "'rollback', 'promote' or 'hold'" in message


def test_a_wrong_type_names_the_nested_field_and_what_to_write():
    message = _error(MINIMAL.replace("experiment: churn}", "experiment: churn, deadline_seconds: soon}"))
    assert "training.deadline_seconds" in message and "write a whole number" in message


def test_rollout_steps_must_ramp_up_to_100():
    assert "must end at 100" in _error(MINIMAL + "rollout: {steps: [10, 50]}\n")
    assert "must increase strictly" in _error(MINIMAL + "rollout: {steps: [50, 10, 100]}\n")


def test_mirror_traffic_above_azure_mls_50_percent_is_refused():
    assert "rollout.mirror.percent" in _error(MINIMAL + "rollout: {mirror: {percent: 60}}\n")


def test_approval_must_name_one_of_the_steps():
    assert "approval.before_step=70 is not one of steps" in _error(
        MINIMAL + "rollout: {approval: {before_step: 70}}\n"
    )


def test_an_enabled_rollout_needs_an_endpoint():
    assert "rollout.enabled needs rollout.endpoint" in _error(MINIMAL + "rollout: {enabled: true}\n")


def test_a_schedule_must_be_six_field_ncrontab():
    assert "NCRONTAB needs six" in _error(MINIMAL + "triggers: {schedule: '0 3 * * *'}\n")
    assert "not a valid NCRONTAB" in _error(MINIMAL + "triggers: {schedule: '0 0 25 * * *'}\n")
    assert _parse(MINIMAL + "triggers: {schedule: '0 */5 * * * *'}\n").triggers.schedule == "0 */5 * * * *"


def test_invalid_yaml_reports_the_line():
    message = _error("model: churn\ndata: [unclosed\n")
    assert "not valid YAML at line" in message and "models/churn/policy.yaml" in message


def test_a_model_name_that_azure_ml_would_refuse_is_rejected():
    assert "not a valid model name" in _error(MINIMAL.replace("model: churn", "model: Churn_Model"))


def test_a_policy_pointing_at_missing_files_says_paths_are_relative_to_it(tmp_path):
    (tmp_path / "policy.yaml").write_text(MINIMAL)
    with pytest.raises(PolicyError) as info:
        load_policy(tmp_path / "policy.yaml")
    assert "data.contract" in str(info.value) and "relative to the policy file" in str(info.value)


def test_policies_are_found_one_per_model_directory(tmp_path):
    for name in ("churn", "fraud"):
        d = tmp_path / name
        (d / "jobs").mkdir(parents=True)
        for f in ("contract.yaml", "jobs/train.yml", "jobs/evaluate.yml"):
            (d / f).write_text("x: 1\n")
        (d / "policy.yaml").write_text(MINIMAL.replace("model: churn", f"model: {name}"))
    assert sorted(load_policies(tmp_path)) == ["churn", "fraud"]


def test_two_policies_for_one_model_are_refused(tmp_path):
    for name in ("a", "b"):
        d = tmp_path / name
        (d / "jobs").mkdir(parents=True)
        for f in ("contract.yaml", "jobs/train.yml", "jobs/evaluate.yml"):
            (d / f).write_text("x: 1\n")
        (d / "policy.yaml").write_text(MINIMAL)
    with pytest.raises(PolicyError, match="already defined"):
        load_policies(tmp_path)
