"""The churn model's environment and job YAMLs: one set of pins, and YAML that Azure ML accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

CHURN = Path(__file__).resolve().parents[3] / "samples" / "churn"


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{line!r} is not pinned with =="
            pins[name.lower()] = version
    return pins


def test_conda_yaml_pins_the_same_packages_as_requirements_txt() -> None:
    conda = yaml.safe_load((CHURN / "environment" / "conda.yaml").read_text())
    pip_lists = [dep["pip"] for dep in conda["dependencies"] if isinstance(dep, dict)]
    assert len(pip_lists) == 1
    requirements = (CHURN / "environment" / "requirements.txt").read_text().splitlines()
    assert _pins(pip_lists[0]) == _pins(requirements)
    assert "python=3.11" in conda["dependencies"]


@pytest.mark.parametrize("job", ["train.yml", "evaluate.yml"])
def test_job_yaml_loads_with_azure_ai_ml_as_a_gpu_command_job(job: str) -> None:
    from azure.ai.ml import load_job

    loaded = load_job(CHURN / "jobs" / job)
    assert loaded.type == "command"
    assert loaded.compute == "gpu-cluster"
    assert loaded.environment.conda_file["name"] == "churn-env"
    assert (CHURN / "jobs" / loaded.code).resolve() == CHURN
    script = loaded.command.split()[1]
    assert (CHURN / script).is_file()
    # every ${{inputs.x}} the command uses is either declared or an optional $[[...]] block
    optional = " ".join(re.findall(r"\$\[\[(.*?)\]\]", loaded.command))
    for name in re.findall(r"\$\{\{\s*inputs\.(\w+)\s*\}\}", loaded.command):
        assert name in loaded.inputs or name in optional, name
    for name in re.findall(r"\$\{\{\s*outputs\.(\w+)\s*\}\}", loaded.command):
        assert name in loaded.outputs, name


def test_train_job_writes_an_mlflow_model_output() -> None:
    from azure.ai.ml import load_job

    job = load_job(CHURN / "jobs" / "train.yml")
    assert job.outputs["model"].type == "mlflow_model"
    assert {"train_data", "eval_data", "n_estimators", "max_depth", "learning_rate"} <= set(job.inputs)
