"""Errors of the persistence layer.

Everything the store raises on purpose derives from :class:`StoreError`, so the application can tell
"the database is unusable" (refuse to start, say why) from a bug. SQLAlchemy's own exceptions are
translated at this edge only where the caller can act on the difference (migration, backup, closed).
"""

from __future__ import annotations

from esc_netconf.errors import EscError


class StoreError(EscError):
    """The durable store could not do what was asked."""


class StoreClosedError(StoreError):
    """The :class:`~esc_netconf.store.database.Database` was closed; nothing more can be read or written."""


class MigrationError(StoreError):
    """The schema could not be brought to the revision this code needs (for example the file was
    written by a newer release, whose revisions this release does not know)."""


class BackupError(StoreError):
    """An online copy of the database could not be made (unsupported backend, unwritable target)."""


class StoreValueError(StoreError, ValueError):
    """A caller passed a value the store cannot keep (a negative count, an unknown stream name...)."""


class WriterLockBusy(StoreError):
    """A write that was allowed to wait only so long for the writer lock (``Database.write(lock_wait=)``)
    found it still held by another session (PostgreSQL)."""
