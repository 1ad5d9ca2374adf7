"""Bootable volume from a snapshot's volume snapshot: callback-only events, validation, failures."""

from __future__ import annotations

import pytest

from esc_netconf.core.errors import InvalidRequest, NotFound, StateConflict
from esc_netconf.vim.base import VolumeStatus
from esc_netconf.vim.sim import FaultMode

from .conftest import Backup
from .test_create import FAIL, OK

SEED_KEYS = {"external_volume_id", "size", "sizeunit", "bus", "type", "outOfBand", "bootIndex", "name", "format",
             "deviceType", "storageLocation", "external_tenant_id", "internal_tenant_id", "internal_volume_id",
             "valid", "event_type", "image"}


async def _volume_snapshot(backup: Backup) -> str:
    vm = await backup.deploy(boot_volume=True)
    record = backup.manager.create_snapshot(vm.name, "for-restore")
    await backup.idle()
    return record.id


async def test_volume_from_snapshot_sends_accepted_then_created(backup: Backup) -> None:
    sid = await _volume_snapshot(backup)
    snapshot = backup.manager.get_snapshot(sid)
    mark = len(backup.events)
    request = backup.manager.create_volume_from_snapshot(sid, "my-bootable-volume", multiattach=True,
                                                         transaction_id="tx-vol")
    assert request.volume_id is None and request.bootable and request.multiattach
    assert backup.kinds(mark) == [("VM_VOLUME_ACCEPTED_EVENT", OK, 202)]
    await backup.idle()
    assert backup.kinds(mark) == [("VM_VOLUME_ACCEPTED_EVENT", OK, 202), ("VM_VOLUME_CREATED_EVENT", OK, 201)]
    accepted, created = backup.events[mark:]
    assert accepted.callback_only and created.callback_only
    assert accepted.transaction_id == created.transaction_id == "tx-vol"
    assert created.status_message == "Create volume snapshot request completed"
    params = created.parameters
    assert SEED_KEYS <= set(params)
    volume = await backup.sim.get_volume(params["external_volume_id"] or "")
    assert volume.name == "my-bootable-volume" and volume.status is VolumeStatus.AVAILABLE
    assert volume.bootable and volume.multiattach and volume.source_snapshot_id == snapshot.volume_snapshot_id
    assert params["size"] == str(volume.size_gb) and params["name"] == "my-bootable-volume"
    assert params["outOfBand"] == "false" and params["bus"] == "virtio" and params["bootIndex"] == "0"
    assert params["internal_tenant_id"] == "t1" and params["external_tenant_id"] == snapshot.tenant_id
    assert accepted.parameters["external_volume_id"] is None and accepted.parameters["name"] == "my-bootable-volume"
    assert backup.store.load_operations() == []
    # out of band: the snapshot listing is unchanged and the volume is not tracked
    assert [s.id for s in backup.manager.list_snapshots()] == [sid]


async def test_volume_creation_failure(backup: Backup) -> None:
    sid = await _volume_snapshot(backup)
    backup.faults["volume.create"] = FaultMode.ERROR
    mark = len(backup.events)
    backup.manager.create_volume_from_snapshot(sid, "broken")
    await backup.idle()
    assert backup.kinds(mark) == [("VM_VOLUME_ACCEPTED_EVENT", OK, 202), ("VM_VOLUME_CREATED_EVENT", FAIL, 500)]
    assert "could not be created" in backup.events[-1].status_message


async def test_volume_creation_timeout(backup: Backup) -> None:
    sid = await _volume_snapshot(backup)
    backup.faults["volume.create"] = FaultMode.TIMEOUT
    backup.settings["vim.asyncpoller.volume.create.timeout.mins"] = 0.005
    backup.manager.create_volume_from_snapshot(sid, "slow")
    await backup.idle()
    assert backup.kinds()[-1] == ("VM_VOLUME_CREATED_EVENT", FAIL, 500)
    assert backup.events[-1].status_message == "Creation of volume [slow] did not complete within 0.005 minute(s)."


@pytest.mark.parametrize(("length", "ok"), [(255, True), (256, False), (0, False)])
async def test_volume_name_length(backup: Backup, length: int, ok: bool) -> None:
    sid = await _volume_snapshot(backup)
    if ok:
        backup.manager.create_volume_from_snapshot(sid, "v" * length)
        await backup.idle()
        assert backup.kinds()[-1] == ("VM_VOLUME_CREATED_EVENT", OK, 201)
    else:
        with pytest.raises(InvalidRequest, match="Volume name must be 1 to 255"):
            backup.manager.create_volume_from_snapshot(sid, "v" * length)


async def test_refused_for_unknown_snapshot_and_snapshot_without_volume(backup: Backup) -> None:
    with pytest.raises(NotFound, match=r"Snapshot \[nope\] not found\."):
        backup.manager.create_volume_from_snapshot("nope", "v")
    vm = await backup.deploy()
    record = backup.manager.create_snapshot(vm.name, "image-only")
    with pytest.raises(StateConflict, match="a volume can only be made from an active snapshot"):
        backup.manager.create_volume_from_snapshot(record.id, "v")
    await backup.idle()
    mark = len(backup.events)
    with pytest.raises(InvalidRequest, match="was not taken of a VM with a bootable volume") as info:
        backup.manager.create_volume_from_snapshot(record.id, "v")
    assert info.value.status_code == 400 and backup.kinds(mark) == []


async def test_snapshot_in_use_for_a_volume_is_not_deleted(backup: Backup) -> None:
    sid = await _volume_snapshot(backup)
    backup.manager.create_volume_from_snapshot(sid, "v")
    with pytest.raises(StateConflict, match="being used to create a volume"):
        backup.manager.delete_snapshot(sid)
    await backup.idle()
