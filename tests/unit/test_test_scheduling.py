"""make test's scheduling (tests/conftest.py): under pytest-xdist a module is one unit of work and the e2e modules
that ramp on a live stack under load share one, so they never run side by side; the longest units are handed out
first, and behind a long unit a worker is queued a light one, not the next long one."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests import conftest

REPO = Path(__file__).resolve().parents[2]
LONG = conftest.SLOWEST_FIRST
OWN = tuple(m for m in LONG if m not in conftest.LIVE_STACK)  # the long modules that are units of their own


class _Node:
    """What xdist's scheduler uses of a worker: the tests it is sent, by their index in its collection."""

    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.shutting_down = False
        self.sent: list[int] = []

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent.extend(indices)

    def shutdown(self) -> None:
        self.shutting_down = True


def _scheduler(config: pytest.Config, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(config.option, "dist", "loadfile")
    monkeypatch.setattr(config.option, "loadscopereorder", True, raising=False)
    monkeypatch.setattr(config.option, "tx", ["3*popen"], raising=False)
    monkeypatch.setattr(config.option, "numprocesses", 3, raising=False)
    scheduler = conftest.pytest_xdist_make_scheduler(config, log=None)
    assert config.option.loadscopereorder is False  # the order pytest_collection_modifyitems left
    return scheduler


def test_every_slowest_module_exists_so_renaming_one_cannot_silently_send_it_to_the_back():
    assert LONG and all((REPO / module).is_file() for module in LONG)
    assert len(set(LONG)) == len(LONG)


def test_the_slowest_modules_come_first_in_their_order_and_the_rest_keep_collection_order():
    items = [
        SimpleNamespace(nodeid=nodeid)
        for nodeid in (
            "tests/unit/test_a.py::test_1",
            f"{LONG[1]}::test_x",
            "tests/unit/test_a.py::test_2",
            f"{LONG[0]}::test_y",
            "tests/e2e/test_b.py::test_3",
            f"{LONG[1]}::test_z",
        )
    ]
    conftest.pytest_collection_modifyitems(items)  # type: ignore[arg-type]
    assert [i.nodeid for i in items] == [
        f"{LONG[0]}::test_y",
        f"{LONG[1]}::test_x",
        f"{LONG[1]}::test_z",
        "tests/unit/test_a.py::test_1",
        "tests/unit/test_a.py::test_2",
        "tests/e2e/test_b.py::test_3",
    ]


def test_every_live_stack_module_exists_so_renaming_one_cannot_silently_let_two_live_ramps_run_at_once():
    assert conftest.LIVE_STACK and all((REPO / module).is_file() for module in conftest.LIVE_STACK)
    assert LONG[: len(conftest.LIVE_STACK)] == conftest.LIVE_STACK  # the longest unit, handed out first


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


def test_behind_a_long_module_a_worker_is_queued_the_lightest_unit_and_the_next_long_one_goes_to_a_free_worker(
    pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch
):
    scheduler = _scheduler(pytestconfig, monkeypatch)
    # OWN[0] has one test: its worker must hold a second unit before it runs it (xdist's hold-back)
    collection = [
        f"{OWN[0]}::test_only",
        *(f"{OWN[1]}::test_{i}" for i in range(4)),
        *(f"{OWN[2]}::test_{i}" for i in range(4)),
        f"{OWN[3]}::test_only",
        *(f"tests/unit/test_light_{n}.py::test_{i}" for n in range(3) for i in range(3)),
    ]
    nodes = [_Node(f"gw{i}") for i in range(3)]
    for node in nodes:
        scheduler.add_node(node)
        scheduler.add_node_collection(node, collection)
    scheduler.schedule()
    units = [{collection[i].split("::", 1)[0] for i in node.sent} for node in nodes]
    assert units[0] == {OWN[0], "tests/unit/test_light_2.py"}  # the queue's last, not OWN[3]
    assert units[1] == {OWN[1]} and units[2] == {OWN[2]}
    # a worker on a long module is queued light units; the first to be done with its long one gets the next
    worker, done = nodes[1], 0
    while f"{OWN[3]}::test_only" not in (sent := [collection[i] for i in worker.sent]) and done < len(sent):
        scheduler.mark_test_complete(worker, worker.sent[done])
        done += 1
    assert sent[-1] == f"{OWN[3]}::test_only"
    assert all(t.startswith((OWN[1], "tests/unit/test_light_")) for t in sent[:-1])
    assert not any(OWN[3] in collection[i] for node in (nodes[0], nodes[2]) for i in node.sent)


def test_under_xdist_a_worker_lowers_its_priority_once_for_other_modules_and_never_for_the_live_stack(
    monkeypatch: pytest.MonkeyPatch,
):
    niced: list[int] = []
    monkeypatch.setattr(conftest.os, "nice", niced.append)
    monkeypatch.setattr(conftest, "_niced", set())
    live, other = (
        SimpleNamespace(nodeid=f"{m}::test_a") for m in (conftest.LIVE_STACK[0], "tests/unit/test_a.py")
    )
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    conftest.pytest_runtest_setup(other)  # type: ignore[arg-type]
    assert niced == []  # one process (PYTEST_WORKERS=0): nothing to give way to
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    conftest.pytest_runtest_setup(live)  # type: ignore[arg-type]
    assert niced == []
    conftest.pytest_runtest_setup(other)  # type: ignore[arg-type]
    conftest.pytest_runtest_setup(other)  # type: ignore[arg-type]
    assert niced == [conftest.OTHERS_NICE]


def test_other_distribution_modes_keep_xdist_s_own_scheduler():
    options = SimpleNamespace(dist="load")
    config = SimpleNamespace(option=options, getvalue=lambda name: getattr(options, name))
    assert conftest.pytest_xdist_make_scheduler(config, log=None) is None
