"""One notion of "busy" shared by the core and the snapshot manager.

While a snapshot of a VM is being captured the VIM refuses stop/start/reboot of its server (409), so the
core refuses actions on the deployment naming the snapshot, and the manager refuses a snapshot while the
core runs an operation on the deployment.  Undeploy still overrides everything.
"""

from __future__ import annotations

import pytest

from esc_netconf.core.errors import StateConflict
from esc_netconf.core.states import ActionType, ServiceState, VmState, VmTrigger

from . import conftest as backup_conftest
from .conftest import Backup

from ..conftest import group, spec


@pytest.fixture
def slow_capture(monkeypatch: pytest.MonkeyPatch) -> None:
    """The manager's VIM captures for about a second, long enough to act meanwhile."""
    monkeypatch.setattr(backup_conftest, "DELAY_SCALE", 2.0)


async def test_actions_are_refused_naming_the_snapshot_while_it_captures(slow_capture: None, backup: Backup) -> None:
    vm = await backup.deploy()
    core = backup.h.core
    dep = core.find_deployment("t1", "dep")
    assert dep is not None
    backup.manager.create_snapshot(vm.name, "snap")
    label = f"SNAPSHOT of VM [{vm.name}]"
    for attempt in (lambda: core.service_action("t1", "dep", ActionType.STOP),
                    lambda: core.service_action("t1", "dep", ActionType.REBOOT),
                    lambda: core.vm_action(vm.name, ActionType.REBOOT),
                    lambda: core.vm_action(vm.name, ActionType.STOP, force=True),
                    lambda: core.recovery_vm_action(vm.name),
                    lambda: core.check_update("t1", dep.spec, spec(group("g", 1, 3)))):
        with pytest.raises(StateConflict, match=label.replace("[", r"\[").replace("]", r"\]")):
            attempt()
    assert dep.state is ServiceState.ACTIVE and vm.state is VmState.ALIVE
    assert not core.is_busy(dep.dep_id)


async def test_stop_is_accepted_again_once_the_snapshot_is_complete(backup: Backup) -> None:
    vm = await backup.deploy()
    core = backup.h.core
    backup.manager.create_snapshot(vm.name, "snap")
    await backup.idle(20)
    assert backup.kinds()[-1] == ("VM_BACKUP_COMPLETE", "SUCCESS", 200)
    core.service_action("t1", "dep", ActionType.STOP)
    await backup.h.idle(20)
    dep = core.find_deployment("t1", "dep")
    assert dep is not None and dep.state is ServiceState.STOPPED and vm.state is VmState.SHUTOFF


async def test_undeploy_overrides_a_snapshot_in_progress(slow_capture: None, backup: Backup) -> None:
    vm = await backup.deploy()
    core = backup.h.core
    dep = core.find_deployment("t1", "dep")
    assert dep is not None
    backup.manager.create_snapshot(vm.name, "snap")
    core.check_update("t1", dep.spec, None)
    core.apply_update("t1", dep.spec, None)
    assert dep.state is ServiceState.UNDEPLOYING and core.busy_with(dep.dep_id) == "UNDEPLOY"


async def test_snapshot_is_refused_while_the_deployment_is_busy(backup: Backup) -> None:
    vm = await backup.deploy()
    core = backup.h.core
    core.service_action("t1", "dep", ActionType.STOP)
    assert vm.state is VmState.ALIVE  # the service is STOPPING; its VMs not yet
    with pytest.raises(StateConflict, match=r"busy with STOP"):
        backup.manager.create_snapshot(vm.name, "snap")
    assert backup.kinds() == [] and backup.manager.list_snapshots() == []


async def test_monitor_does_not_recover_a_vm_being_captured(slow_capture: None, backup: Backup) -> None:
    vm = await backup.deploy()
    core = backup.h.core
    dep = core.find_deployment("t1", "dep")
    assert dep is not None
    backup.manager.create_snapshot(vm.name, "snap")
    core._ctx.vm_to(vm, VmTrigger.LOST, "lost (test)")
    await core.monitor_once()
    assert not core.is_busy(dep.dep_id) and vm.state is VmState.MONITOR_UNSET
