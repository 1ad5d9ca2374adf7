"""The persistence the backup subsystem needs (implemented with SQLAlchemy in ``esc_netconf.store``).

Same discipline as ``core.store.Store``: every method is synchronous and durable when it returns, so the
manager can write an intent before calling the VIM and the VIM's ids right after it answers.  Records are
kept as key columns plus ``to_dict()`` and rebuilt with ``from_dict``; saving is an upsert by id and
deleting something absent is not an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from esc_netconf.core.backup.records import BackupOperation, SnapshotRecord
from esc_netconf.core.events import JournalEntry

__all__ = ["SnapshotStore"]


class SnapshotStore(Protocol):
    """Durable storage of snapshots and of the operations in flight on them."""

    def load_snapshots(self) -> list[SnapshotRecord]:
        """Every snapshot saved and not deleted, as fresh objects, oldest first."""
        ...

    def save_snapshot(self, snapshot: SnapshotRecord) -> None:
        """Insert or replace the snapshot ``snapshot.id``."""
        ...

    def delete_snapshot(self, snapshot_id: str) -> None:
        """Forget a snapshot."""
        ...

    def load_operations(self) -> list[BackupOperation]:
        """Every operation still in flight, as fresh objects, oldest first."""
        ...

    def save_operation(self, operation: BackupOperation) -> None:
        """Insert or replace the operation ``operation.op_id``."""
        ...

    def save_progress(self, snapshot: SnapshotRecord | None, operation: BackupOperation,
                      events: Sequence[JournalEntry] = ()) -> None:
        """``save_snapshot`` (unless ``None``), ``save_operation`` and the ``events`` into the core's event
        journal, in one transaction: a step, its event mark and its event are durable together."""
        ...

    def finish_operation(self, op_id: str) -> None:
        """The operation ended (its last event is sent): forget it."""
        ...
