"""Shared fixtures. Every process a test starts is stopped by that test's fixture, by its PID."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from typing import Any

import pytest

from devhost import procs

# The e2e modules whose ramps are judged on live latency under load run one after another on one worker, as one
# unit: side by side, each stack's load generator and endpoint server slow the others' ramps, which then need longer
# and send more load (measured: a first `make test` 570 s with them chained, 691 s side by side, 30% more CPU).
# The console's and promote-to-prod's share one stack (tests/dev_prod.py), the console's first: its operator approves
# the ramp whose champion prod deploys.
LIVE_STACK = (
    "tests/browser/test_console.py",
    "tests/e2e/test_promote_to_prod.py",
    "tests/e2e/test_ml_gates_demo.py",
)
# The units that take longest under `make test`, longest first (seconds on one of three workers, 2 cores, from
# pytest's --junitxml). They are handed out first, so no long module starts last and leaves one worker running alone
# at the end; every other module follows in collection order.
SLOWEST_FIRST = (
    *LIVE_STACK,  # 360 together
    "tests/e2e/test_drift_loop.py",  # 140
    "tests/e2e/test_lifecycle_core.py",  # 85
    "tests/e2e/test_outbox.py",  # 64, mostly a minute tick
    "tests/integration/test_local_training_jobs.py",  # 54
    "tests/integration/test_local_batch_submission_crashes.py",  # 52
    "tests/integration/test_endpoint_server.py",  # 50
    "tests/integration/test_local_job_submission_crashes.py",  # 46
    "tests/integration/test_local_batch_and_shared_registry.py",  # 44
    "tests/e2e/test_operator_api_schemathesis.py",  # 40
)


def _module(nodeid: str) -> str:
    """`tests/x/test_y.py` of `tests/x/test_y.py::Class::test_z[a::b]`."""
    return nodeid.split("::", 1)[0]


# Under xdist, a worker that runs anything but the LIVE_STACK unit lowers its priority (and its children's: the
# stacks, jobs and servers it starts) by this much, once: the live-stack chain is the run's critical path, the other
# workers have slack, and on two cores a busy second worker stretched every ramp of the chain.
OTHERS_NICE = 5
_niced: set[bool] = set()  # {True} once this worker has lowered its priority


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER") and _module(item.nodeid) not in LIVE_STACK and not _niced:
        os.nice(OTHERS_NICE)
        _niced.add(True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """SLOWEST_FIRST's modules first, in its order; within a module, and among the others, collection order."""
    rank = {module: i for i, module in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(_module(item.nodeid), len(rank)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`make test` (-n N --dist loadfile): a module is one unit of work, run on one worker in order (a
    module-scoped stack is built once, a test may build on the one before it); the LIVE_STACK modules are one
    unit together. An xdist worker runs a test only once it holds the next one (or its shutdown), so the
    scheduler queues a unit behind the one a worker is on: behind a SLOWEST_FIRST unit the queue's last
    (lightest), not the next long one, which would wait there for minutes while another worker has nothing left.
    Written here rather than with `xdist_group` marks and --dist loadgroup, which pytest 9.2 silently ignores
    (pytest-xdist#1386)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    slowest = {*SLOWEST_FIRST, "live-stack"}

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = _module(nodeid)
            return "live-stack" if module in LIVE_STACK else module

        def _assign_work_unit(self, node: Any) -> None:
            on_a_long_one = any(
                scope in slowest and not all(unit.values())
                for scope, unit in self.assigned_work.get(node, {}).items()
            )
            if on_a_long_one and len(self.workqueue) > 1:
                self.workqueue.move_to_end(next(reversed(self.workqueue)), last=False)
            super()._assign_work_unit(node)

    config.option.loadscopereorder = False  # collection order, as pytest_collection_modifyitems left it
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


@pytest.fixture(scope="session")
def dev_prod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The stack the console's and promote-to-prod's tests share (tests/dev_prod.py)."""
    from tests.dev_prod import dev_prod_stack

    with dev_prod_stack(tmp_path_factory.mktemp("dev-prod")) as shared:
        yield shared


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """`dev_prod` is stopped after the last test that uses it, not idle until the session ends."""
    if "dev_prod" in item.fixturenames and (nextitem is None or "dev_prod" not in nextitem.fixturenames):
        shared = item.funcargs.get("dev_prod")
        if shared is not None:
            shared.close()


@functools.cache
def app_functions() -> list[Any]:
    """The Function App's functions. The SDK lets get_functions() run once per app (a second call
    refuses every name as a duplicate), so every test module that needs them shares this one call."""
    import function_app

    return function_app.app.get_functions()
