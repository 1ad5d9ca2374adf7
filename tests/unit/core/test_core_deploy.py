"""Deploy and undeploy through the core against the simulated cloud."""

from __future__ import annotations

import re
import time

from .conftest import FAIL, OK, Harness, group, spec

from esc_netconf.core.model import StartupPolicy, VmGroupSpec, VolumeSpec
from esc_netconf.core.states import ServiceState, VmState
from esc_netconf.vim.base import ServerStatus
from esc_netconf.vim.sim import FaultMode

COMPOSITE = spec(group("db", 1, 1, pool=("10.10.5.1", "10.10.5.2")), group("web", 2, 3),
                 startup=(StartupPolicy("web", ("db",)),))


async def test_deploy_composite_in_dependency_order(harness: Harness) -> None:
    harness.core.check_update("t1", None, COMPOSITE)
    harness.core.apply_update("t1", None, COMPOSITE)
    (dep,) = harness.core.deployments()
    assert dep.state is ServiceState.DEPLOYING and harness.core.busy_with(dep.dep_id) == "DEPLOY"
    await harness.idle()

    kinds = harness.kinds()
    assert kinds[0] == ("CREATE_TENANT", OK, 200)  # the tenant's first deployment creates it
    assert harness.events[0].tenant == "t1" and harness.events[0].tenant_id == harness.core.tenants()[0].project_id
    del harness.events[0]
    kinds = harness.kinds()
    assert kinds[:2] == [("VM_DEPLOYED", OK, 200), ("VM_ALIVE", OK, 200)]
    assert sorted(kinds[2:6]) == sorted([("VM_DEPLOYED", OK, 200), ("VM_ALIVE", OK, 200)] * 2)
    assert kinds[6:] == [("SERVICE_ALIVE", OK, 200)]
    groups = [e.vm_group for e in harness.events]
    assert groups == ["db", "db", "web", "web", "web", "web", None]
    for name in {e.vm_source.vmname for e in harness.events[2:6] if e.vm_source}:
        per_vm = [e.event_type.value for e in harness.events if e.vm_source and e.vm_source.vmname == name]
        assert per_vm == ["VM_DEPLOYED", "VM_ALIVE"]
    first = harness.events[0]
    assert (first.depname, first.tenant, first.depid) == ("dep", "t1", dep.dep_id)
    assert first.tenant_id == harness.core.tenants()[0].project_id
    assert first.vm_source is not None and first.vm_source.vim_project == "t1"

    assert dep.state is ServiceState.ACTIVE and not harness.core.is_busy(dep.dep_id)
    vms = harness.core.vms(dep.dep_id)
    assert [(v.group, v.index, v.state) for v in vms] == [
        ("db", 0, VmState.ALIVE), ("web", 0, VmState.ALIVE), ("web", 1, VmState.ALIVE)]
    for vm in vms:
        assert re.fullmatch(rf"dep_{vm.group}_{vm.index}_{vm.vm_id}", vm.name)
        assert vm.monitored and vm.host_id and vm.hostname and vm.interfaces[0].mac_address
        assert harness.core.find_vm(vm.name) is vm
    assert vms[0].interfaces[0].ip_address == "10.10.5.1"
    servers = {s.id: s for s in await harness.servers()}
    assert {v.server_id for v in vms} == set(servers)
    assert all(s.status is ServerStatus.ACTIVE for s in servers.values())
    assert servers[vms[0].server_id].address(0).fixed_ip == "10.10.5.1"  # type: ignore[union-attr,index]
    assert harness.store.load().deployments[dep.dep_id].state is ServiceState.ACTIVE
    assert not harness.store.load().operations


async def test_boot_volume_from_image(harness: Harness) -> None:
    boot = VmGroupSpec("g", "cirros", "m1.tiny", bootup_time=5,
                       volumes=(VolumeSpec("root", size=1, sizeunit="GiB", boot_index=0),))
    harness.core.apply_update("t1", None, spec(boot))
    await harness.idle()
    (server,) = await harness.servers()
    assert server.image_id is None and len(server.volumes_attached) == 1
    (vm,) = harness.core.vms(harness.core.deployments()[0].dep_id)
    assert vm.volume_ids == list(server.volumes_attached)


async def test_undeploy(harness: Harness) -> None:
    harness.core.apply_update("t1", None, COMPOSITE)
    await harness.idle()
    mark = len(harness.events)
    harness.core.check_update("t1", COMPOSITE, None)
    harness.core.apply_update("t1", COMPOSITE, None)
    assert harness.core.deployments()[0].state is ServiceState.UNDEPLOYING
    await harness.idle()
    assert harness.kinds(mark) == [("VM_UNDEPLOYED", OK, 200)] * 3 + [("SERVICE_UNDEPLOYED", OK, 200)]
    assert harness.core.deployments() == [] and await harness.servers() == []
    state = harness.store.load()
    assert not state.deployments and not state.vms and not state.operations


async def test_undeploy_interrupts_a_deploy(harness: Harness) -> None:
    harness.core.apply_update("t1", None, COMPOSITE)
    await harness.wait_for(lambda: any(v.server_id for v in harness.core.vms(harness.core.deployments()[0].dep_id)))
    harness.core.apply_update("t1", COMPOSITE, None)
    await harness.idle()
    assert harness.kinds()[-1] == ("SERVICE_UNDEPLOYED", OK, 200)
    assert harness.core.deployments() == [] and await harness.servers() == []


async def test_vim_failure_on_create(harness: Harness) -> None:
    harness.faults["server.create"] = FaultMode.ERROR
    harness.core.apply_update("t1", None, spec(group("g")))
    await harness.idle()
    assert harness.kinds() == [("CREATE_TENANT", OK, 200), ("VM_DEPLOYED", FAIL, 500), ("SERVICE_ALIVE", FAIL, 500)]
    assert "No valid host" in harness.events[1].status_message
    assert harness.events[2].status_message == harness.events[1].status_message
    (dep,) = harness.core.deployments()
    assert dep.state is ServiceState.ERROR
    assert harness.core.vms(dep.dep_id)[0].state is VmState.ERROR


async def test_waiting_is_batched(harness: Harness) -> None:
    started = time.monotonic()
    harness.core.apply_update("t1", None, spec(group("g", 4, 4)))
    await harness.idle()
    elapsed = time.monotonic() - started
    calls = harness.sim.calls
    assert calls["create_server"] == 4 and calls["get_server"] == 0
    # one list per poll interval (0.01 s) for all four VMs, plus the monitor's (0.03 s); polling per VM
    # would need four times the poller's share
    assert calls["list_servers"] <= elapsed / 0.01 + elapsed / 0.03 + 3
