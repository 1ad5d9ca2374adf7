"""An unexpected exception inside a snapshot workflow: FAILURE event *and* a settled, durable status.

Before the fix the snapshot stayed queued/saving/deleting for good, so listings showed it in progress and
volume creation refused it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import pytest

import esc_netconf.core.backup.create as create_module
from esc_netconf.core.backup import SnapshotStatus

from .conftest import Backup
from .test_create import FAIL, OK


def _boom(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise RuntimeError("boom")


async def _aboom(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise RuntimeError("boom")


def _stored(backup: Backup, snapshot_id: str) -> Any:
    (stored,) = [s for s in backup.store.load_snapshots() if s.id == snapshot_id]
    return stored


async def test_internal_error_while_requesting_marks_the_snapshot_error(backup: Backup,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    vm = await backup.deploy()
    monkeypatch.setattr(backup.sim, "create_server_image", _aboom)
    record = backup.manager.create_snapshot(vm.name, "snap")
    await backup.idle()
    assert backup.kinds() == [("VM_BACKUP_INIT", OK, 200), ("VM_BACKUP_COMPLETE", FAIL, 500)]
    assert backup.events[-1].status_message == "Internal error: boom"
    listed = backup.manager.get_snapshot(record.id)
    assert listed.status is SnapshotStatus.ERROR and listed.status_message == "Internal error: boom"
    assert listed.creation_end_date is not None
    stored = _stored(backup, record.id)
    assert stored.status is SnapshotStatus.ERROR and stored.status_message == "Internal error: boom"
    assert backup.store.load_operations() == []


async def test_internal_error_while_polling_marks_the_snapshot_error_across_a_restart(
        backup: Backup, monkeypatch: pytest.MonkeyPatch) -> None:
    vm = await backup.deploy()
    monkeypatch.setattr(create_module, "judge_create", _boom)  # a judge bug fails its operation
    record = backup.manager.create_snapshot(vm.name, "snap")
    await backup.idle()
    assert backup.kinds() == [("VM_BACKUP_INIT", OK, 200), ("VM_BACKUP_CREATED", OK, 202),
                              ("VM_BACKUP_COMPLETE", FAIL, 500)]
    assert backup.manager.get_snapshot(record.id).status is SnapshotStatus.ERROR
    await backup.restart()
    assert backup.manager.get_snapshot(record.id).status is SnapshotStatus.ERROR
    assert len(backup.events) == 3  # nothing resent after the restart


async def test_internal_error_while_exporting_leaves_the_complete_image_active(
        backup: Backup, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    vm = await backup.deploy()
    monkeypatch.setattr(backup.sim, "get_image", _aboom)  # only the export reads one image
    record = backup.manager.create_snapshot(vm.name, "snap", export=True, destination="x.img")
    await backup.idle()
    assert backup.kinds()[-1] == ("VM_BACKUP_COMPLETE", FAIL, 500)
    listed = backup.manager.get_snapshot(record.id)
    assert listed.status is SnapshotStatus.ACTIVE
    assert listed.status_message == f"Export of snapshot [{record.id}] failed: internal error: boom"
    assert _stored(backup, record.id).status is SnapshotStatus.ACTIVE


async def test_internal_error_while_deleting_marks_error_deleting_and_a_retry_works(
        backup: Backup, monkeypatch: pytest.MonkeyPatch) -> None:
    vm = await backup.deploy()
    record = backup.manager.create_snapshot(vm.name, "snap")
    await backup.idle()
    with monkeypatch.context() as patch:
        patch.setattr(backup.sim, "delete_image", _aboom)
        mark = len(backup.events)
        backup.manager.delete_snapshot(record.id)
        await backup.idle()
    assert backup.kinds(mark) == [("VM_SNAPSHOT_DELETING", OK, 202), ("VM_SNAPSHOT_DELETED", FAIL, 500)]
    kept = backup.manager.get_snapshot(record.id)
    assert kept.status is SnapshotStatus.ERROR_DELETING and kept.status_message == "Internal error: boom"
    assert _stored(backup, record.id).status is SnapshotStatus.ERROR_DELETING
    backup.manager.delete_snapshot(record.id)
    await backup.idle()
    assert backup.kinds()[-1] == ("VM_SNAPSHOT_DELETED", OK, 200) and backup.manager.list_snapshots() == []


async def test_internal_error_while_making_a_volume_leaves_the_snapshot_usable(
        backup: Backup, monkeypatch: pytest.MonkeyPatch) -> None:
    vm = await backup.deploy(boot_volume=True)
    record = backup.manager.create_snapshot(vm.name, "snap")
    await backup.idle()
    with monkeypatch.context() as patch:
        patch.setattr(backup.sim, "create_volume", _aboom)
        mark = len(backup.events)
        backup.manager.create_volume_from_snapshot(record.id, "vol")
        await backup.idle()
    assert backup.kinds(mark)[-1] == ("VM_VOLUME_CREATED_EVENT", FAIL, 500)
    assert backup.manager.get_snapshot(record.id).status is SnapshotStatus.ACTIVE
    backup.manager.create_volume_from_snapshot(record.id, "vol2")  # still accepted
    await backup.idle()
    assert backup.kinds()[-1] == ("VM_VOLUME_CREATED_EVENT", OK, 201)
