"""The RFC 5277 replay log: every notification sent on a stream, kept so a late subscriber can ask
for the ones it missed (``<create-subscription>`` with ``startTime``/``stopTime``).

Rows are append-only; ``seq`` (a database sequence, never reused) is the order of generation. As
``esc_netconf.netconf.persistence.ReplayLog`` specifies, :meth:`SqlReplayLog.read` returns the events
with ``start <= eventTime < stop``, oldest first: ordered by event time, ties (and clocks that agree)
in append order. Event times are kept as UTC microseconds.

Durability and speed: every :meth:`SqlReplayLog.append` and :meth:`SqlReplayLog.append_many` is one
transaction, committed with ``synchronous=FULL`` before it returns, and the hub delivers an event only
once it is stored, so a notification a client has seen is never missing from a replay after a crash. The
hub batches: a burst of escEvents is one ``append_many`` on the hub's writer thread, and the NETCONF
stream's single events of a 20 ms window are one transaction (``subscriptions.NotificationHub``); one
fsync per event would cost most of a NETCONF session's CPU on the loop.

Pruning keeps the newest ``keep_last`` events (by sequence) of each stream, deleting the rest in
batches of short transactions so that other writers are never held up for long. Reads page through the
log in short transactions (keyset on ``(event time, seq)``), so a replay of a large log neither holds
a snapshot open while the subscriber drains it (which would stop WAL checkpoints) nor loads the whole
log into memory.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select

from esc_netconf.gilshare import breathe
from esc_netconf.store.database import Database
from esc_netconf.store.errors import StoreValueError
from esc_netconf.store.schema import replay_events
from esc_netconf.store.utc import from_micros, to_micros

__all__ = ["SqlReplayLog"]

READ_PAGE_SIZE = 500
PRUNE_BATCH_SIZE = 1_000
"""Rows deleted per prune transaction: a few milliseconds of write lock, then other writers get a turn."""
PRUNE_PAUSE_SECONDS = 0.002
"""Pause between prune batches, so a writer waiting on the busy handler takes the lock before the next batch."""
MAX_STREAM_NAME = 255
_IDS_PER_STATEMENT = 500
"""Event ids per ``IN (...)`` look-up: well below SQLite's limit of bound parameters."""
#: Which of some event ids the log holds; built once (see ``core_store._DELETE_BY_KEYS``: a statement per call
#: leaves garbage cycles).
_HELD_IDS = select(replay_events.c.event_id).where(replay_events.c.event_id.in_(bindparam("ids", expanding=True)))
_INSERT = insert(replay_events)
#: Rows per insert of a burst: between two, the writer thread pauses for the loop (``gilshare``); SQLAlchemy
#: readies each row in Python, and a deploy's bursts of thousands held the GIL for tens of milliseconds.
_ROWS_PER_STATEMENT = 64


class SqlReplayLog:
    """Implements ``esc_netconf.netconf.persistence.ReplayLog`` on a :class:`Database`."""

    def __init__(
        self,
        database: Database,
        *,
        page_size: int = READ_PAGE_SIZE,
        prune_batch_size: int = PRUNE_BATCH_SIZE,
        prune_pause: float = PRUNE_PAUSE_SECONDS,
    ) -> None:
        if page_size < 1:
            raise StoreValueError(f"page_size must be positive, not {page_size}")
        if prune_batch_size < 1:
            raise StoreValueError(f"prune_batch_size must be positive, not {prune_batch_size}")
        if prune_pause < 0:
            raise StoreValueError(f"prune_pause must not be negative, not {prune_pause}")
        self._database = database
        self._page_size = page_size
        self._prune_batch_size = prune_batch_size
        self._prune_pause = prune_pause

    def append(self, stream: str, event_time: datetime, xml: bytes) -> int:
        """Record one event; return its sequence id (increasing across all streams).
        Durable when it returns."""
        _check_stream(stream)
        with self._database.write() as connection:
            result = connection.execute(
                insert(replay_events).values(
                    stream=stream, event_time_us=to_micros(event_time), xml=bytes(xml)
                )
            )
            key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def append_many(self, stream: str, events: Sequence[tuple[datetime, bytes]],
                    event_ids: Sequence[str | None] | None = None) -> int | None:
        """Record ``(event time, xml)`` events in order, in one transaction. Durable when it returns;
        returns the highest sequence id of the log then (None while it is empty), which bounds what a
        replay that must not include later events reads (``read(..., upto=)``).

        ``event_ids``: one per event (None for an event without one); an event whose id the log already
        holds is skipped, so an event delivered again after a crash (``core.events``) is stored once.
        Sound because the look-up and the insert run in one write transaction (SQLite's write lock), and
        the unique index on ``event_id`` refuses a duplicate that any other path would try (PostgreSQL).
        """
        if not events:
            _check_stream(stream)
            return None
        return self.append_bursts([(stream, events, event_ids)])

    def append_bursts(self, bursts: Sequence[tuple[str, Sequence[tuple[datetime, bytes]],
                                                   Sequence[str | None] | None]]) -> int | None:
        """:meth:`append_many` for several ``(stream, events, event_ids)`` bursts, in this order, in one
        transaction (the hub's writer stores the bursts that queued up meanwhile together: one flush)."""
        checked = []
        for stream, events, event_ids in bursts:
            _check_stream(stream)
            ids: Sequence[str | None] = event_ids if event_ids is not None else [None] * len(events)
            if len(ids) != len(events):
                raise StoreValueError(f"{len(ids)} event ids for {len(events)} events")
            if events:
                checked.append((stream, events, ids))
        if not checked:
            return None
        # readied before the write lock is taken: the other writers wait for it only while rows go in
        rows: list[dict[str, Any]] = [
            {"stream": stream, "event_time_us": to_micros(t), "xml": bytes(xml), "event_id": event_id}
            for stream, events, ids in checked for (t, xml), event_id in zip(events, ids)]
        named = [event_id for _, _, ids in checked for event_id in ids if event_id is not None]
        with self._database.write() as connection:
            held: set[str] = set()
            for first in range(0, len(named), _IDS_PER_STATEMENT):
                chunk = named[first:first + _IDS_PER_STATEMENT]
                held.update(connection.execute(_HELD_IDS, {"ids": chunk}).scalars())
            fresh = []
            for row in rows:
                event_id = row["event_id"]
                if event_id is not None:
                    if event_id in held:
                        continue
                    held.add(event_id)  # twice in one call: the first is kept
                fresh.append(row)
            for first in range(0, len(fresh), _ROWS_PER_STATEMENT):
                breathe()
                connection.execute(_INSERT, fresh[first:first + _ROWS_PER_STATEMENT])
            highest = connection.execute(select(func.max(replay_events.c.seq))).scalar_one_or_none()
        return None if highest is None else int(highest)

    def read(
        self, stream: str, start: datetime, stop: datetime | None, *, upto: int | None = None
    ) -> Iterator[tuple[datetime, bytes]]:
        """The events of ``stream`` with ``start <= event time <= stop`` (``stop=None``: no upper
        bound), oldest first, as ``(event time in UTC, xml)``; with ``upto``, only those whose sequence
        id is at most ``upto``."""
        return ((event_time, xml) for _seq, event_time, xml in self.read_with_seq(stream, start, stop, upto=upto))

    def read_with_seq(
        self, stream: str, start: datetime, stop: datetime | None, *, upto: int | None = None
    ) -> Iterator[tuple[int, datetime, bytes]]:
        """Like :meth:`read`, with each event's sequence id first."""
        _check_stream(stream)
        table = replay_events.c
        window = [table.stream == stream, table.event_time_us >= to_micros(start)]
        if stop is not None:
            window.append(table.event_time_us <= to_micros(stop))  # RFC 5277: only later events are excluded
        if upto is not None:
            window.append(table.seq <= upto)
        query = (
            select(table.seq, table.event_time_us, table.xml)
            .where(*window)
            .order_by(table.event_time_us, table.seq)
            .limit(self._page_size)
        )
        after: tuple[int, int] | None = None  # (event_time_us, seq) of the last row returned
        while True:
            page = query
            if after is not None:
                last_time, last_seq = after
                page = query.where(
                    or_(
                        table.event_time_us > last_time,
                        and_(table.event_time_us == last_time, table.seq > last_seq),
                    )
                )
            with self._database.read() as connection:
                rows = connection.execute(page).all()
            for row in rows:
                yield int(row.seq), from_micros(row.event_time_us), bytes(row.xml)
            if len(rows) < self._page_size:
                return
            after = (int(rows[-1].event_time_us), int(rows[-1].seq))

    def last_seq(self) -> int:
        """The highest sequence id of the log (0 while it has never held an event)."""
        with self._database.read() as connection:
            highest = connection.execute(select(func.max(replay_events.c.seq))).scalar_one_or_none()
        return 0 if highest is None else int(highest)

    def oldest(self, stream: str) -> datetime | None:
        """The earliest event time still kept for ``stream``, or ``None`` if it has none."""
        _check_stream(stream)
        with self._database.read() as connection:
            micros = connection.execute(
                select(func.min(replay_events.c.event_time_us)).where(replay_events.c.stream == stream)
            ).scalar_one_or_none()
        return None if micros is None else from_micros(int(micros))

    def count(self, stream: str) -> int:
        """How many events ``stream`` keeps."""
        _check_stream(stream)
        with self._database.read() as connection:
            return int(
                connection.execute(
                    select(func.count()).select_from(replay_events).where(replay_events.c.stream == stream)
                ).scalar_one()
            )

    def prune(self, keep_last: int) -> None:
        """Delete all but the newest ``keep_last`` events of every stream (0 empties the log).

        Why in batches: every other writer (core records, callbacks) shares SQLite's one write lock, and
        one transaction deleting a long backlog would stall them all, up to the busy timeout.  So the
        bound of each stream (the oldest ``seq`` to keep) is found first, and rows below it are then
        deleted ``prune_batch_size`` at a time, each batch its own short transaction, with a short pause
        between batches so a waiting writer gets the lock.  Events appended meanwhile have a higher
        ``seq`` than the bound and are kept; the next prune trims them.
        """
        if keep_last < 0:
            raise StoreValueError(f"keep_last must not be negative, not {keep_last}")
        table = replay_events.c
        with self._database.read() as connection:
            streams: Sequence[str] = connection.execute(select(table.stream).distinct()).scalars().all()
        for stream in streams:
            bound = self._prune_bound(stream, keep_last)
            if bound is not None:
                self._delete_below(stream, bound)

    def _prune_bound(self, stream: str, keep_last: int) -> int | None:
        """The lowest ``seq`` of ``stream`` to keep (everything below goes), or ``None``: nothing to prune."""
        table = replay_events.c
        with self._database.read() as connection:
            if keep_last == 0:
                newest = connection.execute(
                    select(func.max(table.seq)).where(table.stream == stream)
                ).scalar_one_or_none()
                return None if newest is None else int(newest) + 1
            bound = connection.execute(
                select(table.seq)
                .where(table.stream == stream)
                .order_by(table.seq.desc())
                .offset(keep_last - 1)
                .limit(1)
            ).scalar_one_or_none()
        return None if bound is None else int(bound)

    def _delete_below(self, stream: str, bound: int) -> int:
        """Delete the events of ``stream`` with ``seq < bound``, oldest first, one short transaction per batch."""
        table = replay_events.c
        batch = (
            select(table.seq)
            .where(table.stream == stream, table.seq < bound)
            .order_by(table.seq)
            .limit(self._prune_batch_size)
            .scalar_subquery()
        )
        deleted = 0
        while True:
            with self._database.write() as connection:
                count = connection.execute(delete(replay_events).where(table.seq.in_(batch))).rowcount
            deleted += count
            if count < self._prune_batch_size:
                return deleted
            time.sleep(self._prune_pause)


def _check_stream(stream: str) -> None:
    if not stream or len(stream) > MAX_STREAM_NAME:
        raise StoreValueError(f"a stream name is 1..{MAX_STREAM_NAME} characters, not {stream!r}")
