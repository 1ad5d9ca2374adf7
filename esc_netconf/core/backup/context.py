"""What the backup workflows share: driver, store, bus, clock, live settings, poller, records.

"Change, persist, announce" happens only here: ``save`` writes a snapshot record, ``emit`` marks an
event as sent *in the operation record* and then publishes it with no ``await`` in between, so after a
``kill -9`` a resumed operation knows exactly which of its events are still owed (each goes out once).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from esc_netconf.core.backup.decide import Outcome, timed_out
from esc_netconf.core.backup.notify import snapshot_event
from esc_netconf.core.backup.polling import BatchPoller
from esc_netconf.core.backup.records import BackupOperation, SnapshotRecord
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

        The operation (with the event marked, and ``op.succeeded`` when ``final``) is written in one
        transaction together with the snapshot when ``snapshot_changed``: a step, its record and its
        event mark are durable together or not at all.
        """
        if type_.value in op.events_sent:
            if snapshot_changed:
                self.save(snapshot)
            return
        op.events_sent.append(type_.value)
        if final:
            op.succeeded = ok
        if snapshot_changed:
            self.snapshots[snapshot.id] = snapshot
            self.store.save_progress(snapshot, op)
        else:
            self.store.save_operation(op)
        self.bus.publish(snapshot_event(snapshot, type_, message, ok=ok, time=self.clock(),
                                        transaction_id=op.transaction_id, parameters=parameters))

    # ---- settings -----------------------------------------------------------------------------

    def period(self, operation: str) -> Callable[[], float]:
        """The live poll period of ``operation`` (``snapshot.create``, ``snapshot.delete``, ``volume.create``)."""
        key = setting_key(operation, "poll.secs")
        return lambda: self.setting(key)

    def deadline(self, op: BackupOperation, operation: str, what: str) -> Callable[[], Outcome | None]:
        """A check that fails ``op`` once it has run longer than the live ``<operation>.timeout.mins``."""
        key = setting_key(operation, "timeout.mins")

        def expired() -> Outcome | None:
            elapsed = (self.clock() - op.started).total_seconds()
            return timed_out(elapsed, self.setting(key), what)

        return expired
