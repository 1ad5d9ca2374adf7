"""What the backup workflows share: driver, store, bus, clock, live settings, poller, records.

"Change, persist, announce" happens only here: ``save`` writes a snapshot record; ``emit`` marks an
event as sent *in the operation record* and writes the event itself into the core's event journal, in
the same transaction, then publishes it (with no ``await`` in between).  After a ``kill -9`` (or a
takeover) the journal delivers every event whose step was stored, and a resumed operation knows exactly
which of its events are still owed: each goes out once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from esc_netconf.core.backup.decide import Outcome, timed_out
from esc_netconf.core.backup.notify import snapshot_event
from esc_netconf.core.backup.polling import BatchPoller
from esc_netconf.core.backup.records import (EXPORT_PHASES, BackupOperation, OperationKind, SnapshotRecord,
                                             SnapshotStatus)
from esc_netconf.core.backup.store import SnapshotStore
from esc_netconf.core.events import EventBus, EventType
from esc_netconf.vim.base import VimDriver

__all__ = ["BackupContext", "Setting", "setting_key"]

Setting = Callable[[str], float]


def setting_key(operation: str, what: str) -> str:
    """``vim.asyncpoller.<operation>.<what>``, e.g. ``setting_key("snapshot.create", "poll.secs")``."""
    return f"vim.asyncpoller.{operation}.{what}"


class BackupContext:
    """Shared state of one ``SnapshotManager``; only the core's event loop touches it."""

    def __init__(self, driver: VimDriver, store: SnapshotStore, bus: EventBus, *, setting: Setting,
                 clock: Callable[[], datetime], vim_id: str, export_dir: Path) -> None:
        self.driver = driver
        self.store = store
        self.bus = bus
        self.setting = setting
        self.clock = clock
        self.vim_id = vim_id
        self.export_dir = export_dir
        self.poller = BatchPoller(driver)
        self.snapshots: dict[str, SnapshotRecord] = {}

    # ---- records ------------------------------------------------------------------------------

    def save(self, snapshot: SnapshotRecord) -> None:
        self.snapshots[snapshot.id] = snapshot
        self.store.save_snapshot(snapshot)

    def forget(self, snapshot_id: str) -> None:
        self.snapshots.pop(snapshot_id, None)
        self.store.delete_snapshot(snapshot_id)

    def save_op(self, op: BackupOperation) -> None:
        self.store.save_operation(op)

    def progress(self, snapshot: SnapshotRecord, op: BackupOperation) -> None:
        """Write a snapshot and its operation together (one transaction)."""
        self.snapshots[snapshot.id] = snapshot
        self.store.save_progress(snapshot, op)

    # ---- events -------------------------------------------------------------------------------

    def emit(self, op: BackupOperation, snapshot: SnapshotRecord, type_: EventType, message: str, *,
             ok: bool = True, final: bool = False, snapshot_changed: bool = False,
             parameters: Mapping[str, str | None] | None = None) -> None:
        """Publish ``type_`` unless this operation already sent it; record it first.

        The operation (with the event marked, and ``op.succeeded`` when ``final``), the snapshot when
        ``snapshot_changed`` and the event's journal row are written in one transaction: a step, its
        event mark and its event are durable together or not at all.
        """
        if type_.value in op.events_sent:
            if snapshot_changed:
                self.save(snapshot)
            return
        event, entry = self.bus.journal_entry(snapshot_event(
            snapshot, type_, message, ok=ok, time=self.clock(), transaction_id=op.transaction_id,
            parameters=parameters))
        op.events_sent.append(type_.value)
        if final:
            op.succeeded = ok
        if snapshot_changed:
            self.snapshots[snapshot.id] = snapshot
        self.store.save_progress(snapshot if snapshot_changed else None, op, () if entry is None else (entry,))
        self.bus.publish_committed(event)

    def fail_internally(self, op: BackupOperation, snapshot: SnapshotRecord, final_event: EventType,
                        message: str) -> None:
        """End ``op`` after an unexpected exception: its FAILURE ``final_event`` and a settled snapshot
        status, durable together (one ``emit`` with ``snapshot_changed``).

        Without the status change the snapshot would stay queued/saving/deleting for good: listings would
        show it in progress and volume creation would refuse it.  A create fails to ``error`` (or stays
        ``active`` when it broke while exporting: the image itself is complete, as ``create`` decides for a
        failed export); a delete fails to ``error_deleting``; a volume leaves its snapshot as it is.  If the
        final event was already sent, the outcome is settled and nothing changes.
        """
        if final_event.value in op.events_sent:
            return
        changed = op.kind is not OperationKind.CREATE_VOLUME
        if op.kind is OperationKind.CREATE:
            snapshot.status = SnapshotStatus.ACTIVE if op.phase in EXPORT_PHASES else SnapshotStatus.ERROR
            snapshot.creation_end_date = self.clock()
        elif op.kind is OperationKind.DELETE:
            snapshot.status = SnapshotStatus.ERROR_DELETING
        elif op.volume is not None:
            op.volume.status = "error"
        if changed:
            snapshot.status_message = message
        self.emit(op, snapshot, final_event, message, ok=False, final=True, snapshot_changed=changed)

    # ---- settings -----------------------------------------------------------------------------

    def period(self, operation: str) -> Callable[[], float]:
        """The live poll period of ``operation`` (``snapshot.create``, ``snapshot.export``, ``snapshot.delete``,
        ``volume.create``)."""
        key = setting_key(operation, "poll.secs")
        return lambda: self.setting(key)

    def deadline(self, op: BackupOperation, operation: str, what: str, *,
                 since: datetime | None = None) -> Callable[[], Outcome | None]:
        """A check that fails ``op`` once it has run longer than the live ``<operation>.timeout.mins``
        (counted from ``since``, by default from the start of the operation)."""
        key = setting_key(operation, "timeout.mins")
        start = since or op.started

        def expired() -> Outcome | None:
            elapsed = (self.clock() - start).total_seconds()
            return timed_out(elapsed, self.setting(key), what)

        return expired
