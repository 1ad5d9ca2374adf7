from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from esc_netconf.store.database import LOOP_WRITES_ENV
from tests.integration.server_process import ServerProcess
from tests.postgres_server import postgres  # noqa: F401 - the PostgreSQL fixture of the HA tier

# an application started in a test's own process refuses a store write on its event loop's thread too
os.environ.setdefault(LOOP_WRITES_ENV, "fail")

FAST_PROPERTIES = {
    "vim.sim.delay.scale": "0.02",
    "vim.monitor.poll.secs": "0.2",
    "vim.asyncpoller.snapshot.create.poll.secs": "0.1",
    "vim.asyncpoller.snapshot.export.poll.secs": "0.1",
    "vim.asyncpoller.snapshot.delete.poll.secs": "0.1",
    "vim.asyncpoller.volume.create.poll.secs": "0.1",
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "data", properties=FAST_PROPERTIES).start()
    yield proc
    if proc.running():
        proc.stop()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the read-mostly tests of a module (start-up costs about a second)."""
    proc = ServerProcess(tmp_path_factory.mktemp("shared") / "data", properties=FAST_PROPERTIES).start()
    yield proc
    if proc.running():
        proc.stop()
