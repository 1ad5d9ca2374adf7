"""An in-memory ``SnapshotStore``, for tests and runs that keep nothing on disk.

Records are kept as their ``to_dict()`` form, as a database keeps them, so changing a record after saving
it changes nothing stored and a "restart" on the same store sees exactly what was saved.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from esc_netconf.core.backup.records import BackupOperation, SnapshotRecord

__all__ = ["MemorySnapshotStore"]


def _stamp(instant: datetime | None) -> float:
    return instant.timestamp() if instant is not None else 0.0


class MemorySnapshotStore:
    """``SnapshotStore`` in two dicts; loads are oldest first, as the SQL store's."""

    def __init__(self) -> None:
        self._snapshots: dict[str, dict[str, Any]] = {}
        self._operations: dict[str, dict[str, Any]] = {}

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

    def save_progress(self, snapshot: SnapshotRecord, operation: BackupOperation) -> None:
        self.save_snapshot(snapshot)
        self.save_operation(operation)

    def finish_operation(self, op_id: str) -> None:
        self._operations.pop(op_id, None)
