"""devhost's own fixtures. Every process a test starts is stopped by that test's fixture, by its PID."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devhost import procs


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Azurite blob service on a free loopback port (DEVHOST_NODE_BIN or ./node_modules/.bin); yields its
    connection string."""
    data = tmp_path_factory.mktemp("azurite")
    proc = procs.start_azurite(data, log_path=data / "azurite.log")
    try:
        yield procs.azurite_connection_string(proc.port)
    finally:
        proc.stop()
