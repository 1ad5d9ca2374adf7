"""``SqlSnapshotStore``: the backup records in SQL behave like the in-memory store, and survive reopening."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from esc_netconf.core.backup import (BackupOperation, MemorySnapshotStore, OperationKind, Phase, SnapshotRecord,
                                     SnapshotStatus, SnapshotStore, VolumeRequest)
from esc_netconf.core.memory_store import MemoryStore
from esc_netconf.core.store import Store
from esc_netconf.store import Database, SqlCoreStore
from esc_netconf.store.errors import StoreError
from esc_netconf.store.snapshot_store import SqlSnapshotStore

T0 = datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=timezone.utc)


def snapshot(sid: str, *, name: str = "snap", tenant: str = "t1", vm: str = "dep_g_0_x",
             minutes: int = 0) -> SnapshotRecord:
    return SnapshotRecord(id=sid, name=name, tenant=tenant, generated_vm_name=vm, vm_id="vm-1", server_id="srv-1",
                          deployment="dep", dep_id="dep-1", vm_group="g", vim_id="default_openstack_vim",
                          tenant_id="proj-1", image_id=f"img-{sid}", status=SnapshotStatus.QUEUED,
                          creation_start_date=T0 + timedelta(minutes=minutes))


def operation(op_id: str, sid: str, *, minutes: int = 0) -> BackupOperation:
    return BackupOperation(op_id, OperationKind.CREATE_VOLUME, sid, T0 + timedelta(minutes=minutes),
                           phase=Phase.POLL, transaction_id="tx", events_sent=["VM_VOLUME_ACCEPTED_EVENT"],
                           volume=VolumeRequest("vr-1", sid, "vol", "LVM", True, True, volume_id="v-1", size_gb=2))


@pytest.fixture(params=["sql", "memory"])
def store(request: pytest.FixtureRequest, memory_database: Database) -> SnapshotStore:
    return SqlSnapshotStore(memory_database) if request.param == "sql" else MemorySnapshotStore()


def test_round_trip_and_upsert(store: SnapshotStore) -> None:
    record = snapshot("s1")
    store.save_snapshot(record)
    record.status = SnapshotStatus.ACTIVE  # changing the object changes nothing stored
    assert store.load_snapshots()[0].status is SnapshotStatus.QUEUED
    store.save_snapshot(record)
    (loaded,) = store.load_snapshots()
    assert loaded == record and loaded is not record
    assert loaded.creation_start_date == T0


def test_loads_are_oldest_first_and_deletes_are_idempotent(store: SnapshotStore) -> None:
    store.save_snapshot(snapshot("b", minutes=2))
    store.save_snapshot(snapshot("a", minutes=5))
    store.save_snapshot(snapshot("c", minutes=1))
    assert [s.id for s in store.load_snapshots()] == ["c", "b", "a"]
    store.delete_snapshot("b")
    store.delete_snapshot("nope")
    assert [s.id for s in store.load_snapshots()] == ["c", "a"]


def test_operations(store: SnapshotStore) -> None:
    store.save_operation(operation("o2", "s1", minutes=3))
    store.save_operation(operation("o1", "s1", minutes=1))
    first = store.load_operations()
    assert [o.op_id for o in first] == ["o1", "o2"]
    assert first[0].volume == VolumeRequest("vr-1", "s1", "vol", "LVM", True, True, volume_id="v-1", size_gb=2)
    assert first[0].phase is Phase.POLL and first[0].kind is OperationKind.CREATE_VOLUME
    first[0].events_sent.append("VM_VOLUME_CREATED_EVENT")
    first[0].succeeded = True
    store.save_operation(first[0])
    reloaded = {o.op_id: o for o in store.load_operations()}
    assert reloaded["o1"].events_sent == ["VM_VOLUME_ACCEPTED_EVENT", "VM_VOLUME_CREATED_EVENT"]
    assert reloaded["o1"].succeeded is True and reloaded["o2"].succeeded is None
    store.finish_operation("o1")
    store.finish_operation("o1")
    assert [o.op_id for o in store.load_operations()] == ["o2"]


def test_sql_store_survives_reopening_and_filters(tmp_path: Path) -> None:
    with Database.open_data_dir(tmp_path) as database:
        sql = SqlSnapshotStore(database)
        sql.save_snapshot(snapshot("s1", tenant="t1", vm="vm-a"))
        sql.save_snapshot(snapshot("s2", tenant="t2", vm="vm-b", minutes=1))
        sql.save_operation(operation("o1", "s1"))
    with Database.open_data_dir(tmp_path) as database:
        sql = SqlSnapshotStore(database)
        assert [s.id for s in sql.load_snapshots()] == ["s1", "s2"]
        assert [s.id for s in sql.snapshots_of("t2")] == ["s2"]
        assert [s.id for s in sql.snapshots_of(None, "vm-a")] == ["s1"]
        assert sql.snapshots_of("t1", "vm-b") == []
        assert [o.op_id for o in sql.load_operations()] == ["o1"]


def test_save_progress_writes_both(store: SnapshotStore) -> None:
    record = snapshot("s1")
    op = operation("o1", "s1")
    store.save_progress(record, op)
    assert store.load_snapshots() == [record] and store.load_operations() == [op]
    record.status = SnapshotStatus.ACTIVE
    op.succeeded = False
    store.save_progress(record, op)
    assert store.load_snapshots()[0].status is SnapshotStatus.ACTIVE
    assert store.load_operations()[0].succeeded is False


@pytest.mark.parametrize("kind", ["sql", "memory"])
def test_save_progress_journals_its_events_with_the_records_or_nothing(kind: str, memory_database: Database) -> None:
    """The events of a step go into the core's event journal in the step's transaction: a failing write
    leaves neither the operation nor its event."""
    core: Store = SqlCoreStore(memory_database) if kind == "sql" else MemoryStore()
    store: SnapshotStore = SqlSnapshotStore(memory_database) if kind == "sql" else MemorySnapshotStore(journal=core)
    op = operation("o1", "s1")
    store.save_progress(None, op, [("e1", {"event_id": "e1", "n": 1}), ("e2", {"event_id": "e2", "n": 2})])
    assert store.load_snapshots() == [] and store.load_operations() == [op]
    assert core.pending_events() == [("e1", {"event_id": "e1", "n": 1}), ("e2", {"event_id": "e2", "n": 2})]
    if kind == "sql":
        with pytest.raises(StoreError):  # the same event id twice: the transaction fails as a whole
            store.save_progress(snapshot("s1"), operation("o2", "s1"), [("e1", {"event_id": "e1", "n": 3})])
        assert store.load_snapshots() == [] and [o.op_id for o in store.load_operations()] == ["o1"]
        assert [event_id for event_id, _ in core.pending_events()] == ["e1", "e2"]
