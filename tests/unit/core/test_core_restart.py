"""Durability: a core killed with work in flight converges after restart without duplicate servers."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from esc_netconf.core.memory_store import MemoryStore
from esc_netconf.core.model import DeploymentRecord, OperationRecord, VmInterface, VmRecord
from esc_netconf.core.states import ActionType, ServiceState, VmState
from esc_netconf.core.store import Write
from esc_netconf.vim.base import PortSpec, ServerStatus

from esc_netconf.store import Database, SqlCoreStore

from .conftest import OK, Harness, group, spec

THREE = spec(group("g", 3, 3))


async def test_restart_during_deploy(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    harness.core.apply_update("t1", None, THREE)
    dep_id = harness.core.deployments()[0].dep_id
    await harness.wait_for(lambda: any(v.server_id for v in harness.core.vms(dep_id)))
    assert harness.store.load().operations  # the deploy is recorded as work in flight
    with caplog.at_level(logging.INFO, logger="esc_netconf.core.lifecycle"):
        await harness.restart()
    resumed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("resumed ")]
    assert len(resumed) == 1 and resumed[0].startswith(
        f"resumed deploy of t1/{harness.core.deployments()[0].name} (interrupted at SERVICE_DEPLOYING_STATE; started ")
    await harness.idle()
    (dep,) = harness.core.deployments()
    assert dep.dep_id == dep_id and dep.state is ServiceState.ACTIVE
    servers = await harness.servers()
    vms = harness.core.vms(dep_id)
    assert len(servers) == 3 and {s.id for s in servers} == {v.server_id for v in vms}
    assert len({s.name for s in servers}) == 3
    assert all(v.state is VmState.ALIVE for v in vms) and not harness.store.load().operations
    assert harness.kinds()[-1] == ("SERVICE_ALIVE", OK, 200)


async def test_restart_adopts_a_server_whose_id_was_never_recorded(harness: Harness) -> None:
    """The process died between create_server's answer and the write of the server id."""
    the_spec = spec(group("g", 1, 1))
    dep = DeploymentRecord("dep-1", "t1", "dep", the_spec)
    vm = VmRecord("vm-1", "dep-1", "t1", "dep", "g", 0, "dep_g_0_vm-1", image="cirros", flavor="m1.tiny",
                  interfaces=[VmInterface(0, "net-mgmt")])
    await harness.core.stop()
    harness.store.save_deployment(dep)
    harness.store.save_vm(vm)
    harness.store.save_operation(OperationRecord("op-1", "DEPLOY", "t1", "dep-1"))
    project = await harness.sim.ensure_project("t1")
    (cirros,) = await harness.sim.list_images(name="cirros")
    orphan = await harness.sim.create_server(vm.name, project_id=project.id, flavor="m1.tiny",
                                             image_id=cirros.id, networks=[PortSpec("net-mgmt")])
    await harness.restart()
    await harness.idle()
    (server,) = await harness.servers()
    assert server.id == orphan.id and server.status is ServerStatus.ACTIVE
    (adopted,) = harness.core.vms("dep-1")
    assert adopted.server_id == orphan.id and adopted.state is VmState.ALIVE
    assert harness.core.deployments()[0].state is ServiceState.ACTIVE


async def test_restart_during_stop(harness: Harness) -> None:
    harness.core.apply_update("t1", None, THREE)
    await harness.idle()
    harness.core.service_action("t1", "dep", ActionType.STOP)
    await harness.restart()
    (dep,) = harness.core.deployments()
    assert dep.state is ServiceState.STOPPING and harness.core.busy_with(dep.dep_id) == "STOP"
    await harness.idle()
    assert dep.state is ServiceState.STOPPED
    assert {s.status for s in await harness.servers()} == {ServerStatus.SHUTOFF}
    assert len(await harness.servers()) == 3
    assert harness.kinds()[-1] == ("SERVICE_STOPPED", OK, 200)


async def test_restart_during_deploy_on_the_sql_store(tmp_path: Path) -> None:
    """The same convergence with the real SQLite store a daemon uses (a new database handle on restart)."""
    database = Database.open_data_dir(tmp_path / "var")
    harness = Harness(tmp_path / "sim", store=SqlCoreStore(database))
    await harness.core.start()
    try:
        harness.core.apply_update("t1", None, THREE)
        dep_id = harness.core.deployments()[0].dep_id
        await harness.wait_for(lambda: any(v.server_id for v in harness.core.vms(dep_id)))
        await harness.core.stop()
        database.close()
        database = Database.open_data_dir(tmp_path / "var")
        harness.store = SqlCoreStore(database)
        await harness.restart()
        await harness.idle()
        assert harness.core.deployments()[0].state is ServiceState.ACTIVE
        assert len(await harness.servers()) == 3
        assert {v.server_id for v in harness.core.vms(dep_id)} == {s.id for s in await harness.servers()}
    finally:
        await harness.core.stop()
        await harness.sim.close()
        database.close()


class FencedStore(MemoryStore):
    """A store that refuses every write once ``fenced`` (a server whose group's lease another member took)."""

    def __init__(self) -> None:
        super().__init__()
        self.fenced = False

    def apply(self, writes: list[Write]) -> None:
        if self.fenced:
            raise RuntimeError("write refused: this server holds no lease")
        super().apply(writes)


async def test_a_core_whose_store_refuses_its_last_writes_still_stops(tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    """Stopping with writes pending that can never be committed (the lease was lost mid-deploy) ends the
    stop all the same, with the failure logged; a core started again resumes from what was committed."""
    store = FencedStore()
    h = Harness(tmp_path / "sim", store=store)
    await h.core.start()
    h.core.apply_update("t1", None, THREE)
    dep_id = h.core.deployments()[0].dep_id
    await h.wait_for(lambda: any(v.server_id for v in h.core.vms(dep_id)))
    store.fenced = True
    committed = store.load()
    await h.wait_for(lambda: bool(h.core._ctx.commit._pending))  # the deploy goes on: writes never committed
    with caplog.at_level(logging.ERROR, logger="esc_netconf.core.lifecycle"):
        async with asyncio.timeout(10):
            await h.core.stop()
    assert any("Stopping with core writes not committed: write refused" in r.getMessage() for r in caplog.records)
    store.fenced = False
    await h.sim.close()
    h._open()
    await h.core.start()
    try:
        await h.idle()
        (dep,) = h.core.deployments()
        assert dep.dep_id == dep_id and dep.state is ServiceState.ACTIVE
        assert len(h.core.vms(dep_id)) == 3 and store.load().vms.keys() == committed.vms.keys()
    finally:
        await h.core.stop()
        await h.sim.close()
