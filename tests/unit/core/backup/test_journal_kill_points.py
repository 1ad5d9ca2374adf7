"""Snapshot events go through the core's event journal: whatever the moment of a ``kill -9`` (a snapshot
step, a core commit, the replay log's write, or during the redelivery after it), every snapshot event
whose step was stored reaches the replay log exactly once, and a resumed operation completes its sequence.

The kill is simulated as in ``tests/unit/core/test_core_event_journal.py``: every durable transaction
(the snapshot store's, the core's group commit, the replay log's) spends one unit of a budget; once it is
spent the process is dead and no later transaction happens.  The core writes its own records and events
meanwhile, so snapshot events and core events share the journal, the bus and the replay log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esc_netconf.core.backup import BackupOperation, OperationKind, SnapshotRecord
from esc_netconf.core.backup.context import BackupContext
from esc_netconf.core.events import EscEvent, EventBus, EventStatus, EventType, JournalEntry, event_from_journal
from esc_netconf.core.groupcommit import GroupCommit
from esc_netconf.store import Database, SqlCoreStore, SqlReplayLog
from esc_netconf.store.snapshot_store import SqlSnapshotStore
from tests.unit.core.test_core_event_journal import Killed, MortalCoreStore, MortalReplayLog, Switch, vm

WHEN = datetime(2026, 12, 2, tzinfo=timezone.utc)

#: The events of each kind of operation, in order; the last is final.
STEPS = {
    OperationKind.CREATE: (EventType.VM_BACKUP_INIT, EventType.VM_BACKUP_CREATED, EventType.VM_BACKUP_COMPLETE),
    OperationKind.DELETE: (EventType.VM_SNAPSHOT_DELETING, EventType.VM_SNAPSHOT_DELETED),
}


class MortalSnapshotStore(SqlSnapshotStore):
    """The snapshot store of a process that may die: each write is one transaction of the budget."""

    def __init__(self, database: Database, switch: Switch) -> None:
        super().__init__(database)
        self._switch = switch

    def save_progress(self, snapshot: SnapshotRecord | None, operation: BackupOperation,
                      events: Sequence[JournalEntry] = ()) -> None:
        self._switch.spend()
        super().save_progress(snapshot, operation, events)

    def save_operation(self, operation: BackupOperation) -> None:
        self._switch.spend()
        super().save_operation(operation)

    def finish_operation(self, op_id: str) -> None:
        self._switch.spend()
        super().finish_operation(op_id)


def snapshot(n: int) -> SnapshotRecord:
    return SnapshotRecord(f"s{n}", f"snap-{n}", "t1", "dep_g_0_x", "vm-1", "srv-1", "dep", "d1", "g", "vim",
                          creation_start_date=WHEN + timedelta(milliseconds=n))


def core_event(n: int) -> EscEvent:
    return EscEvent(EventType.VM_DEPLOYED, EventStatus.SUCCESS, 200, f"core-{n}", "dep", "t1", None, "d1", "g", None,
                    WHEN + timedelta(milliseconds=n))


def label(event: EscEvent) -> str:
    """What the replay log keeps of an event: the operation (its transaction id) and the event type."""
    return f"{event.transaction_id or event.status_message}|{event.event_type.value}"


async def _step(ctx: BackupContext, op: BackupOperation, record: SnapshotRecord) -> bool:
    """Send the operation's next owed event (the resumed workflow's way: ``emit`` skips what was sent);
    end it after the final one.  ``False`` once it is over."""
    steps = STEPS[op.kind]
    owed = [t for t in steps if t.value not in op.events_sent]
    if not owed:
        ctx.store.finish_operation(op.op_id)
        return False
    ctx.emit(op, record, owed[0], f"{owed[0].value} of {record.id}", final=owed[0] is steps[-1],
             snapshot_changed=True)
    return True


async def _life(database: Database, switch: Switch, script: list[tuple[int, int, int]], tmp: Path,
                journaled: list[str], counter: list[int]) -> None:
    """One process: redeliver the journal, resume the stored operations, then start the operations of
    ``script`` (per loop turn: new snapshot operations, core writes, core events), each operation sending
    one event per turn, until all is done or the process is killed."""
    bus = EventBus()
    commit = GroupCommit(MortalCoreStore(database, switch, journaled), on_durable=bus.release)
    bus.gate(lambda: commit.written, lambda: commit.durable_upto, journal=commit)
    log = MortalReplayLog(database, switch)
    bus.subscribe_many(lambda events: log.append_many(
        "escEvent", [(e.event_time, label(e).encode()) for e in events], [e.event_id for e in events]))
    store = MortalSnapshotStore(database, switch)
    ctx = BackupContext(None, store, bus, setting=lambda key: 1.0, clock=lambda: WHEN,  # type: ignore[arg-type]
                        vim_id="vim", export_dir=tmp)
    records = {s.id: s for s in store.load_snapshots()}
    running = [(op, records[op.snapshot_id]) for op in store.load_operations()]
    try:
        bus.redeliver([event_from_journal(data) for _, data in commit.pending_events()])
        turns = list(script)
        while (turns or running) and not switch.dead:
            operations, writes, events = turns.pop(0) if turns else (0, 0, 0)
            for _ in range(operations):
                counter[0] += 1
                n = counter[0]
                kind = OperationKind.CREATE if n % 2 else OperationKind.DELETE
                running.append((BackupOperation(f"op{n}", kind, f"s{n}", WHEN, transaction_id=f"op{n}"),
                                snapshot(n)))
            for _ in range(writes):
                counter[0] += 1
                commit.save_vm(vm(f"vm-{counter[0]}"))
            for _ in range(events):
                counter[0] += 1
                bus.publish(core_event(counter[0]))
            running = [(op, record) for op, record in running if await _step(ctx, op, record)]
            await asyncio.sleep(0)
        for _ in range(400):
            await asyncio.sleep(0.002)
            if switch.dead or (not commit._pending and commit._inflight is None):
                break
    except Killed:
        assert switch.dead, "only the simulated kill -9 ends a life early"
    finally:
        commit._writer.shutdown(wait=True)


turns = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=6)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=turns, first_kill=st.integers(0, 16), second_kill=st.one_of(st.none(), st.integers(0, 6)))
def test_any_kill_point_leaves_each_snapshot_event_once_and_every_begun_operation_complete(
        tmp_path_factory: pytest.TempPathFactory, script: list[tuple[int, int, int]], first_kill: int,
        second_kill: int | None) -> None:
    tmp = tmp_path_factory.mktemp("snapshot-journal")
    database = Database.open(tmp / "esc.db")
    try:
        journaled: list[str] = []
        counter = [0]
        asyncio.run(_life(database, Switch(first_kill), script, tmp, journaled, counter))
        asyncio.run(_life(database, Switch(second_kill), [], tmp, journaled, counter))  # may die again
        asyncio.run(_life(database, Switch(None), [], tmp, journaled, counter))
        stored = [xml.decode() for _seq, _t, xml in sorted(SqlReplayLog(database).read_with_seq("escEvent", WHEN,
                                                                                                   None))]
        assert len(stored) == len(set(stored)), "an event was stored twice"
        by_operation: dict[str, list[str]] = {}
        for entry in stored:
            owner, type_ = entry.split("|")
            by_operation.setdefault(owner, []).append(type_)
        for owner, types in by_operation.items():
            if owner.startswith("op"):  # begun (its first step was stored): all its events, in order, once
                kind = OperationKind.CREATE if int(owner[2:]) % 2 else OperationKind.DELETE
                assert types == [t.value for t in STEPS[kind]], (owner, types)
        assert SqlSnapshotStore(database).load_operations() == [], "every begun operation ended"
        assert SqlCoreStore(database).pending_events() == []
        # the core's own events: each one whose journal row committed, once
        assert len([e for e in stored if e.startswith("core-")]) == len(journaled)
    finally:
        database.close()


def test_an_operation_whose_first_step_was_stored_reaches_the_log_even_if_killed_right_after(
        tmp_path: Path) -> None:
    """The window of the old bug: the step and its event mark committed, the process dies before anything
    else (no core commit, no replay write).  The next process delivers the event from the journal."""
    database = Database.open(tmp_path / "esc.db")
    try:
        journaled: list[str] = []  # transactions: the journal's read at start-up, then the first step
        asyncio.run(_life(database, Switch(2), [(1, 0, 0)], tmp_path, journaled, [0]))
        (op,) = SqlSnapshotStore(database).load_operations()
        assert op.events_sent == ["VM_BACKUP_INIT"]
        assert [data["event_type"] for _, data in SqlCoreStore(database).pending_events()] == ["VM_BACKUP_INIT"]
        asyncio.run(_life(database, Switch(None), [], tmp_path, journaled, [1]))
        stored = [xml.decode() for _seq, _t, xml in SqlReplayLog(database).read_with_seq("escEvent", WHEN, None)]
        assert stored == ["op1|VM_BACKUP_INIT", "op1|VM_BACKUP_CREATED", "op1|VM_BACKUP_COMPLETE"]
    finally:
        database.close()
