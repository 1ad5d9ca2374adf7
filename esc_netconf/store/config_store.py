"""The running datastore on disk: one XML document with a version number.

The NETCONF :class:`~esc_netconf.netconf.datastore.Datastore` keeps the running configuration in
memory and hands the whole serialized ``<data>`` here after every commit. Keeping it as one blob (not
shredded into rows) is deliberate: the document is small, always read and written whole, and the
bytes that come back are exactly the bytes that went in, so there is no second model of the YANG tree
to keep in step with the first. The version counts commits, which gives operators and backups a cheap
way to tell two copies apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update

from esc_netconf.store.database import Database
from esc_netconf.store.schema import running_config
from esc_netconf.store.utc import from_micros, to_micros, utc_now

__all__ = ["SqlConfigStore", "RunningConfig"]

_ROW_ID = 1


@dataclass(frozen=True, slots=True)
class RunningConfig:
    """The stored running datastore with its commit count and the time it was saved."""

    version: int
    saved_at: datetime
    xml: bytes


class SqlConfigStore:
    """Implements ``esc_netconf.netconf.persistence.ConfigStore`` on a :class:`Database`."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def load_running(self) -> bytes | None:
        """The last saved document, or ``None`` if nothing was ever saved."""
        stored = self.load_running_versioned()
        return None if stored is None else stored.xml

    def load_running_versioned(self) -> RunningConfig | None:
        """The last saved document with its version and save time, or ``None``."""
        with self._database.read() as connection:
            row = connection.execute(
                select(running_config.c.version, running_config.c.saved_at_us, running_config.c.xml)
                .where(running_config.c.id == _ROW_ID)
            ).one_or_none()
        if row is None:
            return None
        return RunningConfig(version=row.version, saved_at=from_micros(row.saved_at_us), xml=bytes(row.xml))

    def save_running(self, xml: bytes) -> None:
        """Replace the stored document; durable (fsynced) when this returns."""
        self.save_running_versioned(xml)

    def save_running_versioned(self, xml: bytes) -> int:
        """Like :meth:`save_running`, and return the new version (1 for the first save)."""
        now = to_micros(utc_now())
        with self._database.write() as connection:
            current = connection.execute(
                select(running_config.c.version).where(running_config.c.id == _ROW_ID)
            ).scalar_one_or_none()
            if current is None:
                version = 1
                connection.execute(
                    insert(running_config).values(id=_ROW_ID, version=version, saved_at_us=now, xml=bytes(xml))
                )
            else:
                version = current + 1
                connection.execute(
                    update(running_config)
                    .where(running_config.c.id == _ROW_ID)
                    .values(version=version, saved_at_us=now, xml=bytes(xml))
                )
        return version

    def running_version(self) -> int:
        """How many times the running datastore was saved (0 if never)."""
        with self._database.read() as connection:
            version = connection.execute(
                select(running_config.c.version).where(running_config.c.id == _ROW_ID)
            ).scalar_one_or_none()
        return 0 if version is None else int(version)
