"""``BackupContext.emit``: an event is marked in the operation before it is published, and only once."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from esc_netconf.core.backup import BackupOperation, MemorySnapshotStore, OperationKind, SnapshotRecord
from esc_netconf.core.backup.context import BackupContext
from esc_netconf.core.events import EscEvent, EventBus, EventType

T = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_emit_marks_then_publishes_once(tmp_path: Path) -> None:
    store = MemorySnapshotStore()
    bus = EventBus()
    stored_when_published: list[list[str]] = []
    events: list[EscEvent] = []

    def subscriber(event: EscEvent) -> None:
        events.append(event)
        stored_when_published.append(store.load_operations()[0].events_sent)

    bus.subscribe(subscriber)
    ctx = BackupContext(None, store, bus, setting=lambda key: 1.0, clock=lambda: T,  # type: ignore[arg-type]
                        vim_id="vim", export_dir=tmp_path)
    snapshot = SnapshotRecord("s", "n", "t", "vm", "vm-id", "srv", "dep", "dep-id", "g", "vim", tenant_id="p")
    op = BackupOperation("o", OperationKind.CREATE, "s", T, transaction_id="tx")
    ctx.emit(op, snapshot, EventType.VM_BACKUP_INIT, "validated", snapshot_changed=True)
    ctx.emit(op, snapshot, EventType.VM_BACKUP_INIT, "validated again", snapshot_changed=True)
    ctx.emit(op, snapshot, EventType.VM_BACKUP_COMPLETE, "boom", ok=False, final=True)
    assert [(e.event_type, e.status_code, e.status_message) for e in events] == [
        (EventType.VM_BACKUP_INIT, 200, "validated"), (EventType.VM_BACKUP_COMPLETE, 500, "boom")]
    assert stored_when_published == [["VM_BACKUP_INIT"], ["VM_BACKUP_INIT", "VM_BACKUP_COMPLETE"]]
    assert store.load_snapshots() == [snapshot] and store.load_operations()[0].succeeded is False
    assert events[0].event_time == T and events[0].transaction_id == "tx" and events[0].tenant_id == "p"
