"""Runs the VIM conformance suite against the simulated cloud (delays scaled by 0.01)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.vim.conformance import *  # noqa: F401,F403  (the shared test functions)
from tests.vim.conformance import Catalog

from esc_netconf.vim.base import VimDriver
from esc_netconf.vim.sim import SimCloud, SimSettings

_SETTINGS = SimSettings(delay_scale=0.01)


@pytest.fixture
async def driver(tmp_path: Path) -> AsyncIterator[VimDriver]:
    cloud = SimCloud(tmp_path / "sim", lambda: _SETTINGS)
    yield cloud
    await cloud.close()


@pytest.fixture
def catalog() -> Catalog:
    return Catalog(
        image="cirros",
        flavor="m1.tiny",
        network="net-mgmt",
        second_network="net-data",
        free_fixed_ip="10.10.0.5",
        outside_ip="192.168.77.5",
    )


@pytest.fixture
def settle_timeout() -> float:
    return 5.0
