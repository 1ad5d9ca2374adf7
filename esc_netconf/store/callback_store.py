"""REST callback registrations and the delivery outbox in SQL: implements
``esc_netconf.rest.callback_store.CallbackStore``.

Same discipline as :mod:`.core_store`: every method is one transaction (``BEGIN IMMEDIATE`` for writes,
committed with ``synchronous=FULL``), so an outbox row exists on disk before its first POST is attempted
and a ``kill -9`` loses no pending delivery.  Wall-clock seconds (the Protocol's unit) are kept as
integer microseconds (:mod:`.utc`); ``seq`` (AUTOINCREMENT, never reused) is the delivery id and order.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select, update

from esc_netconf.rest.callback_store import OutgoingPost, PendingDelivery, Registration
from esc_netconf.store.database import Database
from esc_netconf.store.schema import callback_outbox, callback_registrations
from esc_netconf.store.upsert import upsert

__all__ = ["SqlCallbackStore"]

_MICROS = 1_000_000

ON_LOOP = ("left on the loop: the REST callback service calls its store synchronously (one row per registration, "
           "per event of a transaction with callbacks, per delivery), only for clients that register callbacks")
"""Why these writes may run on the event loop's thread (``Database.write(on_loop=...)``): a known cost, not
yet moved to a writer thread, which would need the REST callback service to await its store."""


def _us(seconds: float) -> int:
    return round(seconds * _MICROS)


def _s(micros: int) -> float:
    return micros / _MICROS


class SqlCallbackStore:
    """``CallbackStore`` on a :class:`Database` (tables ``callback_*``, revision ``0004_callbacks``)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    # --- registrations ------------------------------------------------------------------------------

    def load_registrations(self) -> list[Registration]:
        t = callback_registrations
        query = select(t.c.transaction_id, t.c.urls, t.c.created_us, t.c.last_event_us, t.c.finished_us)
        with self._database.read() as connection:
            rows = connection.execute(query.order_by(t.c.created_us, t.c.transaction_id)).all()
        return [Registration(row.transaction_id, tuple(row.urls), _s(row.created_us), _s(row.last_event_us),
                             None if row.finished_us is None else _s(row.finished_us))
                for row in rows]

    def save_registration(self, registration: Registration) -> None:
        row = {
            "transaction_id": registration.transaction_id,
            "urls": list(registration.urls),
            "created_us": _us(registration.created),
            "last_event_us": _us(registration.last_event),
            "finished_us": None if registration.finished is None else _us(registration.finished),
        }
        with self._database.write(on_loop=ON_LOOP) as connection:
            upsert(connection, callback_registrations, "transaction_id", row)

    def delete_registration(self, transaction_id: str) -> None:
        t = callback_registrations
        with self._database.write(on_loop=ON_LOOP) as connection:
            connection.execute(delete(t).where(t.c.transaction_id == transaction_id))

    def finish_registrations(self, transaction_ids: Sequence[str], finished: float) -> None:
        if not transaction_ids:
            return
        t = callback_registrations
        with self._database.write(on_loop=ON_LOOP) as connection:
            connection.execute(update(t)
                               .where(t.c.transaction_id.in_(list(transaction_ids)), t.c.finished_us.is_(None))
                               .values(finished_us=_us(finished)))

    def prune_registrations(self, finished_before: float) -> int:
        t = callback_registrations
        with self._database.write(on_loop=ON_LOOP) as connection:
            result = connection.execute(delete(t).where(t.c.finished_us < _us(finished_before)))
        return int(result.rowcount)

    # --- the outbox ---------------------------------------------------------------------------------

    def enqueue(self, transaction_id: str, event_id: str, posts: Sequence[OutgoingPost], at: float) -> list[int]:
        t, o = callback_registrations, callback_outbox
        now = _us(at)
        ids: list[int] = []
        with self._database.write(on_loop=ON_LOOP) as connection:
            held = connection.execute(select(o.c.seq).where(o.c.transaction_id == transaction_id,
                                                            o.c.event_id == event_id).limit(1)).first()
            if held is not None:  # delivered again after a crash: its posts are in the outbox already
                return []
            connection.execute(update(t).where(t.c.transaction_id == transaction_id).values(last_event_us=now))
            for post in posts:
                result = connection.execute(insert(o).values(
                    transaction_id=transaction_id, event_id=event_id, url=post.url, headers=dict(post.headers),
                    body=post.body, created_us=now))
                key = result.inserted_primary_key
                assert key is not None
                ids.append(int(key[0]))
        return ids

    def settle(self, delivery_id: int) -> None:
        o = callback_outbox
        with self._database.write(on_loop=ON_LOOP) as connection:
            connection.execute(delete(o).where(o.c.seq == delivery_id))

    def load_outbox(self) -> list[PendingDelivery]:
        o = callback_outbox
        query = select(o.c.seq, o.c.transaction_id, o.c.event_id, o.c.url, o.c.headers, o.c.body, o.c.created_us)
        with self._database.read() as connection:
            rows = connection.execute(query.order_by(o.c.seq)).all()
        return [PendingDelivery(int(row.seq), row.transaction_id, row.event_id, row.url, dict(row.headers),
                                bytes(row.body), _s(row.created_us))
                for row in rows]
