"""Alembic environment: migrate the connection the application hands over, never one of our own.

:meth:`esc_netconf.store.database.Database.upgrade` opens a connection on its engine (with the SQLite
pragmas and the ``BEGIN IMMEDIATE`` that keeps two starting processes from migrating at once), puts it
in ``config.attributes["connection"]`` and calls ``alembic.command.upgrade``. There is no alembic.ini
and no logging set-up here: the application owns both. To write the next revision, copy the newest
file in ``versions/`` and chain its ``down_revision``; ``render_as_batch`` lets ALTERs run on SQLite.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from esc_netconf.store.errors import MigrationError


def _run_online(connection: Connection) -> None:
    # transactional_ddl: alembic assumes SQLite cannot roll DDL back because Python's sqlite3 does not
    # BEGIN before it; our engine emits BEGIN itself, so all pending revisions run in one transaction.
    context.configure(
        connection=connection, render_as_batch=True, compare_type=True, transactional_ddl=True
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise MigrationError(
            "esc_netconf migrations run only through esc_netconf.store.Database, which passes "
            "its connection in config.attributes['connection']"
        )
    _run_online(connection)


_main()
