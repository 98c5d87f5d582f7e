"""Shared fixtures. Every process a test starts is stopped by that test's fixture, by its PID."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pytest

from devhost import procs

# The e2e modules whose ramps are judged on live latency under load: under make test's pytest-xdist
# workers they run one after another on one worker (two live ramps on two cores judge each other's load).
LIVE_STACK = (
    "tests/browser/test_console.py",
    "tests/e2e/test_ml_gates_demo.py",
    "tests/e2e/test_promote_to_prod.py",
)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`make test` (-n N --dist loadfile): a module is one unit of work, run on one worker in order (a
    module-scoped stack is built once, a test may build on the one before it), and the LIVE_STACK modules
    are one unit together, queued at their first module's place in collection order (tests/browser, early:
    the longest chain starts soon). Written here rather than with `xdist_group` marks and --dist loadgroup,
    which pytest 9.2 silently ignores (pytest-xdist#1386)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "live-stack" if module in LIVE_STACK else module

    config.option.loadscopereorder = False  # collection order: tests/browser and tests/e2e come early
    return ModuleScheduling(config, log)


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Azurite blob service on a free loopback port; yields its connection string."""
    data = tmp_path_factory.mktemp("azurite")
    proc = procs.start_azurite(data, log_path=data / "azurite.log")
    try:
        yield procs.azurite_connection_string(proc.port)
    finally:
        proc.stop()


@functools.cache
def app_functions() -> list[Any]:
    """The Function App's functions. The SDK lets get_functions() run once per app (a second call
    refuses every name as a duplicate), so every test module that needs them shares this one call."""
    import function_app

    return function_app.app.get_functions()
