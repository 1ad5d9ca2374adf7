"""Durability: operations in flight survive a kill and each remaining event is sent exactly once.

``Backup.restart`` cancels the manager's tasks at whatever ``await`` they are in (as ``kill -9`` stops a
process between two writes) and starts a fresh manager and driver on the same store and cloud.  The
store is the in-memory one and the SQL one on a file reopened for the new manager.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from esc_netconf.core.backup import BackupOperation, OperationKind, Phase, SnapshotRecord, SnapshotStatus
from esc_netconf.core.backup.create import SNAPSHOT_TAG
from esc_netconf.store import Database
from esc_netconf.store.snapshot_store import SqlSnapshotStore

from esc_netconf.vim.sim import FaultMode

from .conftest import Backup
from .test_create import OK

SLOW = 30.0  # a poll period that never elapses during a test: the operation sits in POLL until the kill


class _ReopeningSqlStore:
    """A ``SqlSnapshotStore`` whose database file is closed and reopened at each restart."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.database = Database.open_data_dir(path)
        self.store = SqlSnapshotStore(self.database)

    def reopen(self) -> None:
        self.database.close()
        self.database = Database.open_data_dir(self.path)
        self.store = SqlSnapshotStore(self.database)


@pytest.fixture(params=["memory", "sql"])
def durable(request: pytest.FixtureRequest, backup: Backup, tmp_path: Path) -> Iterator[Backup]:
    if request.param == "sql":
        sql = _ReopeningSqlStore(tmp_path / "db")
        backup.store = sql.store
        original = backup._open

        def reopen_then_open() -> None:
            sql.reopen()
            backup.store = sql.store
            original()

        backup._open = reopen_then_open  # type: ignore[method-assign]
        backup._open()
        yield backup
        sql.database.close()
    else:
        yield backup


def _count(backup: Backup, kind: str) -> int:
    return sum(1 for e in backup.events if e.event_type.value == kind)


async def test_kill_while_polling_a_create(durable: Backup, caplog: pytest.LogCaptureFixture) -> None:
    b = durable
    vm = await b.deploy(boot_volume=True)
    b.settings["vim.asyncpoller.snapshot.create.poll.secs"] = SLOW
    record = b.manager.create_snapshot(vm.name, "survivor", transaction_id="tx")
    await b.wait_for(lambda: _count(b, "VM_BACKUP_CREATED") == 1)
    b.settings["vim.asyncpoller.snapshot.create.poll.secs"] = 0.02
    with caplog.at_level(logging.INFO, logger="esc_netconf.core.backup.manager"):
        await b.restart()
    resumed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("resumed ")]
    assert len(resumed) == 1 and resumed[0].startswith("resumed snapshot create of survivor (interrupted at POLL;")
    await b.idle()
    assert b.kinds() == [("VM_BACKUP_INIT", OK, 200), ("VM_BACKUP_CREATED", OK, 202), ("VM_BACKUP_COMPLETE", OK, 200)]
    assert b.events[-1].transaction_id == "tx"
    snapshot = b.manager.get_snapshot(record.id)
    assert snapshot.status is SnapshotStatus.ACTIVE and snapshot.volume_snapshot_id
    assert b.store.load_operations() == []
    await b.restart()
    await b.idle()
    assert len(b.events) == 3  # nothing is sent twice


async def test_kill_before_the_vim_answered_reuses_the_image_it_made(durable: Backup) -> None:
    b = durable
    vm = await b.deploy()
    now = b.manager._ctx.clock()
    snapshot = SnapshotRecord(id="s-1", name="half", tenant=vm.tenant, generated_vm_name=vm.name, vm_id=vm.vm_id,
                              server_id=vm.server_id or "", deployment=vm.deployment, dep_id=vm.dep_id,
                              vm_group=vm.group, vim_id="default_openstack_vim", creation_start_date=now)
    op = BackupOperation("op-1", OperationKind.CREATE, "s-1", now, events_sent=["VM_BACKUP_INIT"])
    b.store.save_snapshot(snapshot)
    b.store.save_operation(op)
    # the VIM had accepted the request when the process died, before the id was recorded
    image_id = await b.sim.create_server_image(vm.server_id or "", "half", {SNAPSHOT_TAG: "s-1"})
    await b.restart()
    await b.idle()
    assert b.kinds() == [("VM_BACKUP_CREATED", OK, 202), ("VM_BACKUP_COMPLETE", OK, 200)]
    assert b.manager.get_snapshot("s-1").image_id == image_id
    assert [i.id for i in await b.sim.list_images(name="half")] == [image_id]


async def test_kill_before_the_request_reached_the_vim(durable: Backup) -> None:
    b = durable
    vm = await b.deploy()
    now = b.manager._ctx.clock()
    b.store.save_snapshot(SnapshotRecord(id="s-2", name="fresh", tenant=vm.tenant, generated_vm_name=vm.name,
                                         vm_id=vm.vm_id, server_id=vm.server_id or "", deployment=vm.deployment,
                                         dep_id=vm.dep_id, vm_group=vm.group, vim_id="default_openstack_vim",
                                         creation_start_date=now))
    b.store.save_operation(BackupOperation("op-2", OperationKind.CREATE, "s-2", now,
                                           events_sent=["VM_BACKUP_INIT"]))
    await b.restart()
    await b.idle()
    assert b.kinds() == [("VM_BACKUP_CREATED", OK, 202), ("VM_BACKUP_COMPLETE", OK, 200)]
    assert len(await b.sim.list_images(name="fresh")) == 1


async def test_kill_after_the_final_event_only_finishes(durable: Backup) -> None:
    b = durable
    vm = await b.deploy()
    b.manager.create_snapshot(vm.name, "done")
    await b.idle()
    sid = b.manager.list_snapshots()[0].id
    now = b.manager._ctx.clock()
    # a delete whose DELETED was sent (and recorded) but whose record was not yet forgotten
    b.store.save_operation(BackupOperation("op-3", OperationKind.DELETE, sid, now, phase=Phase.POLL,
                                           events_sent=["VM_SNAPSHOT_DELETING", "VM_SNAPSHOT_DELETED"],
                                           succeeded=True))
    mark = len(b.events)
    await b.restart()
    await b.idle()
    assert b.kinds(mark) == [] and b.manager.list_snapshots() == [] and b.store.load_operations() == []


async def test_kill_while_deleting(durable: Backup) -> None:
    b = durable
    vm = await b.deploy(boot_volume=True)
    b.manager.create_snapshot(vm.name, "gone-soon")
    await b.idle()
    sid = b.manager.list_snapshots()[0].id
    b.settings["vim.asyncpoller.snapshot.delete.poll.secs"] = SLOW
    mark = len(b.events)
    b.manager.delete_snapshot(sid)
    await b.wait_for(lambda: any(o.phase is Phase.POLL for o in b.store.load_operations()))
    b.settings["vim.asyncpoller.snapshot.delete.poll.secs"] = 0.02
    await b.restart()
    await b.idle()
    assert b.kinds(mark) == [("VM_SNAPSHOT_DELETING", OK, 202), ("VM_SNAPSHOT_DELETED", OK, 200)]
    assert b.manager.list_snapshots() == [] and b.store.load_snapshots() == []


async def test_kill_while_making_a_volume(durable: Backup) -> None:
    b = durable
    vm = await b.deploy(boot_volume=True)
    b.manager.create_snapshot(vm.name, "src")
    await b.idle()
    sid = b.manager.list_snapshots()[0].id
    b.settings["vim.asyncpoller.volume.create.poll.secs"] = SLOW
    mark = len(b.events)
    b.manager.create_volume_from_snapshot(sid, "restored", transaction_id="tx-v")
    await b.wait_for(lambda: any(o.phase is Phase.POLL for o in b.store.load_operations()))
    b.settings["vim.asyncpoller.volume.create.poll.secs"] = 0.02
    await b.restart()
    await b.idle()
    assert b.kinds(mark) == [("VM_VOLUME_ACCEPTED_EVENT", OK, 202), ("VM_VOLUME_CREATED_EVENT", OK, 201)]
    assert b.events[-1].transaction_id == "tx-v"
    assert len([v for v in await b.sim.list_volumes() if v.name == "restored"]) == 1


async def test_timeout_counts_time_spent_down(durable: Backup) -> None:
    b = durable
    vm = await b.deploy()
    b.faults["image.create"] = FaultMode.TIMEOUT
    b.settings["vim.asyncpoller.snapshot.create.poll.secs"] = SLOW
    b.manager.create_snapshot(vm.name, "stuck")
    await b.wait_for(lambda: _count(b, "VM_BACKUP_CREATED") == 1)
    (op,) = b.store.load_operations()
    op.started -= timedelta(hours=1)  # the controller was down for an hour
    b.store.save_operation(op)
    await b.restart()
    await b.idle()
    assert b.kinds()[-1] == ("VM_BACKUP_COMPLETE", "FAILURE", 500)
    assert _count(b, "VM_BACKUP_COMPLETE") == 1

