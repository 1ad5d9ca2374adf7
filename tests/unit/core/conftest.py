"""A core wired to the real simulated cloud (fast delays) and the in-memory store, with its events recorded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from esc_netconf.core.context import CoreSettings
from esc_netconf.core.day0.fetch import TemplateFetcher
from esc_netconf.core.events import EscEvent, EventBus, EventStatus, EventType
from esc_netconf.core.lifecycle import EscCore
from esc_netconf.core.memory_store import MemoryStore
from esc_netconf.core.store import Store
from esc_netconf.core.model import DeploymentSpec, InterfaceSpec, IpPool, ScalingSpec, StartupPolicy, VmGroupSpec
from esc_netconf.vim.base import Server
from esc_netconf.vim.sim import FaultMode, SimCloud, SimSettings
from esc_netconf.vim.sim.guest import SimGuestCollector

FAST = CoreSettings(poll_interval=0.01, monitor_interval=0.03, delete_timeout=5.0)
DELAY_SCALE = 0.01


@dataclass
class Harness:
    """One core over one simulated cloud; ``restart()`` replaces both as after kill -9."""

    sim_dir: Path
    store: Store = field(default_factory=MemoryStore)
    events: list[EscEvent] = field(default_factory=list)
    faults: dict[str, FaultMode] = field(default_factory=dict)
    fetcher: TemplateFetcher | None = None
    #: ``vim.sim.guest.*`` properties of the simulated guests; None runs without KPI monitoring.
    guests: dict[str, str] | None = None
    settings: CoreSettings = FAST
    sim: SimCloud = field(init=False)
    core: EscCore = field(init=False)

    def __post_init__(self) -> None:
        self._open()

    def _settings(self) -> SimSettings:
        return SimSettings(delay_scale=DELAY_SCALE, faults=dict(self.faults))

    def _open(self) -> None:
        self.sim = SimCloud(self.sim_dir, self._settings)
        bus = EventBus()
        bus.subscribe(self.events.append)
        guests = self.guests
        collector = SimGuestCollector(lambda: guests) if guests is not None else None
        self.core = EscCore(self.sim, self.store, bus, settings=self.settings, fetcher=self.fetcher, collector=collector)

    async def restart(self) -> None:
        await self.core.stop()
        await self.sim.close()
        self._open()
        await self.core.start()

    async def idle(self, timeout: float = 10.0) -> None:
        await self.core.wait_idle(timeout)

    def kinds(self, since: int = 0) -> list[tuple[str, str, int]]:
        return [(e.event_type.value, e.status.value, e.status_code) for e in self.events[since:]]

    async def servers(self) -> list[Server]:
        return await self.sim.list_servers()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.01)

    def has_event_type(self, kind: str, since: int = 0) -> bool:
        return any(e.event_type is EventType(kind) for e in self.events[since:])


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(tmp_path / "sim")
    await h.core.start()
    try:
        yield h
    finally:
        await h.core.stop()
        await h.sim.close()


def group(name: str, lo: int = 1, hi: int = 2, *, pool: tuple[str, ...] = (), image: str = "cirros",
          recovery_wait_time: int = 2) -> VmGroupSpec:
    pools = (IpPool("net-mgmt", "10.10.0.1", "255.255.0.0", pool),) if pool else ()
    return VmGroupSpec(name, image, "m1.tiny", bootup_time=5, recovery_wait_time=recovery_wait_time,
                       interfaces=(InterfaceSpec(0, "net-mgmt"),), scaling=ScalingSpec(lo, hi, True, pools))


def spec(*groups: VmGroupSpec, name: str = "dep", startup: tuple[StartupPolicy, ...] = ()) -> DeploymentSpec:
    return DeploymentSpec(name, groups, startup)


OK, FAIL = EventStatus.SUCCESS.value, EventStatus.FAILURE.value
