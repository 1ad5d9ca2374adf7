"""The ESCManager API in process: a real core, snapshot manager and simulated cloud behind an aiohttp server
on loopback, with the same auth middleware and body limit as ``esc-netconf serve``; plus a callback receiver.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from esc_netconf.core.backup import MemorySnapshotStore, SnapshotManager
from esc_netconf.core.context import CoreSettings
from esc_netconf.core.events import EscEvent, EventBus
from esc_netconf.core.lifecycle import EscCore
from esc_netconf.core.memory_store import MemoryStore
from esc_netconf.core.model import DeploymentSpec, InterfaceSpec, ScalingSpec, VmGroupSpec, VmRecord, VolumeSpec
from esc_netconf.core.states import VmState
from esc_netconf.rest.callbacks import RetryPolicy
from esc_netconf.rest.escmanager import EscManagerApi, add_escmanager_routes
from esc_netconf.rest.server import MAX_BODY_BYTES, auth_middleware
from esc_netconf.users import UserDB
from esc_netconf.vim.sim import FaultMode, SimCloud, SimSettings
from tests.integration.rest.receiver import CallbackReceiver

FAST = CoreSettings(poll_interval=0.01, monitor_interval=0.05, delete_timeout=5.0)
FAST_BACKUP = {
    "vim.asyncpoller.snapshot.create.poll.secs": 0.02,
    "vim.asyncpoller.snapshot.create.timeout.mins": 0.2,
    "vim.asyncpoller.snapshot.delete.poll.secs": 0.02,
    "vim.asyncpoller.snapshot.delete.timeout.mins": 0.2,
    "vim.asyncpoller.volume.create.poll.secs": 0.02,
    "vim.asyncpoller.volume.create.timeout.mins": 0.2,
}
FAST_RETRY = RetryPolicy(first_delay=0.02, max_delay=0.1, give_up_after=0.5)


@dataclass
class Stack:
    sim: SimCloud
    core: EscCore
    snapshots: SnapshotManager
    client: TestClient[web.Request, web.Application]
    api: EscManagerApi
    faults: dict[str, FaultMode]
    events: list[EscEvent] = field(default_factory=list)

    async def deploy(self, name: str = "dep", *, tenant: str = "snapshot-tenant", boot_volume: bool = False,
                     count: int = 1) -> list[VmRecord]:
        volumes = (VolumeSpec("root", size=1, sizeunit="GiB", boot_index=0, image="cirros"),) if boot_volume else ()
        group = VmGroupSpec("g", "cirros", "m1.tiny", bootup_time=5, interfaces=(InterfaceSpec(0, "net-mgmt"),),
                            volumes=volumes, scaling=ScalingSpec(count, count))
        self.core.apply_update(tenant, None, DeploymentSpec(name, (group,)))
        await self.core.wait_idle(15)
        dep = self.core.find_deployment(tenant, name)
        assert dep is not None
        vms = self.core.vms(dep.dep_id)
        assert vms and all(vm.state is VmState.ALIVE for vm in vms)
        return vms

    async def idle(self) -> None:
        await self.core.wait_idle(15)
        await self.snapshots.wait_idle(15)


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    with CallbackReceiver() as r:
        yield r


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    faults: dict[str, FaultMode] = {}
    sim = SimCloud(tmp_path / "sim", lambda: SimSettings(delay_scale=0.01, faults=dict(faults)))
    bus = EventBus()
    events: list[EscEvent] = []
    bus.subscribe(events.append)
    core = EscCore(sim, MemoryStore(), bus, settings=FAST)
    snapshots = SnapshotManager(core, sim, MemorySnapshotStore(), bus, setting=FAST_BACKUP.__getitem__,
                                export_dir=tmp_path / "exports")
    await core.start()
    await snapshots.start()
    web_app = web.Application(client_max_size=MAX_BODY_BYTES,
                              middlewares=[auth_middleware(UserDB.default_admin(), open_on_loopback=True)])
    api = add_escmanager_routes(web_app, core=core, snapshots=snapshots, bus=bus, retry=FAST_RETRY)
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield Stack(sim, core, snapshots, client, api, faults, events)
    finally:
        await client.close()
        await snapshots.stop()
        await core.stop()
        await sim.close()
        await asyncio.sleep(0)
