"""``SharedRecordReader``: a standby's copy of the records the active writes, re-read only where they changed.

On both engines a read shows what the store holds (what ``SqlCoreStore.load`` and ``load_snapshots`` read);
on PostgreSQL (where groups exist) a read of an unchanged store reads no record, and a read after a change
reads the changed rows only: the statements run are counted, and unchanged records stay the same objects.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select, text

from esc_netconf.core.model import TenantRecord
from esc_netconf.core.states import VmState
from esc_netconf.core.store import RecordKind, Write
from esc_netconf.netconf.persistence import ConfigPart
from esc_netconf.store import Database, SqlConfigStore, SqlCoreStore
from esc_netconf.store.schema import core_tenants
from esc_netconf.store.shared_records import SharedRecordReader, SharedRecords
from esc_netconf.store.snapshot_store import SqlSnapshotStore
from tests.unit.store.test_snapshot_store import snapshot
from tests.postgres_server import PostgresServer
from tests.unit.store.test_store_core_store import deployment, operation, vm



@pytest.fixture
def postgres_database(postgres: PostgresServer) -> Iterator[Database]:
    """A new database of the test PostgreSQL (the tier ``make test-ha`` runs)."""
    db = Database.open(postgres.create_database())
    try:
        yield db
    finally:
        db.close()


def tenant(name: str) -> dict[str, Any]:
    return TenantRecord(name, f"p-{name}").to_dict()


def seed(db: Database, deployments: int = 3, vms: int = 4) -> None:
    """What an active would have written: a tenant, deployments with VMs, an operation, a snapshot."""
    store = SqlCoreStore(db)
    writes = [Write(RecordKind.TENANT, "t1", tenant("t1"))]
    for d in range(deployments):
        writes.append(Write(RecordKind.DEPLOYMENT, f"d-{d}", deployment(f"d-{d}", name=f"dep{d}").to_dict()))
        writes += [Write(RecordKind.VM, f"vm-{d}-{i}", vm(f"vm-{d}-{i}", f"d-{d}", f"dep{d}_g1_{i}").to_dict())
                   for i in range(vms)]
    writes.append(Write(RecordKind.OPERATION, "op-1", operation("op-1", "d-0", "vm-0-0").to_dict()))
    store.apply(writes)
    SqlSnapshotStore(db).save_snapshot(snapshot("s-1"))


def same_as_stored(records: SharedRecords, db: Database) -> None:
    """The reader's records are those a full load reads."""
    loaded = SqlCoreStore(db).load()
    for name in ("tenants", "deployments", "vms", "operations"):
        mine, stored = getattr(records.core, name), getattr(loaded, name)
        assert {k: v.to_dict() for k, v in mine.items()} == {k: v.to_dict() for k, v in stored.items()}, name
    assert {k: v.to_dict() for k, v in records.snapshots.items()} == {
        s.id: s.to_dict() for s in SqlSnapshotStore(db).load_snapshots()}


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements run on ``db`` meanwhile."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


def record_reads(seen: list[str]) -> list[str]:
    """The statements that read records (their JSON), not only their versions."""
    return [s for s in seen if "data" in s.split("FROM")[0]]


def test_a_read_shows_the_store_and_the_next_read_its_changes(memory_database: Database) -> None:
    db = memory_database
    seed(db)
    reader = SharedRecordReader(db)
    first = reader.read()
    same_as_stored(first, db)
    assert reader.read() is first or not db.is_postgresql  # nothing changed: the same state (PostgreSQL)

    changed = vm("vm-1-2", "d-1", "dep1_g1_2")
    changed.state = VmState.ERROR
    store = SqlCoreStore(db)
    store.apply([Write(RecordKind.VM, "vm-1-2", changed.to_dict()), Write(RecordKind.DEPLOYMENT, "d-2", None),
                 Write(RecordKind.OPERATION, "op-1", None)])
    SqlSnapshotStore(db).delete_snapshot("s-1")
    SqlConfigStore(db).save_parts([ConfigPart("[]", "", 0, b"<data/>")], ())
    second = reader.read()
    assert second is not first
    same_as_stored(second, db)
    assert second.core.vms["vm-1-2"].state is VmState.ERROR
    assert "d-2" not in second.core.deployments and "vm-2-0" not in second.core.vms
    assert not second.core.operations and not second.snapshots
    assert (first.config_version, second.config_version) == (0, 1)
    assert first.core.vms["vm-1-2"].state is VmState.ALIVE  # a state once read never changes
    if db.is_postgresql:  # unchanged rows were not read again
        assert second.core.vms["vm-0-0"] is first.core.vms["vm-0-0"]
        assert second.core.tenants["t1"] is first.core.tenants["t1"]


@pytest.mark.postgresql
def test_on_postgresql_a_read_without_a_change_reads_no_record_and_one_after_a_change_only_that(
        postgres_database: Database) -> None:
    db = postgres_database
    seed(db, deployments=10, vms=10)
    reader = SharedRecordReader(db)
    with statements(db) as first:
        reader.read()
    assert len(record_reads(first)) == 5  # every table once: the first read reads everything
    with statements(db) as unchanged:
        reader.read()
    assert record_reads(unchanged) == []
    # the snapshot check, unless another test's transaction ended meanwhile: then the per-table sums too
    assert len(unchanged) in (1, 3)

    moved = vm("vm-3-3", "d-3", "dep3_g1_3", server_id="srv-33")
    SqlCoreStore(db).apply([Write(RecordKind.VM, "vm-3-3", moved.to_dict())])
    with statements(db) as after:
        records = reader.read()
    assert records.core.vms["vm-3-3"].server_id == "srv-33"
    (data_read,) = record_reads(after)  # the changed VM's row, by key
    assert "FROM core_vms" in data_read and "IN" in data_read
    (tags_read,) = [s for s in after if "xmin" in s and "count" not in s]  # of the one table that changed
    assert "FROM core_vms" in tags_read


@pytest.mark.postgresql
def test_on_postgresql_a_read_transaction_sees_one_snapshot(postgres_database: Database) -> None:
    """``Database.read`` is REPEATABLE READ there: a commit between two of its queries is not seen by the
    second (READ COMMITTED would show it, and a reader of several tables could mix two states)."""
    db = postgres_database
    seed(db, deployments=1, vms=1)
    with db.read() as connection:
        before: Sequence[str] = connection.execute(select(core_tenants.c.name)).scalars().all()
        SqlCoreStore(db).apply([Write(RecordKind.TENANT, "t2", tenant("t2"))])
        after: Sequence[str] = connection.execute(select(core_tenants.c.name)).scalars().all()
        assert connection.execute(text("SHOW transaction_isolation")).scalar_one() == "repeatable read"
    assert before == after == ["t1"]
