"""The event journal: an event is committed with the writes it follows and reaches the replay log exactly
once, whatever the moment of a kill -9 (before, during or after its delivery, or during the redelivery)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esc_netconf.core.events import EscEvent, EventBus, EventStatus, EventType, event_from_journal
from esc_netconf.core.groupcommit import GroupCommit
from esc_netconf.core.memory_store import MemoryStore
from esc_netconf.core.model import VmRecord
from esc_netconf.core.serial import to_plain
from esc_netconf.core.store import RecordKind, Write
from esc_netconf.store import Database, SqlCoreStore, SqlReplayLog, StoreClosedError

from .conftest import Harness, group, spec

WHEN = datetime(2026, 12, 2, tzinfo=timezone.utc)


class Killed(Exception):
    """The process died: this transaction and every later one never happen."""


class Switch:
    """Counts durable transactions; after ``budget`` of them, the process is dead."""

    def __init__(self, budget: int | None) -> None:
        self.budget = budget
        self.dead = False

    def spend(self) -> None:
        if self.dead or (self.budget is not None and self.budget <= 0):
            self.dead = True
            raise Killed()
        if self.budget is not None:
            self.budget -= 1


class MortalCoreStore(SqlCoreStore):
    """The core's store of a process that may die; remembers the events whose journal row committed."""

    def __init__(self, database: Database, switch: Switch, journaled: list[str]) -> None:
        super().__init__(database)
        self._switch = switch
        self._journaled = journaled

    def apply(self, writes: list[Write]) -> None:
        self._switch.spend()
        super().apply(writes)
        self._journaled.extend(w.key for w in writes if w.kind is RecordKind.EVENT and w.data is not None)


class MortalReplayLog(SqlReplayLog):
    def __init__(self, database: Database, switch: Switch) -> None:
        super().__init__(database)
        self._switch = switch

    def append_many(self, stream: str, events: Sequence[tuple[datetime, bytes]],
                    event_ids: Sequence[str | None] | None = None) -> None:
        self._switch.spend()
        super().append_many(stream, events, event_ids)


def vm(vm_id: str) -> VmRecord:
    return VmRecord(vm_id, "d1", "t1", "dep", "g", 0, f"dep_g_0_{vm_id}")


def event(n: int) -> EscEvent:
    return EscEvent(EventType.VM_DEPLOYED, EventStatus.SUCCESS, 200, f"e{n}", "dep", "t1", None, "d1", "g", None,
                    WHEN + timedelta(milliseconds=n))


async def _quiet(commit: GroupCommit, switch: Switch) -> None:
    for _ in range(400):
        await asyncio.sleep(0.002)
        if switch.dead or (not commit._pending and commit._inflight is None):
            return


async def _life(database: Database, switch: Switch, script: list[tuple[int, int]], redeliver: bool,
                journaled: list[str], counter: list[int]) -> None:
    """One process: deliver what the journal holds (if ``redeliver``), then run ``script`` (per loop turn: VM
    writes, events), until done or killed."""
    bus = EventBus()
    commit = GroupCommit(MortalCoreStore(database, switch, journaled), on_durable=bus.release)
    bus.gate(lambda: commit.written, lambda: commit.durable_upto, journal=commit)
    log = MortalReplayLog(database, switch)
    bus.subscribe_many(lambda events: log.append_many(
        "escEvent", [(e.event_time, e.status_message.encode()) for e in events], [e.event_id for e in events]))
    try:
        if redeliver:
            bus.redeliver([event_from_journal(data) for _, data in commit.pending_events()])
        for writes, events in script:
            if switch.dead:
                break
            for _ in range(writes):
                counter[0] += 1
                commit.save_vm(vm(f"vm-{counter[0]}"))
            for _ in range(events):
                counter[0] += 1
                bus.publish(event(counter[0]))
            await asyncio.sleep(0)
        await _quiet(commit, switch)
    except Killed:
        assert switch.dead, "only the simulated kill -9 ends a life early"
    finally:
        commit._writer.shutdown(wait=True)


turns = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4)), min_size=1, max_size=8)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=turns, first_kill=st.integers(0, 12), second_kill=st.one_of(st.none(), st.integers(0, 6)))
def test_any_kill_point_leaves_each_committed_event_once_in_the_replay_log(
        tmp_path_factory: pytest.TempPathFactory, script: list[tuple[int, int]], first_kill: int,
        second_kill: int | None) -> None:
    database = Database.open(tmp_path_factory.mktemp("journal") / "esc.db")
    try:
        journaled: list[str] = []
        counter = [0]
        asyncio.run(_life(database, Switch(first_kill), script, False, journaled, counter))
        asyncio.run(_life(database, Switch(second_kill), [], True, journaled, counter))  # may die again
        asyncio.run(_life(database, Switch(None), [], True, journaled, counter))
        stored = list(SqlReplayLog(database).read_with_seq("escEvent", WHEN, None))
        # every event whose journal row committed is stored, once, in publication order; none other
        by_seq = [xml.decode() for _seq, _t, xml in sorted(stored)]
        assert len(by_seq) == len(set(by_seq))
        assert len(by_seq) == len(journaled)
        assert by_seq == sorted(by_seq, key=lambda m: int(m[1:]))
        assert SqlCoreStore(database).pending_events() == []
    finally:
        database.close()


async def test_an_event_is_journaled_in_the_transaction_of_the_writes_before_it() -> None:
    store = MemoryStore()
    batches: list[list[Write]] = []
    apply = store.apply

    def counting(writes: list[Write]) -> None:
        batches.append(writes)
        apply(writes)

    store.apply = counting  # type: ignore[method-assign]
    bus = EventBus()
    commit = GroupCommit(store, on_durable=bus.release)
    bus.gate(lambda: commit.written, lambda: commit.durable_upto, journal=commit)
    seen: list[EscEvent] = []
    bus.subscribe(seen.append)
    commit.save_vm(vm("vm-1"))
    bus.publish(event(1))
    assert seen == []
    for _ in range(200):
        await asyncio.sleep(0.005)
        if len(batches) >= 2 and not commit._pending and commit._inflight is None:
            break
    first, forget = batches[0], batches[1]
    assert [(w.kind, w.data is None) for w in first] == [(RecordKind.VM, False), (RecordKind.EVENT, False)]
    assert [(w.kind, w.data is None) for w in forget] == [(RecordKind.EVENT, True)]
    assert seen[0].event_id == first[1].key and store.pending_events() == []


def test_a_journal_row_gives_back_the_event_as_published() -> None:
    original = EscEvent(EventType.VM_RECOVERY_COMPLETE, EventStatus.FAILURE, 500, "m", "dep", "t1", "tid", "d1", "g",
                        None, WHEN, transaction_id="x", parameters={"a": "b", "c": None}, event_id="abc")
    assert event_from_journal(to_plain(original)) == original


async def test_redelivered_events_go_before_new_ones_and_a_failing_subscriber_keeps_them() -> None:
    store = MemoryStore()
    store.apply([Write(RecordKind.EVENT, f"old{i}", to_plain(event(i)) | {"event_id": f"old{i}"}) for i in (1, 2)])
    bus = EventBus()
    commit = GroupCommit(store, on_durable=bus.release)
    bus.gate(lambda: commit.written, lambda: commit.durable_upto, journal=commit)
    seen: list[str] = []
    broken = [True]

    def many(events: list[EscEvent]) -> None:
        if broken[0]:
            raise OSError("database is locked")
        seen.extend(e.status_message for e in events)

    bus.subscribe_many(many)
    bus.redeliver([event_from_journal(data) for _, data in commit.pending_events()])
    commit.flush()
    assert [key for key, _ in store.pending_events()] == ["old1", "old2"]  # kept for the next start
    broken[0] = False
    bus.redeliver([event_from_journal(data) for _, data in commit.pending_events()])
    bus.publish(event(3))
    commit.flush()
    for _ in range(100):
        await asyncio.sleep(0.005)
        if not commit._pending and commit._inflight is None:
            break
    assert seen == ["e1", "e2", "e3"] and store.pending_events() == []


async def test_a_stop_mid_burst_delivers_what_it_committed_and_nothing_after_it_returns(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The core stops while a burst of events is held and being released: whatever the stop committed is
    delivered before it returns, nothing reaches a subscriber afterwards (its store is closed then), nothing
    is logged as failed, and every event is delivered or still journaled for the next start, none twice."""
    harness = Harness(tmp_path / "sim")
    closed = [False]
    delivered: list[str] = []

    def replay_log(events: list[EscEvent]) -> None:
        if closed[0]:
            raise StoreClosedError("the database is closed")
        delivered.extend(e.event_id or "" for e in events)

    harness.core._ctx.bus.subscribe_many(replay_log)  # noqa: SLF001 (the replay log's place on the bus)
    await harness.core.start()
    for n in range(12):
        harness.core.apply_update("t1", None, spec(group("g", 4, 4), name=f"dep{n}"))
    await harness.wait_for(lambda: sum(e.event_type is EventType.VM_ALIVE for e in harness.events) >= 3)
    for n in range(100):  # a burst larger than a release slice, held until its commit when the stop begins
        harness.core._ctx.tenant_event(f"t{n}", None, EventType.CREATE_TENANT, "burst")  # noqa: SLF001
    await harness.core.stop()
    closed[0] = True
    await asyncio.sleep(0.2)  # a release slice or a commit callback left behind would run now
    await harness.sim.close()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    journaled = [key for key, _ in harness.store.pending_events()]
    assert len(delivered) == len(set(delivered)) and not set(delivered) & set(journaled)
    assert set(delivered) == {e.event_id for e in harness.events}, "per-event and batch subscribers saw the same"
