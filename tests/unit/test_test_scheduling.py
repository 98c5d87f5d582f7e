"""make test's scheduling (tests/conftest.py): under pytest-xdist a module is one unit of work, and the e2e
modules that ramp on a live stack under load share one unit, so they never run side by side."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests import conftest

REPO = Path(__file__).resolve().parents[2]


def _scheduler(config: pytest.Config, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(config.option, "dist", "loadfile")
    monkeypatch.setattr(config.option, "loadscopereorder", True, raising=False)
    monkeypatch.setattr(config.option, "tx", ["2*popen"], raising=False)
    scheduler = conftest.pytest_xdist_make_scheduler(config, log=None)
    assert config.option.loadscopereorder is False  # collection order: the live stacks start early
    return scheduler


def test_every_live_stack_module_exists_so_renaming_one_cannot_silently_let_two_live_ramps_run_at_once():
    assert conftest.LIVE_STACK and all((REPO / module).is_file() for module in conftest.LIVE_STACK)


def test_the_live_stack_modules_are_one_unit_and_every_other_module_is_its_own(
    pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch
):
    scheduler = _scheduler(pytestconfig, monkeypatch)
    scopes = {scheduler._split_scope(f"{module}::test_x[1]") for module in conftest.LIVE_STACK}
    assert scopes == {"live-stack"}
    assert scheduler._split_scope("tests/e2e/test_events.py::test_a") == "tests/e2e/test_events.py"
    assert (
        scheduler._split_scope("tests/e2e/test_events.py::Class::test_b[x::y]") == "tests/e2e/test_events.py"
    )


def test_other_distribution_modes_keep_xdist_s_own_scheduler():
    options = SimpleNamespace(dist="load")
    config = SimpleNamespace(option=options, getvalue=lambda name: getattr(options, name))
    assert conftest.pytest_xdist_make_scheduler(config, log=None) is None
