"""Fixtures for sim-only tests (see helpers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from esc_netconf.vim.base import Project
from esc_netconf.vim.sim import SimCloud
from tests.unit.vim.sim.helpers import FakeClock, Knobs


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def knobs() -> Knobs:
    return Knobs()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "vim-sim"


@pytest.fixture
async def cloud(state_dir: Path, knobs: Knobs, clock: FakeClock) -> AsyncIterator[SimCloud]:
    sim = SimCloud(state_dir, knobs, clock=clock)
    yield sim
    await sim.close()


@pytest.fixture
async def project(cloud: SimCloud) -> Project:
    return await cloud.ensure_project("tenant-a")
