"""Deleting snapshots: by id or unique name, refusals, both VIM resources gone before DELETED."""

from __future__ import annotations

import pytest

from esc_netconf.core.backup import SnapshotStatus
from esc_netconf.core.errors import InvalidRequest, NotFound, StateConflict
from esc_netconf.vim.base import VimNotFound
from esc_netconf.vim.sim import FaultMode

from .conftest import Backup
from .test_create import FAIL, OK


async def _snapshot(backup: Backup, name: str = "snap", *, boot_volume: bool = False,
                    vm_name: str | None = None) -> str:
    if vm_name is None:
        vm_name = (await backup.deploy(boot_volume=boot_volume)).name
    record = backup.manager.create_snapshot(vm_name, name)
    await backup.idle()
    return record.id


async def test_delete_by_id_sends_deleting_then_deleted(backup: Backup) -> None:
    sid = await _snapshot(backup)
    image_id = backup.manager.get_snapshot(sid).image_id or ""
    mark = len(backup.events)
    record = backup.manager.delete_snapshot(sid, transaction_id="tx-del")
    assert record.status is SnapshotStatus.DELETING
    assert backup.kinds(mark) == [("VM_SNAPSHOT_DELETING", OK, 202)]
    await backup.idle()
    assert backup.kinds(mark) == [("VM_SNAPSHOT_DELETING", OK, 202), ("VM_SNAPSHOT_DELETED", OK, 200)]
    deleted = backup.events[-1]
    assert deleted.status_message == f"Snapshot image [{sid}] has been deleted."
    assert deleted.transaction_id == "tx-del" and deleted.depname == "dep" and deleted.vm_group == "g"
    assert backup.events[-2].vm_source == backup.events[0].vm_source
    assert backup.manager.list_snapshots() == [] and backup.store.load_snapshots() == []
    assert backup.store.load_operations() == []
    with pytest.raises(VimNotFound):
        await backup.sim.get_image(image_id)


async def test_delete_by_unique_name_removes_image_and_volume_snapshot(backup: Backup) -> None:
    sid = await _snapshot(backup, "unique", boot_volume=True)
    record = backup.manager.get_snapshot("unique")
    assert record.id == sid and record.volume_snapshot_id
    backup.manager.delete_snapshot("unique")
    await backup.idle()
    assert backup.kinds()[-1] == ("VM_SNAPSHOT_DELETED", OK, 200)
    assert await backup.sim.list_volume_snapshots(ids=[record.volume_snapshot_id]) == []
    assert await backup.sim.list_images(ids=[record.image_id or ""]) == []


async def test_deleted_waits_for_the_volume_snapshot(backup: Backup) -> None:
    sid = await _snapshot(backup, boot_volume=True)
    backup.faults["volume.snapshot.delete"] = FaultMode.TIMEOUT  # Cinder never finishes
    backup.settings["vim.asyncpoller.snapshot.delete.timeout.mins"] = 0.005
    mark = len(backup.events)
    backup.manager.delete_snapshot(sid)
    await backup.idle()
    assert backup.kinds(mark) == [("VM_SNAPSHOT_DELETING", OK, 202), ("VM_SNAPSHOT_DELETED", FAIL, 500)]
    assert backup.events[-1].status_message == f"Deletion of snapshot [{sid}] did not complete within 0.005 minute(s)."
    kept = backup.manager.get_snapshot(sid)
    assert kept.status is SnapshotStatus.ERROR_DELETING


async def test_vim_refusal_reports_the_vims_message_and_keeps_the_snapshot(backup: Backup) -> None:
    sid = await _snapshot(backup)
    backup.faults["image.delete"] = FaultMode.ERROR
    mark = len(backup.events)
    backup.manager.delete_snapshot(sid)
    await backup.idle()
    assert backup.kinds(mark) == [("VM_SNAPSHOT_DELETING", OK, 202), ("VM_SNAPSHOT_DELETED", FAIL, 500)]
    assert backup.manager.get_snapshot(sid).status_message == backup.events[-1].status_message != ""
    backup.faults.clear()  # a second attempt works
    backup.manager.delete_snapshot(sid)
    await backup.idle()
    assert backup.kinds()[-1] == ("VM_SNAPSHOT_DELETED", OK, 200) and backup.manager.list_snapshots() == []


async def test_cinder_error_deleting_fails_the_delete(backup: Backup) -> None:
    sid = await _snapshot(backup, boot_volume=True)
    backup.faults["volume.snapshot.delete"] = FaultMode.ERROR
    backup.manager.delete_snapshot(sid)
    await backup.idle()
    assert backup.kinds()[-1] == ("VM_SNAPSHOT_DELETED", FAIL, 500)
    assert "error_deleting" in backup.events[-1].status_message


async def test_missing_snapshot_is_refused_with_404(backup: Backup) -> None:
    with pytest.raises(NotFound) as info:
        backup.manager.delete_snapshot("my-snapshot-name-1")
    assert info.value.message == "Snapshot image [my-snapshot-name-1] not found."
    assert info.value.status_code == 404 and backup.events == []
    with pytest.raises(NotFound, match=r"^Snapshot image \[x\] not found\.$"):
        backup.manager.get_snapshot("x")


async def test_ambiguous_name_is_refused_but_ids_work(backup: Backup) -> None:
    vm = await backup.deploy()
    first = await _snapshot(backup, "twin", vm_name=vm.name)
    second = await _snapshot(backup, "twin", vm_name=vm.name)
    mark = len(backup.events)
    with pytest.raises(InvalidRequest, match=r"Snapshot name \[twin\] is not unique \(2 snapshots have it\); "
                                             r"use the snapshot id\.") as info:
        backup.manager.delete_snapshot("twin")
    assert info.value.status_code == 400 and backup.kinds(mark) == []
    backup.manager.delete_snapshot(first)
    await backup.idle()
    assert [s.id for s in backup.manager.list_snapshots()] == [second]
    backup.manager.delete_snapshot("twin")  # unique now
    await backup.idle()
    assert backup.manager.list_snapshots() == []


async def test_snapshot_being_created_cannot_be_deleted(backup: Backup) -> None:
    vm = await backup.deploy()
    record = backup.manager.create_snapshot(vm.name, "busy")
    with pytest.raises(StateConflict, match="is being created") as info:
        backup.manager.delete_snapshot(record.id)
    assert info.value.status_code == 409
    await backup.idle()
    backup.manager.delete_snapshot(record.id)
    with pytest.raises(StateConflict, match="already being deleted"):
        backup.manager.delete_snapshot(record.id)
    await backup.idle()


async def test_failed_snapshot_without_image_is_deleted_at_once(backup: Backup) -> None:
    vm = await backup.deploy()
    await backup.sim.delete_server(vm.server_id or "")
    sid = await _snapshot(backup, "never", vm_name=vm.name)
    assert backup.manager.get_snapshot(sid).image_id is None
    backup.manager.delete_snapshot(sid)
    await backup.idle()
    assert backup.kinds()[-2:] == [("VM_SNAPSHOT_DELETING", OK, 202), ("VM_SNAPSHOT_DELETED", OK, 200)]
