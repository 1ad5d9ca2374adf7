"""Pruning a long replay log: exactly the newest events stay, in short transactions other writers can
get between; and the application's retention loop survives a failed prune."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import event, insert, select

import esc_netconf.store.replay_log as replay_log_module
from esc_netconf.app import Application
from esc_netconf.store import Database, SqlReplayLog, StoreError, StoreValueError
from esc_netconf.store.schema import replay_events

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
BACKLOG = 25_000
KEEP = 700


def bulk_fill(database: Database, stream: str, count: int) -> None:
    """``count`` events in one transaction (appending one by one would take an fsync each)."""
    t0_us = int(T0.timestamp() * 1_000_000)
    rows = [{"stream": stream, "event_time_us": t0_us + i, "xml": b"<e/>"} for i in range(count)]
    with database.write() as connection:
        connection.execute(insert(replay_events), rows)


def seqs(database: Database, stream: str) -> list[int]:
    with database.read() as connection:
        return [int(s) for s in connection.execute(
            select(replay_events.c.seq).where(replay_events.c.stream == stream).order_by(replay_events.c.seq)
        ).scalars()]


@pytest.fixture
def deletes_per_transaction(database: Database) -> Iterator[list[int]]:
    """Rows deleted by each committed transaction on ``database`` (one entry per commit)."""
    counts: list[int] = []
    pending = [0]

    def after_execute(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE"):
            pending[0] += cursor.rowcount

    def on_commit(_conn: Any) -> None:
        counts.append(pending[0])
        pending[0] = 0

    event.listen(database.engine, "after_cursor_execute", after_execute)
    event.listen(database.engine, "commit", on_commit)
    try:
        yield counts
    finally:
        event.remove(database.engine, "after_cursor_execute", after_execute)
        event.remove(database.engine, "commit", on_commit)


def test_a_long_backlog_is_pruned_to_exactly_the_newest_in_short_transactions(
        database: Database, deletes_per_transaction: list[int]) -> None:
    bulk_fill(database, "escEvent", BACKLOG)
    bulk_fill(database, "NETCONF", 30)
    newest = seqs(database, "escEvent")[-KEEP:]
    deletes_per_transaction.clear()
    SqlReplayLog(database, prune_pause=0.0).prune(KEEP)
    assert seqs(database, "escEvent") == newest
    assert len(seqs(database, "NETCONF")) == 30
    assert sum(deletes_per_transaction) == BACKLOG - KEEP
    assert max(deletes_per_transaction) <= replay_log_module.PRUNE_BATCH_SIZE
    assert len(deletes_per_transaction) >= (BACKLOG - KEEP) // replay_log_module.PRUNE_BATCH_SIZE


def test_the_batch_size_is_respected_and_zero_empties_the_log(
        database: Database, deletes_per_transaction: list[int]) -> None:
    bulk_fill(database, "a", 250)
    bulk_fill(database, "b", 99)
    deletes_per_transaction.clear()
    SqlReplayLog(database, prune_batch_size=100, prune_pause=0.0).prune(0)
    assert seqs(database, "a") == [] and seqs(database, "b") == []
    assert sorted(n for n in deletes_per_transaction if n) == [50, 99, 100, 100]


def test_a_writer_gets_the_lock_between_batches_and_its_events_are_kept(
        database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    bulk_fill(database, "escEvent", 5_000)
    log = SqlReplayLog(database, prune_batch_size=500)
    appended: list[int] = []

    def writer_turn(_seconds: float) -> None:  # the pause between batches: no transaction is open
        appended.append(log.append("escEvent", T0 + timedelta(hours=1), b"<late/>"))

    monkeypatch.setattr(replay_log_module.time, "sleep", writer_turn)
    log.prune(10)
    assert len(appended) >= 9  # a write between every two batches
    kept = seqs(database, "escEvent")
    assert kept[-len(appended):] == appended and len(kept) == 10 + len(appended)


def test_a_concurrent_writer_is_never_held_up_long(database: Database) -> None:
    bulk_fill(database, "escEvent", BACKLOG)
    log = SqlReplayLog(database)
    pruner = threading.Thread(target=log.prune, args=(KEEP,))
    latencies: list[float] = []
    pruner.start()
    try:
        while pruner.is_alive() and len(latencies) < 200:
            started = time.monotonic()
            log.append("NETCONF", T0, b"<x/>")
            latencies.append(time.monotonic() - started)
    finally:
        pruner.join(timeout=30)
    assert not pruner.is_alive()
    assert latencies and max(latencies) < 2.0
    assert log.count("escEvent") == KEEP and log.count("NETCONF") == len(latencies)


def test_bad_prune_settings_are_store_value_errors(memory_database: Database) -> None:
    with pytest.raises(StoreValueError):
        SqlReplayLog(memory_database, prune_batch_size=0)
    with pytest.raises(StoreValueError):
        SqlReplayLog(memory_database, prune_pause=-1.0)


class _FlakyLog:
    """Fails its first prunes, then works; tells the test when it has been called often enough."""

    def __init__(self, failures: int, calls_wanted: int) -> None:
        self.failures = failures
        self.calls: list[int] = []
        self.calls_wanted = calls_wanted
        self.enough = threading.Event()

    def prune(self, keep_last: int) -> None:
        self.calls.append(keep_last)
        if len(self.calls) >= self.calls_wanted:
            self.enough.set()
        if len(self.calls) <= self.failures:
            raise StoreError("database error: database is locked")


async def test_the_retention_loop_logs_a_failed_prune_and_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    flaky = _FlakyLog(failures=2, calls_wanted=4)
    app: Any = SimpleNamespace(replay_log=flaky,
                               options=SimpleNamespace(replay_keep_last=42, replay_prune_seconds=0.01))
    caplog.set_level(logging.ERROR, logger="esc_netconf.app")
    task = asyncio.create_task(Application._keep_replay_bounded(app))
    try:
        await asyncio.wait_for(asyncio.to_thread(flaky.enough.wait, 5.0), timeout=6.0)
        assert not task.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert flaky.enough.is_set() and flaky.calls[:4] == [42, 42, 42, 42]
    failures = [r for r in caplog.records if "Could not prune the replay log" in r.getMessage()]
    assert len(failures) == 2 and all(r.exc_info for r in failures)
