"""Saving a keyed row: the one upsert the stores share.

Why update-then-insert rather than a dialect's ``INSERT ... ON CONFLICT``: it is plain SQLAlchemy Core,
the same on SQLite and PostgreSQL, and every caller runs it inside ``Database.write()`` (``BEGIN
IMMEDIATE``), so no other writer can insert the key between the two statements.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Table, insert, update

__all__ = ["upsert"]


def upsert(connection: Connection, table: Table, key: str, row: Mapping[str, Any]) -> None:
    """Write ``row`` (which holds ``key``) to ``table``: replace the row with that key, or insert it.

    Call inside a write transaction: the update and the insert must not be separated by another writer.
    """
    values = {name: value for name, value in row.items() if name != key}
    updated = connection.execute(update(table).where(table.c[key] == row[key]).values(values))
    if updated.rowcount == 0:
        connection.execute(insert(table).values(dict(row)))
