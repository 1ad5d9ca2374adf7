"""A ``SnapshotManager`` over the core harness of ``tests/unit/core`` (simulated cloud, fast settings).

The manager gets its own ``SimCloud`` on the harness's state directory (several ``SimCloud`` objects on
one directory see the same cloud), so ``restart()`` can drop the manager and its driver as a ``kill -9``
would, and bring up fresh ones on the same store and the same cloud.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from esc_netconf.core.backup import MemorySnapshotStore, SnapshotManager, SnapshotStore
from esc_netconf.core.events import EscEvent, EventBus
from esc_netconf.core.model import DeploymentSpec, InterfaceSpec, VmGroupSpec, VmRecord, VolumeSpec
from esc_netconf.core.states import VmState
from esc_netconf.vim.sim import FaultMode, SimCloud, SimSettings

DELAY_SCALE = 0.01

FAST_SETTINGS: dict[str, float] = {
    "vim.asyncpoller.snapshot.create.poll.secs": 0.02,
    "vim.asyncpoller.snapshot.create.timeout.mins": 0.1,
    "vim.asyncpoller.snapshot.export.poll.secs": 0.02,
    "vim.asyncpoller.snapshot.export.timeout.mins": 0.1,
    "vim.asyncpoller.snapshot.delete.poll.secs": 0.02,
    "vim.asyncpoller.snapshot.delete.timeout.mins": 0.1,
    "vim.asyncpoller.volume.create.poll.secs": 0.02,
    "vim.asyncpoller.volume.create.timeout.mins": 0.1,
}


@dataclass
class Backup:
    """One manager (with its own driver and event list) beside the core harness ``h``."""

    h: Any
    export_dir: Path
    store: SnapshotStore = field(default_factory=MemorySnapshotStore)
    settings: dict[str, float] = field(default_factory=lambda: dict(FAST_SETTINGS))
    faults: dict[str, FaultMode] = field(default_factory=dict)
    delay_scale: float = DELAY_SCALE
    events: list[EscEvent] = field(default_factory=list)
    sim: SimCloud = field(init=False)
    manager: SnapshotManager = field(init=False)

    def __post_init__(self) -> None:
        self._open()

    def _sim_settings(self) -> SimSettings:
        return SimSettings(delay_scale=self.delay_scale, faults=dict(self.faults))

    def _open(self) -> None:
        self.sim = SimCloud(self.h.sim_dir, self._sim_settings)
        bus = EventBus()
        bus.subscribe(self.events.append)
        self.manager = SnapshotManager(self.h.core, self.sim, self.store, bus, setting=self.settings.__getitem__,
                                       export_dir=self.export_dir)

    async def restart(self) -> None:
        """Drop the manager and its driver mid-flight (tasks cancelled, nothing cleaned up) and start anew."""
        await self.manager.stop()
        await self.sim.close()
        self._open()
        await self.manager.start()

    async def idle(self, timeout: float = 10.0) -> None:
        await self.manager.wait_idle(timeout)

    def kinds(self, since: int = 0) -> list[tuple[str, str, int]]:
        return [(e.event_type.value, e.status.value, e.status_code) for e in self.events[since:]]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.005)

    async def deploy(self, name: str = "dep", *, tenant: str = "t1", boot_volume: bool = False) -> VmRecord:
        """Deploy one VM and wait until it is alive."""
        volumes = (VolumeSpec("root", size=1, sizeunit="GiB", boot_index=0),) if boot_volume else ()
        group = VmGroupSpec("g", "cirros", "m1.tiny", bootup_time=5, interfaces=(InterfaceSpec(0, "net-mgmt"),),
                            volumes=volumes)
        self.h.core.apply_update(tenant, None, DeploymentSpec(name, (group,)))
        await self.h.idle()
        dep = self.h.core.find_deployment(tenant, name)
        (vm,) = self.h.core.vms(dep.dep_id)
        assert vm.state is VmState.ALIVE
        return vm


@pytest.fixture
async def backup(harness: Any, tmp_path: Path) -> AsyncIterator[Backup]:
    b = Backup(harness, tmp_path / "exports")
    await b.manager.start()
    try:
        yield b
    finally:
        await b.manager.stop()
        await b.sim.close()
