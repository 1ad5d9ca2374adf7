"""Which members of a group are up: one PostgreSQL session per member, named after it.

Why a session and not a table of heartbeats: the database itself knows which clients are connected, and a
session ends with its process (kill -9 included: the kernel closes the socket, PostgreSQL ends the
backend), so there is no staleness to tune and no row to clean up. Each member keeps one dedicated
connection whose ``application_name`` is ``esc-ha <node>``; :meth:`Presence.others` lists the members of
the same database from ``pg_stat_activity`` (visible to every session of the same database user). The
active asks it before a switchover: with nobody to hand over to, it refuses and keeps serving.

``application_name`` holds at most 63 bytes: a node name longer than that is listed truncated, and a
handover to it then completes only by lease expiry (a member takes an expired lease whatever its name).
Blocking calls: run them off the event loop.
"""

from __future__ import annotations

import logging

import psycopg
from esc_netconf.store.database import Database
from esc_netconf.store.errors import StoreError

__all__ = ["Presence"]

log = logging.getLogger(__name__)

PREFIX = "esc-ha "
NAME_LIMIT = 63


class Presence:
    """This member's named session, and the names of the others."""

    def __init__(self, db: Database, node: str) -> None:
        self._conninfo = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.node = node
        self._name = (PREFIX + node)[:NAME_LIMIT]
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None

    def ensure(self) -> None:
        """Have our named session open (again, after the database restarted or dropped it).

        :raises StoreError: the database cannot be reached.
        """
        connection = self._connection
        if connection is not None and not connection.closed:
            try:
                connection.execute("SELECT 1")
                return
            except psycopg.Error:
                connection.close()
        try:
            self._connection = psycopg.connect(self._conninfo, application_name=self._name, autocommit=True,
                                               connect_timeout=10)
        except psycopg.Error as error:
            self._connection = None
            raise StoreError(f"cannot announce this member to the group: {error}") from error

    def others(self) -> list[str]:
        """The other members connected to this database now, by node name, sorted.

        :raises StoreError: the database cannot be reached.
        """
        self.ensure()
        assert self._connection is not None
        try:
            rows = self._connection.execute(
                "SELECT DISTINCT application_name FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name LIKE %s AND application_name <> %s",
                (PREFIX + "%", self._name)).fetchall()
        except psycopg.Error as error:
            raise StoreError(f"cannot list the members of the group: {error}") from error
        return sorted(str(row[0])[len(PREFIX):] for row in rows)

    def leave(self) -> None:
        """Close our session (at shutdown): the others stop listing us at once."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
