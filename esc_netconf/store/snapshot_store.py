"""The backup subsystem's records in SQL: implements ``esc_netconf.core.backup.SnapshotStore``.

Same discipline as :mod:`.core_store`: one row per record (key columns read from ``to_dict()`` plus that
dict in a JSON column), every method one ``BEGIN IMMEDIATE`` transaction committed with
``synchronous=FULL``, so a snapshot's intent and each VIM id the manager records survive ``kill -9``.
Loads are oldest first (``created_us``: the snapshot's creation start, the operation's start).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select

from esc_netconf.core.backup import BackupOperation, SnapshotRecord
from esc_netconf.core.events import JournalEntry
from esc_netconf.store.database import Database
from esc_netconf.store.schema import RecordData, backup_operations, backup_snapshots, core_event_journal
from esc_netconf.store.upsert import upsert
from esc_netconf.store.utc import to_micros

__all__ = ["SqlSnapshotStore"]

ON_LOOP = ("left on the loop: the snapshot manager (core.backup) records each step synchronously, before it "
           "publishes the step's event; a few writes per snapshot operation, none on the edit or deploy path")
"""Why these writes may run on the event loop's thread (``Database.write(on_loop=...)``): a known cost, not
yet moved to a writer thread, which would need the snapshot manager to await its store."""


def _micros(iso: str | None) -> int:
    return to_micros(datetime.fromisoformat(iso)) if iso else 0


class SqlSnapshotStore:
    """``SnapshotStore`` on a :class:`Database` (tables ``backup_*``, revision ``0003_snapshots``)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def load_snapshots(self) -> list[SnapshotRecord]:
        query = select(backup_snapshots.c.data).order_by(backup_snapshots.c.created_us, backup_snapshots.c.id)
        with self._database.read() as connection:
            rows: Sequence[RecordData] = connection.execute(query).scalars().all()
        return [SnapshotRecord.from_dict(data) for data in rows]

    def save_snapshot(self, snapshot: SnapshotRecord) -> None:
        with self._database.write(on_loop=ON_LOOP) as connection:
            upsert(connection, backup_snapshots, "id", _snapshot_row(snapshot))

    def save_progress(self, snapshot: SnapshotRecord | None, operation: BackupOperation,
                      events: Sequence[JournalEntry] = ()) -> None:
        """The records and the events (rows of the core's ``core_event_journal``) in one transaction."""
        with self._database.write(on_loop=ON_LOOP) as connection:
            if snapshot is not None:
                upsert(connection, backup_snapshots, "id", _snapshot_row(snapshot))
            upsert(connection, backup_operations, "op_id", _operation_row(operation))
            if events:
                connection.execute(insert(core_event_journal),
                                   [{"event_id": event_id, "data": data} for event_id, data in events])

    def delete_snapshot(self, snapshot_id: str) -> None:
        with self._database.write(on_loop=ON_LOOP) as connection:
            connection.execute(delete(backup_snapshots).where(backup_snapshots.c.id == snapshot_id))

    def load_operations(self) -> list[BackupOperation]:
        query = select(backup_operations.c.data).order_by(backup_operations.c.created_us, backup_operations.c.op_id)
        with self._database.read() as connection:
            rows: Sequence[RecordData] = connection.execute(query).scalars().all()
        return [BackupOperation.from_dict(data) for data in rows]

    def save_operation(self, operation: BackupOperation) -> None:
        with self._database.write(on_loop=ON_LOOP) as connection:
            upsert(connection, backup_operations, "op_id", _operation_row(operation))

    def finish_operation(self, op_id: str) -> None:
        with self._database.write(on_loop=ON_LOOP) as connection:
            connection.execute(delete(backup_operations).where(backup_operations.c.op_id == op_id))

    # --- lookups by the indexed columns (for tools) ---------------------------------------------------

    def snapshots_of(self, tenant: str | None = None, generated_vm_name: str | None = None) -> list[SnapshotRecord]:
        """The stored snapshots of one tenant and/or VM, oldest first."""
        query = select(backup_snapshots.c.data)
        if tenant is not None:
            query = query.where(backup_snapshots.c.tenant == tenant)
        if generated_vm_name is not None:
            query = query.where(backup_snapshots.c.generated_vm_name == generated_vm_name)
        query = query.order_by(backup_snapshots.c.created_us, backup_snapshots.c.id)
        with self._database.read() as connection:
            rows: Sequence[RecordData] = connection.execute(query).scalars().all()
        return [SnapshotRecord.from_dict(data) for data in rows]


def _snapshot_row(snapshot: SnapshotRecord) -> dict[str, Any]:
    data = snapshot.to_dict()
    return {
        "id": data["id"],
        "tenant": data["tenant"],
        "generated_vm_name": data["generated_vm_name"],
        "name": data["name"],
        "status": str(data["status"]),
        "created_us": _micros(data.get("creation_start_date")),
        "data": data,
    }


def _operation_row(operation: BackupOperation) -> dict[str, Any]:
    data = operation.to_dict()
    return {
        "op_id": data["op_id"],
        "snapshot_id": data["snapshot_id"],
        "kind": str(data["kind"]),
        "created_us": _micros(data.get("started")),
        "data": data,
    }
