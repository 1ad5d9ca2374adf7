"""An in-memory ``SnapshotStore``, for tests and runs that keep nothing on disk.

Records are kept as their ``to_dict()`` form, as a database keeps them, so changing a record after saving
it changes nothing stored and a "restart" on the same store sees exactly what was saved.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from esc_netconf.core.backup.records import BackupOperation, SnapshotRecord
from esc_netconf.core.events import JournalEntry
from esc_netconf.core.store import RecordKind, Store, Write

__all__ = ["MemorySnapshotStore"]


def _stamp(instant: datetime | None) -> float:
    return instant.timestamp() if instant is not None else 0.0


class MemorySnapshotStore:
    """``SnapshotStore`` in two dicts; loads are oldest first, as the SQL store's.

    ``journal``: the core's store whose event journal receives the events of ``save_progress`` (as the SQL
    store writes them to the shared database); without it they are not kept.
    """

    def __init__(self, journal: Store | None = None) -> None:
        self._snapshots: dict[str, dict[str, Any]] = {}
        self._operations: dict[str, dict[str, Any]] = {}
        self._journal = journal

    def load_snapshots(self) -> list[SnapshotRecord]:
        records = [SnapshotRecord.from_dict(v) for v in self._snapshots.values()]
        return sorted(records, key=lambda s: (_stamp(s.creation_start_date), s.id))

    def save_snapshot(self, snapshot: SnapshotRecord) -> None:
        self._snapshots[snapshot.id] = snapshot.to_dict()

    def delete_snapshot(self, snapshot_id: str) -> None:
        self._snapshots.pop(snapshot_id, None)

    def load_operations(self) -> list[BackupOperation]:
        records = [BackupOperation.from_dict(v) for v in self._operations.values()]
        return sorted(records, key=lambda o: (_stamp(o.started), o.op_id))

    def save_operation(self, operation: BackupOperation) -> None:
        self._operations[operation.op_id] = operation.to_dict()

    def save_progress(self, snapshot: SnapshotRecord | None, operation: BackupOperation,
                      events: Sequence[JournalEntry] = ()) -> None:
        if snapshot is not None:
            self.save_snapshot(snapshot)
        self.save_operation(operation)
        if events and self._journal is not None:
            self._journal.apply([Write(RecordKind.EVENT, event_id, data) for event_id, data in events])

    def finish_operation(self, op_id: str) -> None:
        self._operations.pop(op_id, None)
