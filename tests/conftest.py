"""Shared fixtures. Every process a test starts is stopped by that test's fixture, by its PID."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pytest

from devhost import procs


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
