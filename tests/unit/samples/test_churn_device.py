"""The training job picks the GPU only when this xgboost build has CUDA AND a GPU is visible."""

from __future__ import annotations

from pathlib import Path

import pytest
import xgboost as xgb

from samples.churn.train import detect_device


def _fake_nvidia_smi(folder: Path, output: str, code: int = 0) -> None:
    tool = folder / "nvidia-smi"
    tool.write_text(f"#!/bin/sh\necho '{output}'\nexit {code}\n")
    tool.chmod(0o755)


@pytest.fixture
def no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHURN_DEVICE", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def test_without_nvidia_smi_it_trains_on_the_cpu(
    no_override: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert detect_device() == "cpu"


@pytest.mark.skipif(not xgb.build_info().get("USE_CUDA"), reason="this xgboost build has no CUDA")
def test_a_listed_gpu_on_a_cuda_build_means_cuda(
    no_override: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake_nvidia_smi(tmp_path, "GPU 0: NVIDIA A100 80GB PCIe (UUID: GPU-1234)")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert detect_device() == "cuda"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # GPUs hidden from this process
    assert detect_device() == "cpu"


def test_a_failing_nvidia_smi_means_cpu(
    no_override: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake_nvidia_smi(
        tmp_path, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver", code=9
    )
    monkeypatch.setenv("PATH", str(tmp_path))
    assert detect_device() == "cpu"


def test_churn_device_overrides_detection(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CHURN_DEVICE", "cuda")
    assert detect_device() == "cuda"
