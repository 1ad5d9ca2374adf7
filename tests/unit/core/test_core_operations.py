"""serviceAction and vmAction: event sequences, refusals, and what the VIM ends up with."""

from __future__ import annotations

import pytest

from esc_netconf.core.errors import NotFound, StateConflict
from esc_netconf.core.model import DeploymentRecord
from esc_netconf.core.states import ActionType, ServiceState, VmState
from esc_netconf.vim.base import ServerStatus

from .conftest import OK, Harness, group, spec

TWO = spec(group("g", 2, 3))


async def _deployed(harness: Harness) -> DeploymentRecord:
    harness.core.apply_update("t1", None, TWO)
    await harness.idle()
    (dep,) = harness.core.deployments()
    assert dep.state is ServiceState.ACTIVE
    return dep


async def _statuses(harness: Harness) -> set[ServerStatus]:
    return {s.status for s in await harness.servers()}


async def test_stop_start_reboot_service(harness: Harness) -> None:
    dep = await _deployed(harness)
    mark = len(harness.events)
    harness.core.service_action("t1", "dep", ActionType.STOP)
    assert dep.state is ServiceState.STOPPING
    await harness.idle()
    assert harness.kinds(mark) == [("VM_STOPPED", OK, 200)] * 2 + [("SERVICE_STOPPED", OK, 200)]
    assert dep.state is ServiceState.STOPPED
    assert {(v.state, v.monitored) for v in harness.core.vms(dep.dep_id)} == {(VmState.SHUTOFF, False)}
    assert await _statuses(harness) == {ServerStatus.SHUTOFF}

    mark = len(harness.events)
    harness.core.service_action("t1", "dep", ActionType.START)
    assert dep.state is ServiceState.STARTING
    await harness.idle()
    kinds = harness.kinds(mark)
    assert sorted(kinds[:4]) == sorted([("VM_STARTED", OK, 200), ("VM_ALIVE", OK, 200)] * 2)
    assert kinds[4:] == [("SERVICE_ALIVE", OK, 200)]
    assert {(v.state, v.monitored) for v in harness.core.vms(dep.dep_id)} == {(VmState.ALIVE, True)}
    assert await _statuses(harness) == {ServerStatus.ACTIVE}

    mark = len(harness.events)
    server_ids = {v.server_id for v in harness.core.vms(dep.dep_id)}
    harness.core.service_action("t1", dep.dep_id, ActionType.REBOOT)
    assert dep.state is ServiceState.REBOOTING
    await harness.idle()
    kinds = harness.kinds(mark)
    assert sorted(kinds[:4]) == sorted([("VM_REBOOTED", OK, 200), ("VM_ALIVE", OK, 200)] * 2)
    assert kinds[4:] == [("SERVICE_ALIVE", OK, 200)]  # ESC ends a service reboot with SERVICE_ALIVE
    vm = harness.core.vms(dep.dep_id)[0]
    assert [h.type for h in vm.history][-2:] == ["rebooting, monitoring unset", "rebooted, monitoring set"]
    assert {v.server_id for v in harness.core.vms(dep.dep_id)} == server_ids
    assert harness.sim.calls["stop_server"] == 4 and harness.sim.calls["start_server"] == 4


async def test_refusals(harness: Harness) -> None:
    with pytest.raises(NotFound, match=r"Deployment \[t1/dep\] not found"):
        harness.core.service_action("t1", "dep", ActionType.STOP)
    dep = await _deployed(harness)
    with pytest.raises(StateConflict) as info:
        harness.core.service_action("t1", "dep", ActionType.START)
    assert info.value.message == "Service [dep] is already running; START applies to a stopped service."
    assert info.value.status_code == 409 and dep.state is ServiceState.ACTIVE

    harness.core.service_action("t1", "dep", ActionType.STOP)
    for action in (ActionType.REBOOT, ActionType.STOP, ActionType.START):
        with pytest.raises(StateConflict) as info:
            harness.core.service_action("t1", "dep", action)
        assert info.value.message == "Deployment [t1/dep] is busy with STOP; try again when it finishes."
    vm_name = harness.core.vms(dep.dep_id)[0].name
    with pytest.raises(StateConflict, match="busy with STOP"):
        harness.core.vm_action(vm_name, ActionType.REBOOT)
    with pytest.raises(StateConflict, match="busy with STOP"):
        harness.core.recovery_vm_action(vm_name)
    await harness.idle()

    with pytest.raises(StateConflict, match="stopped; only START or undeploy"):
        harness.core.service_action("t1", "dep", ActionType.REBOOT)
    with pytest.raises(StateConflict, match="recovery is not possible"):
        harness.core.recovery_vm_action(vm_name)
    with pytest.raises(NotFound, match=r"VM \[nope\] not found"):
        harness.core.vm_action("nope", ActionType.STOP)


async def test_undeploy_interrupts_a_start(harness: Harness) -> None:
    await _deployed(harness)
    harness.core.service_action("t1", "dep", ActionType.STOP)
    await harness.idle()
    harness.core.service_action("t1", "dep", ActionType.START)
    harness.core.apply_update("t1", TWO, None)
    await harness.idle()
    assert harness.kinds()[-1] == ("SERVICE_UNDEPLOYED", OK, 200)
    assert await harness.servers() == [] and harness.core.deployments() == []


async def test_vm_stop_needs_force_below_min_active(harness: Harness) -> None:
    dep = await _deployed(harness)
    first, second = harness.core.vms(dep.dep_id)
    with pytest.raises(StateConflict) as info:
        harness.core.vm_action(first.name, ActionType.STOP)
    assert "below min_active 2; use force" in info.value.message
    assert first.state is VmState.ALIVE and not harness.core.is_busy(dep.dep_id)

    mark = len(harness.events)
    harness.core.vm_action(first.name, ActionType.STOP, force=True)
    await harness.idle()
    assert harness.kinds(mark) == [("VM_STOPPED", OK, 200)]
    assert harness.events[mark].vm_source is not None and harness.events[mark].vm_source.vmname == first.name
    assert first.state is VmState.SHUTOFF and second.state is VmState.ALIVE
    assert dep.state is ServiceState.ACTIVE
    with pytest.raises(StateConflict, match="VM_SHUTOFF_STATE; STOP does not apply"):
        harness.core.vm_action(first.name, ActionType.STOP, force=True)

    mark = len(harness.events)
    harness.core.vm_action(first.name, ActionType.START)
    await harness.idle()
    assert harness.kinds(mark) == [("VM_STARTED", OK, 200), ("VM_ALIVE", OK, 200)]
    assert first.state is VmState.ALIVE and first.monitored

    mark = len(harness.events)
    harness.core.vm_action(second.name, ActionType.REBOOT)
    await harness.idle()
    assert harness.kinds(mark) == [("VM_REBOOTED", OK, 200), ("VM_ALIVE", OK, 200)]


async def test_monitoring_on_and_off(harness: Harness) -> None:
    dep = await _deployed(harness)
    mark = len(harness.events)
    harness.core.service_action("t1", "dep", ActionType.DISABLE_MONITOR)
    assert harness.kinds(mark) == [("VM_MONITOR_UNSET", OK, 200)] * 2 + [("SERVICE_MONITOR_UNSET", OK, 200)]
    assert {(v.state, v.monitored) for v in harness.core.vms(dep.dep_id)} == {(VmState.MONITOR_DISABLED, False)}
    with pytest.raises(StateConflict, match="can be disabled"):
        harness.core.service_action("t1", "dep", ActionType.DISABLE_MONITOR)
    vm = harness.core.vms(dep.dep_id)[0]
    mark = len(harness.events)
    harness.core.vm_action(vm.name, ActionType.ENABLE_MONITOR)
    assert harness.kinds(mark) == [("VM_MONITOR_SET", OK, 200)] and vm.state is VmState.ALIVE and vm.monitored
    mark = len(harness.events)
    harness.core.service_action("t1", "dep", ActionType.ENABLE_MONITOR)
    assert harness.kinds(mark) == [("VM_MONITOR_SET", OK, 200), ("SERVICE_ALIVE", OK, 200)]
    assert harness.events[-1].status_message == "Service group set monitor successfully"
