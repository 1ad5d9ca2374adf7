"""Group commit: batches, the order they leave the store in, and what waits for them (events, VIM calls)."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esc_netconf.core import events as events_module
from esc_netconf.core.events import EscEvent, EventBus, EventStatus, EventType
from esc_netconf.core.groupcommit import RECENT_RECORDS, GroupCommit, gated_driver
from esc_netconf.core.memory_store import MemoryStore
from esc_netconf.core.model import CoreState, OperationRecord, TenantRecord, VmRecord
from esc_netconf.core.pacing import Pacer
from esc_netconf.core.store import RecordKind, Write
from esc_netconf.store import Database, SqlCoreStore
from esc_netconf.vim.base import VimDriver

WHEN = datetime(2026, 12, 2, tzinfo=timezone.utc)


class CountingStore(MemoryStore):
    """A memory store that counts transactions and can be told to fail or to block the next one."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[Write]] = []
        self.fail: Exception | None = None
        self.gate: threading.Event | None = None

    def apply(self, writes: list[Write]) -> None:
        if self.gate is not None:
            self.gate.wait(5)
        if self.fail is not None:
            raise self.fail
        self.batches.append(writes)
        super().apply(writes)


def vm(vm_id: str, dep_id: str = "d1", state_note: str = "") -> VmRecord:
    record = VmRecord(vm_id, dep_id, "t1", "dep", "g", 0, f"dep_g_0_{vm_id}")
    if state_note:
        record.remember(WHEN, state_note)
    return record


def event(message: str) -> EscEvent:
    return EscEvent(EventType.VM_DEPLOYED, EventStatus.SUCCESS, 200, message, "dep", "t1", None, "d1", "g", None, WHEN)


async def settle(commit: GroupCommit) -> None:
    """Let the scheduled commit run on its thread and come back."""
    for _ in range(200):
        await asyncio.sleep(0.005)
        if not commit._pending and commit._inflight is None:
            return


async def test_the_writes_of_one_loop_turn_are_one_transaction() -> None:
    store = CountingStore()
    commit = GroupCommit(store)
    for i in range(50):
        commit.save_vm(vm(f"vm-{i}"))
    commit.save_tenant(TenantRecord("t1", "p1"))
    assert store.load() == CoreState()  # nothing is committed within the turn
    await settle(commit)
    assert len(store.batches) == 1 and len(store.batches[0]) == 51
    assert len(store.load().vms) == 50 and commit.durable_upto == commit.written


async def test_a_record_saved_twice_in_a_batch_is_written_once_as_last_saved() -> None:
    store = CountingStore()
    commit = GroupCommit(store)
    record = vm("vm-1")
    commit.save_vm(record)
    record.remember(WHEN, "deployed")
    commit.save_vm(record)
    record.remember(WHEN, "not saved")  # a change after the save does not leak into the batch
    await settle(commit)
    assert [len(b) for b in store.batches] == [1]
    assert [h.type for h in store.load().vms["vm-1"].history] == ["deployed"]


async def test_an_event_is_delivered_only_after_the_writes_before_it_are_durable() -> None:
    store = CountingStore()
    bus = EventBus()
    commit = GroupCommit(store, on_durable=bus.release)
    bus.gate(lambda: commit.written, lambda: commit.durable_upto)
    seen: list[tuple[str, bool]] = []
    bus.subscribe(lambda e: seen.append((e.status_message, "vm-1" in store.load().vms)))
    commit.save_vm(vm("vm-1"))
    bus.publish(event("first"))
    bus.publish(event("second"))
    assert seen == []
    await settle(commit)
    assert seen == [("first", True), ("second", True)]
    bus.publish(event("third"))  # nothing pending: at once
    assert seen[-1] == ("third", True)


async def test_held_events_reach_a_batch_subscriber_together_and_in_order() -> None:
    store = CountingStore()
    bus = EventBus()
    commit = GroupCommit(store, on_durable=bus.release)
    bus.gate(lambda: commit.written, lambda: commit.durable_upto)
    batches: list[list[str]] = []
    bus.subscribe_many(lambda events: batches.append([e.status_message for e in events]))
    commit.save_vm(vm("vm-1"))
    for i in range(5):
        bus.publish(event(f"e{i}"))
    await settle(commit)
    assert batches == [["e0", "e1", "e2", "e3", "e4"]]


async def test_held_events_go_out_one_slice_per_loop_turn_however_many_commits_end_in_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events_module, "RELEASE_SLICE", 0.002)
    clock = [0.0]
    monkeypatch.setattr(events_module, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    bus = EventBus()
    durable = [0]
    bus.gate(lambda: 1, lambda: durable[0])
    turns: list[int] = []

    def slow(event: EscEvent) -> None:  # each delivery costs a millisecond of the fake clock
        clock[0] += 0.001
        turns[-1] += 1

    bus.subscribe(slow)
    for i in range(10):
        bus.publish(event(f"e{i}"))
    durable[0] = 1
    turns.append(0)
    for _ in range(4):  # four commits end in this turn, each calling release
        bus.release()
    while sum(turns) < 10:
        turns.append(0)
        await asyncio.sleep(0)
    assert turns[0] == 3  # one slice (2 ms: the third delivery passes the deadline), not four
    assert all(count <= 3 for count in turns) and len([c for c in turns if c]) >= 4


async def test_a_vim_change_waits_for_the_intent_of_its_task_and_a_read_does_not() -> None:
    store = CountingStore()
    store.gate = threading.Event()  # the commit is slow
    commit = GroupCommit(store, pacer=Pacer())
    calls: list[tuple[str, bool]] = []

    class Driver:
        async def create_server(self, name: str) -> str:
            calls.append((name, name in store.load().vms))
            return name

        async def list_servers(self) -> list[str]:
            calls.append(("list", False))
            return []

    driver: Any = gated_driver(Driver(), commit)  # type: ignore[arg-type]

    async def build(vm_id: str) -> None:
        commit.save_vm(vm(vm_id))  # the intent
        await driver.create_server(vm_id)

    task = asyncio.ensure_future(build("vm-1"))
    await asyncio.sleep(0.02)
    await driver.list_servers()  # another task's read goes through at once
    assert calls == [("list", False)]
    store.gate.set()
    await task
    assert calls == [("list", False), ("vm-1", True)]


async def test_vim_answers_that_came_in_together_go_on_a_slice_per_loop_turn() -> None:
    commit = GroupCommit(CountingStore(), pacer=Pacer())
    answered = asyncio.Event()

    class Driver:
        async def list_servers(self) -> list[str]:
            await answered.wait()  # all answers arrive together, as after a busy loop turn
            return []

    driver: Any = gated_driver(Driver(), commit)  # type: ignore[arg-type]
    turn = 0
    went_on: list[int] = []

    async def read() -> None:
        await driver.list_servers()
        went_on.append(turn)

    reads = asyncio.gather(*(read() for _ in range(500)))
    await asyncio.sleep(0)
    answered.set()
    while not reads.done():
        turn += 1
        await asyncio.sleep(0)
    assert len(went_on) == 500 and max(went_on.count(t) for t in set(went_on)) < 500
    assert len(set(went_on)) > 3


async def test_a_failed_commit_keeps_the_writes_and_events_and_fails_the_waiting_task() -> None:
    store = CountingStore()
    bus = EventBus()
    commit = GroupCommit(store, on_durable=bus.release)
    bus.gate(lambda: commit.written, lambda: commit.durable_upto)
    seen: list[str] = []
    bus.subscribe(lambda e: seen.append(e.status_message))
    store.fail = OSError("disk full")
    commit.save_vm(vm("vm-1"))
    bus.publish(event("deployed"))
    with pytest.raises(OSError, match="disk full"):
        await asyncio.wait_for(commit.durable(), 5)
    assert seen == [] and store.load() == CoreState()
    store.fail = None
    commit.flush()  # (the retry would come a second later)
    assert seen == ["deployed"] and "vm-1" in store.load().vms


async def test_flush_commits_after_the_batch_already_on_its_way() -> None:
    store = CountingStore()
    store.gate = threading.Event()
    commit = GroupCommit(store)
    record = vm("vm-1")
    commit.save_vm(record)
    await asyncio.sleep(0.01)  # the first batch is on the writer thread, blocked
    record.remember(WHEN, "newer")
    commit.save_vm(record)
    threading.Timer(0.05, store.gate.set).start()
    commit.flush()
    assert [h.type for h in store.load().vms["vm-1"].history] == ["newer"]
    assert len(store.batches) == 2


async def test_a_core_started_again_in_the_same_task_does_not_wait_for_the_old_one() -> None:
    old = GroupCommit(CountingStore())
    old.save_vm(vm("vm-1"))  # this task's last write belongs to ``old``
    new = GroupCommit(CountingStore())
    await asyncio.wait_for(new.durable(), 1)
    old.close()
    new.close()


# ---- the order a batch leaves the store in ----------------------------------------------------

_KEYS = ["a", "b", "c"]
_DEPS = ["d1", "d2"]
_STEPS = st.lists(st.tuples(st.sampled_from(["save_vm", "delete_vm", "save_op", "finish_op", "delete_dep"]),
                            st.sampled_from(_KEYS), st.sampled_from(_DEPS), st.integers(0, 3)), max_size=25)


def _run(target: Any, steps: list[tuple[str, str, str, int]]) -> None:
    for kind, key, dep, note in steps:
        if kind == "save_vm":
            target.save_vm(vm(key, dep, f"note-{note}"))
        elif kind == "delete_vm":
            target.delete_vm(key)
        elif kind == "save_op":
            target.save_operation(OperationRecord(key, "DEPLOY", "t1", dep, None, {"n": str(note)}, WHEN))
        elif kind == "finish_op":
            target.finish_operation(key)
        else:
            target.delete_deployment(dep)


@pytest.fixture(scope="module")
def sql_store() -> Any:
    with Database.open(":memory:") as db:
        yield SqlCoreStore(db)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=_STEPS)
def test_one_batch_leaves_the_store_as_the_writes_one_by_one(sql_store: SqlCoreStore,
                                                             steps: list[tuple[str, str, str, int]]) -> None:
    sql_store.apply([Write(RecordKind.DEPLOYMENT, dep, None) for dep in _DEPS]
                    + [Write(kind, key, None) for key in _KEYS for kind in (RecordKind.VM, RecordKind.OPERATION)])
    one_by_one = MemoryStore()
    _run(one_by_one, steps)

    async def batched() -> None:
        commit = GroupCommit(sql_store)
        _run(commit, steps)  # all in one turn: one batch
        commit.close()

    asyncio.run(batched())
    assert sql_store.load() == one_by_one.load()


def test_without_a_loop_each_write_is_committed_at_once() -> None:
    store = CountingStore()
    commit = GroupCommit(store)
    commit.save_vm(vm("vm-1"))
    assert "vm-1" in store.load().vms
    commit.close()


def test_records_written_counts_tenants_deployments_and_vms_only() -> None:
    """Opdata's readers compare it across turns of the loop: the operations and the event journal, written
    while events are delivered, must not make them read again."""
    commit = GroupCommit(MemoryStore())
    commit.save_vm(vm("vm-1"))
    commit.save_tenant(TenantRecord("t1", "p1"))
    commit.save_operation(OperationRecord("op-1", "deploy", "t1", "d1"))
    commit.forget(["event-1"])
    assert (commit.records_written, commit.written) == (2, 4)
    assert commit.records_written_since(1) == {(RecordKind.TENANT, "t1")}
    assert commit.records_written_since(0) == {(RecordKind.TENANT, "t1"), (RecordKind.VM, "vm-1")}
    assert commit.records_written_since(-RECENT_RECORDS) is None  # more than it keeps: cannot tell
    commit.close()


def test_the_gated_driver_is_a_driver() -> None:
    typed: VimDriver = gated_driver(MemoryStore(), GroupCommit(MemoryStore()))  # type: ignore[arg-type]
    assert typed is not None
