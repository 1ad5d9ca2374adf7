"""The running datastore on disk: its parts, one row each, and a commit count.

The NETCONF :class:`~esc_netconf.netconf.datastore.Datastore` keeps the running configuration in
memory and hands over, after every commit, the parts it changed
(:mod:`esc_netconf.netconf.config_parts`: with the ESC model, each tenant and each deployment is one):
an edit of one deployment among 2,000 writes a few hundred bytes, not the whole document. The rows are
the bytes the datastore gave, exactly; putting them together is the datastore's business (the pieces
need no model for it). The version counts commits, which gives operators and backups a cheap way to
tell two copies apart.

:meth:`SqlConfigStore.save_running` and :meth:`SqlConfigStore.load_running` read and write the whole
document, for tools and tests: a document saved whole is one part (key ``[]``), which the datastore
loads and rewrites split at its next commit.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from lxml import etree
from sqlalchemy import Connection, bindparam, delete, insert, select, update

from esc_netconf.netconf.config_parts import WHOLE_KEY, assemble
from esc_netconf.netconf.editconfig import canonical_bytes
from esc_netconf.netconf.persistence import ConfigPart
from esc_netconf.store.database import Database
from esc_netconf.store.schema import running_config, running_config_parts
from esc_netconf.store.utc import from_micros, to_micros, utc_now

__all__ = ["SqlConfigStore", "RunningConfig"]

_ROW_ID = 1
_CHUNK = 500  # keys per DELETE ... IN (...): well below SQLite's and PostgreSQL's parameter limits


@dataclass(frozen=True, slots=True)
class RunningConfig:
    """The stored running datastore, whole, with its commit count and the time it was saved."""

    version: int
    saved_at: datetime
    xml: bytes


class SqlConfigStore:
    """Implements ``esc_netconf.netconf.persistence.ConfigStore`` on a :class:`Database`."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._loaded_digest: str | None = None

    def load_parts(self) -> list[ConfigPart]:
        """Every stored part; empty if nothing was ever saved. The schema digest noted with them is read in
        the same snapshot (:meth:`validated_with`)."""
        with self._database.read() as connection:
            rows = connection.execute(select(running_config_parts.c.part_key, running_config_parts.c.parent_key,
                                             running_config_parts.c.seq, running_config_parts.c.xml)).all()
            digest = connection.execute(
                select(running_config.c.schema_digest).where(running_config.c.id == _ROW_ID)).scalar_one_or_none()
        self._loaded_digest = None if digest is None else str(digest)
        return [ConfigPart(row.part_key, row.parent_key, int(row.seq), bytes(row.xml)) for row in rows]

    def save_parts(self, write: Sequence[ConfigPart], delete: Collection[str], *, replace_all: bool = False,
                   validated_with: str | None = None) -> None:
        """Delete and write parts, count the commit and note what validated it, in one transaction; durable
        (fsynced) on return."""
        self.save_parts_versioned(write, delete, replace_all=replace_all, validated_with=validated_with)

    def validated_with(self) -> str | None:
        """The schema digest noted with the parts :meth:`load_parts` last read (None: not known)."""
        return self._loaded_digest

    def save_parts_versioned(self, write: Sequence[ConfigPart], delete: Collection[str], *,
                             replace_all: bool = False, validated_with: str | None = None) -> int:
        """Like :meth:`save_parts`, and return the new version (1 for the first save)."""
        with self._database.write() as connection:
            if replace_all:
                connection.execute(running_config_parts.delete())
            else:
                _delete_keys(connection, [*delete, *(p.key for p in write)])
            if write:
                connection.execute(insert(running_config_parts), [
                    {"part_key": p.key, "parent_key": p.parent, "seq": p.seq, "xml": bytes(p.xml)} for p in write])
            return _count_commit(connection, validated_with)

    def load_running(self) -> bytes | None:
        """The whole stored document (canonical XML), or ``None`` if nothing was ever saved."""
        stored = self.load_running_versioned()
        return None if stored is None else stored.xml

    def load_running_versioned(self) -> RunningConfig | None:
        """The whole stored document with its version and save time, or ``None``."""
        with self._database.read() as connection:
            row = connection.execute(
                select(running_config.c.version, running_config.c.saved_at_us).where(running_config.c.id == _ROW_ID)
            ).one_or_none()
        parts = self.load_parts()
        if row is None or not parts:
            return None
        whole = next((p for p in parts if p.key == WHOLE_KEY), None)
        xml = whole.xml if whole is not None and len(parts) == 1 else canonical_bytes(_assembled(parts))
        return RunningConfig(version=row.version, saved_at=from_micros(row.saved_at_us), xml=xml)

    def save_running(self, xml: bytes) -> None:
        """Replace everything stored by this whole document (one part); durable when this returns."""
        self.save_running_versioned(xml)

    def save_running_versioned(self, xml: bytes) -> int:
        """Like :meth:`save_running`, and return the new version (1 for the first save)."""
        return self.save_parts_versioned([ConfigPart(WHOLE_KEY, "", 0, bytes(xml))], (), replace_all=True)

    def running_version(self) -> int:
        """How many times the running datastore was saved (0 if never)."""
        with self._database.read() as connection:
            version = connection.execute(
                select(running_config.c.version).where(running_config.c.id == _ROW_ID)
            ).scalar_one_or_none()
        return 0 if version is None else int(version)


def _assembled(parts: list[ConfigPart]) -> etree._Element:
    root = assemble(parts)
    assert root is not None  # parts is not empty
    return root


#: Built once (see ``core_store._DELETE_BY_KEYS``: a statement per call leaves garbage cycles).
_DELETE_PARTS = delete(running_config_parts).where(running_config_parts.c.part_key.in_(bindparam("keys", expanding=True)))


def _delete_keys(connection: Connection, keys: list[str]) -> None:
    for start in range(0, len(keys), _CHUNK):
        connection.execute(_DELETE_PARTS, {"keys": keys[start:start + _CHUNK]})


def _count_commit(connection: Connection, validated_with: str | None) -> int:
    now = to_micros(utc_now())
    current = connection.execute(
        select(running_config.c.version).where(running_config.c.id == _ROW_ID)).scalar_one_or_none()
    if current is None:
        connection.execute(insert(running_config).values(id=_ROW_ID, version=1, saved_at_us=now,
                                                         schema_digest=validated_with))
        return 1
    connection.execute(update(running_config).where(running_config.c.id == _ROW_ID)
                       .values(version=current + 1, saved_at_us=now, schema_digest=validated_with))
    return int(current) + 1
