"""An app devhost cannot load stops it with one clear paragraph and exit code 2, not a stack trace."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devhost import procs
from tests.e2e.conftest import DEVHOST_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _start(app_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    argv = procs.python_argv(
        "-m", "devhost", "start", str(app_dir), "--port", str(procs.free_port()),
        "--state-dir", str(tmp_path / "state"),
    )  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=DEVHOST_ROOT)


def test_a_folder_without_function_app_py_is_refused(tmp_path: Path) -> None:
    result = _start(tmp_path, tmp_path)
    assert result.returncode == 2
    assert "No function_app.py" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_syntax_error_is_reported_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "function_app.py").write_text("import azure.functions as func\n\ndef broken(:\n    pass\n")
    result = _start(tmp_path, tmp_path)
    assert result.returncode == 2
    assert "syntax error" in result.stderr
    assert f"{tmp_path / 'function_app.py'}:3" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_import_error_names_the_module_and_the_line(tmp_path: Path) -> None:
    (tmp_path / "function_app.py").write_text("import azure.functions as func\nimport no_such_package_here\n")
    result = _start(tmp_path, tmp_path)
    assert result.returncode == 2
    assert "no_such_package_here" in result.stderr
    assert "function_app.py:2" in result.stderr


def test_an_unsupported_binding_is_named_with_its_function(tmp_path: Path) -> None:
    (tmp_path / "function_app.py").write_text(
        "import azure.functions as func\n"
        "app = func.FunctionApp()\n\n"
        "@app.blob_trigger(arg_name='blob', path='raw/{name}', connection='AzureWebJobsStorage')\n"
        "def on_blob(blob: func.InputStream) -> None:\n"
        "    pass\n"
    )
    result = _start(tmp_path, tmp_path)
    assert result.returncode == 2
    assert "'on_blob'" in result.stderr
    assert "'blobTrigger'" in result.stderr
    assert "Traceback" not in result.stderr
