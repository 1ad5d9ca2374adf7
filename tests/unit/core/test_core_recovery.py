"""Monitoring and recovery: out-of-band failures, the failure path, and recovery by hand."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from esc_netconf.core.model import DeploymentRecord
from esc_netconf.core.states import ActionType, ServiceState, VmState
from esc_netconf.vim.base import ServerStatus
from esc_netconf.vim.sim import FaultMode

from .conftest import FAIL, FAST, OK, Harness, group, spec


async def _deployed(harness: Harness) -> DeploymentRecord:
    harness.core.apply_update("t1", None, spec(group("g", 2, 3)))
    await harness.idle()
    (dep,) = harness.core.deployments()
    return dep


async def test_vm_killed_out_of_band_is_recovered_by_reboot(harness: Harness) -> None:
    dep = await _deployed(harness)
    victim, other = harness.core.vms(dep.dep_id)
    mark = len(harness.events)
    assert victim.server_id is not None
    await harness.sim.force_server_status(victim.server_id, ServerStatus.SHUTOFF)
    await harness.wait_for(lambda: len(harness.events) >= mark + 3)
    await harness.idle()
    assert harness.kinds(mark) == [("VM_RECOVERY_INIT", OK, 200), ("VM_RECOVERY_REBOOT", OK, 200),
                                   ("VM_RECOVERY_COMPLETE", OK, 200)]
    assert all(e.vm_source and e.vm_source.vmname == victim.name for e in harness.events[mark:])
    assert all(e.vm_source and e.vm_source.vmid == victim.server_id for e in harness.events[mark:])
    complete = harness.events[-1]
    assert complete.status_message == f"Recovery: Successfully recovered VM [{victim.name}]."
    assert complete.vm_target is not None and complete.vm_target.vmid == victim.server_id  # same server
    assert "recovered by reboot, monitoring set" in [h.type for h in victim.history]
    assert victim.state is VmState.ALIVE and victim.monitored and other.state is VmState.ALIVE
    assert "monitor: VIM reports the server SHUTOFF" in [h.type for h in victim.history]
    server = await harness.sim.get_server(victim.server_id)
    assert server.status is ServerStatus.ACTIVE
    assert dep.state is ServiceState.ACTIVE


async def test_monitor_lists_once_per_project(tmp_path: Path) -> None:
    # the monitor's own passes are an hour apart here: one of them during monitor_once would count too
    harness = Harness(tmp_path / "sim", settings=dataclasses.replace(FAST, monitor_interval=3600.0))
    await harness.core.start()
    try:
        await _deployed(harness)
        before = harness.sim.calls.snapshot()
        await harness.core.monitor_once()  # one pass over two monitored VMs of one tenant
        after = harness.sim.calls.snapshot()
        assert after.get("list_servers", 0) - before.get("list_servers", 0) == 1
        assert after.get("get_server", 0) == before.get("get_server", 0)
    finally:
        await harness.core.stop()
        await harness.sim.close()


async def test_stopped_service_is_not_recovered(harness: Harness) -> None:
    dep = await _deployed(harness)
    harness.core.service_action("t1", "dep", ActionType.STOP)
    await harness.idle()
    mark = len(harness.events)
    for vm in harness.core.vms(dep.dep_id):
        assert vm.server_id is not None
        await harness.sim.force_server_status(vm.server_id, ServerStatus.ERROR)
    await harness.core.monitor_once()
    await harness.idle()
    assert harness.kinds(mark) == [] and dep.state is ServiceState.STOPPED


async def test_recovery_failure(harness: Harness) -> None:
    dep = await _deployed(harness)
    victim = harness.core.vms(dep.dep_id)[0]
    harness.faults["server.reboot"] = FaultMode.ERROR
    harness.faults["server.create"] = FaultMode.ERROR
    mark = len(harness.events)
    assert victim.server_id is not None
    await harness.sim.force_server_status(victim.server_id, ServerStatus.ERROR, fault="disk on fire")
    await harness.wait_for(lambda: harness.has_event_type("VM_RECOVERY_COMPLETE", mark))
    await harness.idle()
    assert harness.kinds(mark) == [("VM_RECOVERY_INIT", OK, 200), ("VM_RECOVERY_REBOOT", FAIL, 500),
                                   ("VM_RECOVERY_UNDEPLOYED", OK, 200), ("VM_RECOVERY_COMPLETE", FAIL, 500)]
    assert "No valid host" in harness.events[-1].status_message
    assert victim.state is VmState.ERROR and not victim.monitored
    assert dep.state is ServiceState.ERROR
    names = [s.name for s in await harness.servers()]
    assert names.count(victim.name) == 1  # the failed rebuild, never two


async def test_image_change_then_manual_recovery_redeploys(harness: Harness) -> None:
    dep = await _deployed(harness)
    vm = harness.core.vms(dep.dep_id)[0]
    old_server = vm.server_id
    new = spec(group("g", 2, 3, image="ubuntu-22.04"))
    old = dep.spec
    harness.core.check_update("t1", old, new)
    mark = len(harness.events)
    harness.core.apply_update("t1", old, new)
    await harness.idle()
    assert harness.kinds(mark) == [("SERVICE_UPDATED", OK, 200)]
    assert vm.image == "cirros" and vm.server_id == old_server

    mark = len(harness.events)
    harness.core.recovery_vm_action(vm.name)
    await harness.idle()
    # the image changed: no reboot, straight to the redeploy
    assert harness.kinds(mark) == [("VM_RECOVERY_INIT", OK, 200), ("VM_RECOVERY_UNDEPLOYED", OK, 200),
                                   ("VM_RECOVERY_DEPLOYED", OK, 200), ("VM_RECOVERY_COMPLETE", OK, 200)]
    assert vm.server_id != old_server and vm.image == "ubuntu-22.04" and vm.state is VmState.ALIVE
    for event in harness.events[-2:]:  # DEPLOYED and COMPLETE: the old VM as source, the new one as target
        assert event.vm_source is not None and event.vm_source.vmid == old_server
        assert event.vm_target is not None and event.vm_target.vmid == vm.server_id
        assert event.vm_target.interfaces and event.vm_target.interfaces[0].ip_address == vm.interfaces[0].ip_address
    assert vm.recovery_source is None
    server = await harness.sim.get_server(vm.server_id)  # type: ignore[arg-type]
    (ubuntu,) = await harness.sim.list_images(name="ubuntu-22.04")
    assert server.image_id == ubuntu.id and server.name == vm.name
    assert len(await harness.servers()) == 2


async def test_an_undeploy_cancels_a_recovery_with_an_event(harness: Harness) -> None:
    dep = await _deployed(harness)
    victim = harness.core.vms(dep.dep_id)[0]
    harness.faults["server.reboot"] = FaultMode.TIMEOUT  # the reboot never finishes: recovery stays in flight
    mark = len(harness.events)
    harness.core.recovery_vm_action(victim.name)
    await harness.wait_for(lambda: harness.has_event_type("VM_RECOVERY_INIT", mark))
    harness.core.apply_update("t1", dep.spec, None)
    await harness.idle()
    kinds = harness.kinds(mark)
    assert kinds[:2] == [("VM_RECOVERY_INIT", OK, 200), ("VM_RECOVERY_CANCELLED", OK, 200)]
    assert kinds[-1] == ("SERVICE_UNDEPLOYED", OK, 200)
    assert "VM_RECOVERY_COMPLETE" not in [k for k, _, _ in kinds]
    assert harness.events[mark + 1].status_message == f"Recovery of VM [{victim.name}] cancelled by undeploy."
