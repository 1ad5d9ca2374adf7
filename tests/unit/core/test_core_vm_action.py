"""``vmAction`` applies the VM's first transition before it returns, as ``serviceAction`` does, and the
workflows (also resumed after a restart) carry on from that state."""

from __future__ import annotations

import pytest

from esc_netconf.core.errors import StateConflict
from esc_netconf.core.states import ActionType, ServiceState, VmState

from .conftest import OK, Harness, group, spec

TWO = spec(group("g", 2, 2))


async def _vm_name(harness: Harness) -> str:
    harness.core.apply_update("t1", None, TWO)
    await harness.idle()
    (dep,) = harness.core.deployments()
    return harness.core.vms(dep.dep_id)[0].name


@pytest.mark.parametrize(("action", "first"), [(ActionType.STOP, VmState.STOPPING),
                                               (ActionType.REBOOT, VmState.REBOOTING)])
async def test_the_first_transition_is_visible_at_once(harness: Harness, action: ActionType,
                                                       first: VmState) -> None:
    name = await _vm_name(harness)
    harness.core.vm_action(name, action, force=True)
    vm = harness.core.find_vm(name)
    assert vm is not None and vm.state is first and not vm.monitored
    assert harness.store.load().vms[vm.vm_id].state is first
    with pytest.raises(StateConflict):
        harness.core.vm_action(name, action, force=True)
    await harness.idle()
    expected = VmState.SHUTOFF if action is ActionType.STOP else VmState.ALIVE
    assert vm.state is expected and vm.monitored is (action is not ActionType.STOP)
    history = [h.type for h in vm.history]
    assert len([t for t in history if t.startswith(("stopping", "rebooting"))]) == 1


async def test_start_is_visible_at_once(harness: Harness) -> None:
    name = await _vm_name(harness)
    harness.core.vm_action(name, ActionType.STOP, force=True)
    await harness.idle()
    mark = len(harness.events)
    harness.core.vm_action(name, ActionType.START)
    vm = harness.core.find_vm(name)
    assert vm is not None and vm.state is VmState.STARTING
    await harness.idle()
    assert vm.state is VmState.ALIVE and vm.monitored
    assert harness.kinds(mark) == [("VM_STARTED", OK, 200), ("VM_ALIVE", OK, 200)]


@pytest.mark.parametrize(("action", "first", "final", "events"), [
    (ActionType.STOP, VmState.STOPPING, VmState.SHUTOFF, [("VM_STOPPED", OK, 200)]),
    (ActionType.REBOOT, VmState.REBOOTING, VmState.ALIVE, [("VM_REBOOTED", OK, 200), ("VM_ALIVE", OK, 200)]),
])
async def test_a_vm_action_resumes_after_restart(harness: Harness, action: ActionType, first: VmState,
                                                 final: VmState, events: list[tuple[str, str, int]]) -> None:
    name = await _vm_name(harness)
    mark = len(harness.events)
    harness.core.vm_action(name, action, force=True)
    await harness.restart()
    vm = harness.core.find_vm(name)
    assert vm is not None and vm.state is first
    await harness.idle()
    vm = harness.core.find_vm(name)
    assert vm is not None and vm.state is final
    assert harness.kinds(mark) == events
    assert harness.core.deployments()[0].state is ServiceState.ACTIVE
    assert not harness.store.load().operations
