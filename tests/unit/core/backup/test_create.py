"""Creating snapshots: validation, the event sequence field by field, failures, timeouts."""

from __future__ import annotations

import pytest

from esc_netconf.core.backup import SnapshotStatus
from esc_netconf.core.errors import InvalidRequest, NotFound, StateConflict
from esc_netconf.core.events import EventStatus
from esc_netconf.core.states import ActionType, VmState
from esc_netconf.vim.base import ImageStatus, VolumeSnapshotStatus
from esc_netconf.vim.sim import FaultMode

from .conftest import Backup

OK, FAIL = EventStatus.SUCCESS.value, EventStatus.FAILURE.value


async def test_snapshot_of_alive_vm_sends_init_created_complete(backup: Backup) -> None:
    vm = await backup.deploy()
    tenant = backup.h.core.tenants()[0]
    record = backup.manager.create_snapshot(vm.name, "my-snapshot-name", transaction_id="tx-1")
    assert record.status is SnapshotStatus.PENDING and record.image_id is None
    assert backup.kinds() == [("VM_BACKUP_INIT", OK, 200)]
    await backup.idle()
    assert backup.kinds() == [("VM_BACKUP_INIT", OK, 200), ("VM_BACKUP_CREATED", OK, 202),
                              ("VM_BACKUP_COMPLETE", OK, 200)]
    for event in backup.events:
        assert event.depname == "dep" and event.tenant == "t1" and event.tenant_id == tenant.project_id
        assert event.depid == vm.dep_id and event.vm_group == "g" and event.transaction_id == "tx-1"
        assert not event.callback_only
        source = event.vm_source
        assert source is not None
        assert (source.vmid, source.vmname, source.generated_vmname) == (vm.server_id, vm.name, vm.name)
        assert (source.vim_id, source.vim_project, source.vim_project_id) == (
            "default_openstack_vim", "t1", tenant.project_id)
        assert (source.hostid, source.hostname) == (vm.host_id, vm.hostname)
    assert backup.events[-1].status_message == f"Snapshot image for VM [{vm.name}] is active."
    (listed,) = backup.manager.list_snapshots("t1", vm.name)
    assert listed.id == record.id and listed.status is SnapshotStatus.ACTIVE
    assert listed.status_message == f"Snapshot image for VM [{vm.name}] is active."
    assert listed.creation_start_date and listed.creation_end_date
    assert listed.creation_start_date <= listed.creation_end_date
    assert listed.volume_snapshot_id is None and listed.vim_id == "default_openstack_vim"
    image = await backup.sim.get_image(listed.image_id or "")
    assert image.name == "my-snapshot-name" and image.status is ImageStatus.ACTIVE
    assert image.properties["esc_snapshot_id"] == record.id
    assert backup.store.load_operations() == []
    assert backup.manager.list_snapshots("other") == [] and backup.manager.list_snapshots(None, "x") == []


async def test_snapshot_of_stopped_vm_is_allowed(backup: Backup) -> None:
    vm = await backup.deploy()
    backup.h.core.vm_action(vm.name, ActionType.STOP, force=True)
    await backup.h.idle()
    assert vm.state is VmState.SHUTOFF
    backup.manager.create_snapshot(vm.name, "stopped")
    await backup.idle()
    assert backup.kinds()[-1] == ("VM_BACKUP_COMPLETE", OK, 200)


async def test_boot_from_volume_vm_gets_image_and_volume_snapshot(backup: Backup) -> None:
    vm = await backup.deploy(boot_volume=True)
    record = backup.manager.create_snapshot(vm.name, "vol-snap")
    await backup.idle()
    assert backup.kinds()[-1] == ("VM_BACKUP_COMPLETE", OK, 200)
    snapshot = backup.manager.get_snapshot(record.id)
    assert snapshot.volume_snapshot_id is not None
    volume_snapshot = await backup.sim.get_volume_snapshot(snapshot.volume_snapshot_id)
    assert volume_snapshot.name == "snapshot for vol-snap"
    assert volume_snapshot.status is VolumeSnapshotStatus.AVAILABLE
    assert volume_snapshot.volume_id == vm.volume_ids[0]


@pytest.mark.parametrize("length", [1, 255])
async def test_name_lengths_accepted(backup: Backup, length: int) -> None:
    vm = await backup.deploy()
    backup.manager.create_snapshot(vm.name, "n" * length)
    await backup.idle()
    assert backup.manager.list_snapshots()[0].name == "n" * length


@pytest.mark.parametrize("length", [0, 256])
async def test_name_lengths_refused(backup: Backup, length: int) -> None:
    vm = await backup.deploy()
    with pytest.raises(InvalidRequest, match=rf"1 to 255 characters long, not {length}\.") as info:
        backup.manager.create_snapshot(vm.name, "n" * length)
    assert info.value.status_code == 400
    assert backup.events == [] and backup.manager.list_snapshots() == []


async def test_unknown_vm_refused(backup: Backup) -> None:
    with pytest.raises(NotFound, match=r"^VM \[nope\] not found\.$") as info:
        backup.manager.create_snapshot("nope", "s")
    assert info.value.status_code == 404 and backup.events == []


async def test_vm_in_a_state_that_refuses_snapshots(backup: Backup) -> None:
    vm = await backup.deploy()
    backup.h.faults["server.stop"] = FaultMode.TIMEOUT  # the VM stays VM_STOPPING_STATE
    backup.h.core.vm_action(vm.name, ActionType.STOP, force=True)
    await backup.wait_for(lambda: vm.state is VmState.STOPPING)
    with pytest.raises(StateConflict, match="is in VM_STOPPING_STATE; a snapshot can only be taken of a VM in "
                                            "VM_ALIVE_STATE or VM_SHUTOFF_STATE") as info:
        backup.manager.create_snapshot(vm.name, "s")
    assert info.value.status_code == 409 and backup.events == []


async def test_second_snapshot_of_a_vm_in_flight_is_refused(backup: Backup) -> None:
    vm = await backup.deploy()
    first = backup.manager.create_snapshot(vm.name, "a")
    with pytest.raises(StateConflict, match=first.id):
        backup.manager.create_snapshot(vm.name, "b")
    await backup.idle()
    backup.manager.create_snapshot(vm.name, "b")
    await backup.idle()
    assert [s.name for s in backup.manager.list_snapshots()] == ["a", "b"]


async def test_vim_failure_completes_with_failure_500(backup: Backup) -> None:
    vm = await backup.deploy()
    backup.faults["image.create"] = FaultMode.ERROR
    record = backup.manager.create_snapshot(vm.name, "broken")
    await backup.idle()
    assert backup.kinds() == [("VM_BACKUP_INIT", OK, 200), ("VM_BACKUP_CREATED", OK, 202),
                              ("VM_BACKUP_COMPLETE", FAIL, 500)]
    assert "killed" in backup.events[-1].status_message
    snapshot = backup.manager.get_snapshot(record.id)
    assert snapshot.status is SnapshotStatus.ERROR and snapshot.status_message == backup.events[-1].status_message


async def test_vim_refusal_completes_with_the_vims_message(backup: Backup) -> None:
    vm = await backup.deploy()
    server_id = vm.server_id or ""
    await backup.sim.delete_server(server_id)  # deleted behind the controller's back
    backup.manager.create_snapshot(vm.name, "orphan")
    await backup.idle()
    assert backup.kinds() == [("VM_BACKUP_INIT", OK, 200), ("VM_BACKUP_COMPLETE", FAIL, 500)]
    assert server_id in backup.events[-1].status_message  # Nova's own words about the instance


async def test_timeout_fails_the_operation(backup: Backup) -> None:
    vm = await backup.deploy()
    backup.faults["image.create"] = FaultMode.TIMEOUT
    backup.settings["vim.asyncpoller.snapshot.create.timeout.mins"] = 0.005  # 0.3 s
    backup.manager.create_snapshot(vm.name, "slow")
    await backup.idle()
    assert backup.kinds()[-1] == ("VM_BACKUP_COMPLETE", FAIL, 500)
    assert backup.events[-1].status_message == (
        f"Snapshot of VM [{vm.name}] did not complete within 0.005 minute(s).")


async def test_names_need_not_be_unique(backup: Backup) -> None:
    vm = await backup.deploy()
    ids = []
    for _ in range(2):
        ids.append(backup.manager.create_snapshot(vm.name, "same").id)
        await backup.idle()
    assert len(set(ids)) == 2 and [s.name for s in backup.manager.list_snapshots()] == ["same", "same"]
