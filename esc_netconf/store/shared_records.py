"""A standby's view of the records the active of its group writes: each read re-reads only what changed.

Why: a standby answers every read from the shared store as it is when the read arrives (CONTRACT section 8).
Reading every record again for each read (10,000 VMs: some 0.5 s, parsing included) made every read cost
that, and a burst of reads that many times. :meth:`SharedRecordReader.read` finds out what changed since the
last read and parses only that; the records of unchanged rows are the objects it made before.

How it knows, with no column or table of its own (PostgreSQL, where groups exist), in one read transaction
(REPEATABLE READ, see ``Database.read``), so the records, their versions and the change checks all show one
state of the store:

1. the transaction's snapshot (``pg_current_snapshot()``: the next transaction id and those in progress).
   The same as at the last read: no transaction ended since, nothing changed. One round trip, no table read.
2. per table, the row count and a sum of hashes of each row version's identity (``xmin``, the transaction
   that wrote the version, and ``ctid``, where it lies); any insert, update or delete changes it (unless
   64-bit hashes cancel out exactly). Plus the running configuration's commit count (``running_config``).
   One statement; it reads the tables but sends back one row each.
3. of a table whose sum moved: each row's version tag (key, ``xmin``, ``ctid``), compared with the tags of
   the last read; the rows whose tag is new are read and parsed, those whose key is gone are dropped.

A tag is exact: a new row version gets the ``xmin`` of a transaction that committed after the last read,
which no version read then carries, unless 2^32 transaction ids went by (``xmin`` wraps, and the raw value
survives freezing): so once the snapshot's 64-bit ``xmax`` moved 2^31 past the last full read, everything is
read again. On SQLite (no row versions there, and no standby either) every read reads everything.

Blocking: call it from one worker thread at a time (it keeps the last read's tags and records).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, Table, select, text

from esc_netconf.core.backup import SnapshotRecord
from esc_netconf.core.model import CoreState, DeploymentRecord, OperationRecord, TenantRecord, VmRecord
from esc_netconf.store.database import Database
from esc_netconf.store.schema import (RecordData, backup_snapshots, core_deployments, core_operations, core_tenants,
                                      core_vms, running_config)

__all__ = ["SharedRecordReader", "SharedRecords"]

#: Keys per ``IN (...)`` list of changed rows.
_KEYS_PER_STATEMENT = 500
#: ``xmin`` is 32 bits: tags stay exact while fewer transaction ids than this went by since the full read.
_WRAP_GUARD = 2**31


@dataclass(frozen=True, slots=True)
class SharedRecords:
    """One state of the shared store's records. Never changed once made (the next state is another object,
    sharing the record objects of unchanged rows): safe to hand to a reader while the next one is read."""

    core: CoreState
    snapshots: dict[str, SnapshotRecord]
    #: ``running_config.version``: how many times the active committed the running configuration
    config_version: int


@dataclass(frozen=True, slots=True)
class _Source:
    """A table of records: its key column and how a row's JSON becomes the record."""

    table: Table
    key: str
    record: Callable[[RecordData], Any]


_SOURCES: dict[str, _Source] = {
    "tenants": _Source(core_tenants, "name", TenantRecord.from_dict),
    "deployments": _Source(core_deployments, "dep_id", DeploymentRecord.from_dict),
    "vms": _Source(core_vms, "vm_id", VmRecord.from_dict),
    "operations": _Source(core_operations, "op_id", OperationRecord.from_dict),
    "snapshots": _Source(backup_snapshots, "id", SnapshotRecord.from_dict),
}

# The statement of step 2: one row per table (the names are this module's constants, never input).
_SUMS = text(" UNION ALL ".join(
    f"SELECT '{name}', count(*), coalesce(sum(hashtextextended(xmin::text || ctid::text, 0)), 0) "
    f"FROM {source.table.name}" for name, source in _SOURCES.items()))


def _tags_query(source: _Source) -> Any:
    return text(f"SELECT {source.key}, xmin::text || ctid::text FROM {source.table.name}")


def _xmax(snapshot: str) -> int:
    """The next transaction id of a ``pg_current_snapshot()`` text (``xmin:xmax:xip,...``)."""
    return int(snapshot.split(":")[1])


class SharedRecordReader:
    """The records of a store other servers write, read again only where they changed (see the module)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._records: SharedRecords | None = None
        self._snapshot: str | None = None  # step 1's snapshot at the last read
        self._full_xmax = 0  # the snapshot's xmax when every tag was last read from scratch
        self._sums: dict[str, tuple[int, int]] = {}  # step 2, per table
        self._tags: dict[str, dict[str, str]] = {}  # step 3, per table: key -> version tag
        self._maps: dict[str, dict[str, Any]] = {name: {} for name in _SOURCES}  # per table: key -> record

    def read(self) -> SharedRecords:
        """The records as the store holds them now: the same object as the last call returned when nothing
        changed since, else a new one. What it learns is kept only once the whole read succeeded.

        :raises StoreError: the database cannot be read.
        """
        with self._db.read() as connection:
            if not self._db.is_postgresql:
                maps = {name: _records(connection, source) for name, source in _SOURCES.items()}
                return self._keep(maps, _config_version(connection))
            snapshot = str(connection.execute(text("SELECT pg_current_snapshot()::text")).scalar_one())
            if self._records is not None and snapshot == self._snapshot:
                return self._records
            if _xmax(snapshot) - self._full_xmax >= _WRAP_GUARD:
                self._tags, self._sums, self._full_xmax = {}, {}, _xmax(snapshot)
            sums = {str(row[0]): (int(row[1]), int(row[2])) for row in connection.execute(_SUMS)}
            version = _config_version(connection)
            moved = [name for name in _SOURCES if sums[name] != self._sums.get(name)]
            tables = {name: self._table(connection, name) for name in moved}
        self._snapshot, self._sums = snapshot, sums
        self._tags.update((name, tags) for name, (tags, _) in tables.items())
        if self._records is not None and not tables:
            if version != self._records.config_version:
                self._records = replace(self._records, config_version=version)
            return self._records
        return self._keep({**self._maps, **{name: records for name, (_, records) in tables.items()}}, version)

    def _table(self, connection: Connection, name: str) -> tuple[dict[str, str], dict[str, Any]]:
        """Table ``name``'s version tags and records now: the known records whose tag is unchanged, the
        others read."""
        source = _SOURCES[name]
        known, records = self._tags.get(name), self._maps[name]
        tags = {str(key): str(tag) for key, tag in connection.execute(_tags_query(source)).all()}
        changed = list(tags) if known is None else [key for key, tag in tags.items() if known.get(key) != tag]
        if known is None or len(changed) > len(tags) // 2:
            return tags, _records(connection, source)
        fresh: dict[str, Any] = {}
        key_column = source.table.c[source.key]
        for first in range(0, len(changed), _KEYS_PER_STATEMENT):
            query = select(source.table.c.data).where(key_column.in_(changed[first:first + _KEYS_PER_STATEMENT]))
            rows: Sequence[RecordData] = connection.execute(query).scalars().all()
            fresh.update((data[source.key], source.record(data)) for data in rows)
        return tags, {key: fresh[key] if key in fresh else records[key] for key in tags}

    def _keep(self, maps: dict[str, dict[str, Any]], config_version: int) -> SharedRecords:
        """Remember ``maps`` as the records read last, and return them as a new state (its own dicts)."""
        self._maps = maps
        self._records = SharedRecords(
            CoreState(tenants=dict(maps["tenants"]), deployments=dict(maps["deployments"]), vms=dict(maps["vms"]),
                      operations=dict(maps["operations"])),
            dict(maps["snapshots"]), config_version)
        return self._records


def _records(connection: Connection, source: _Source) -> dict[str, Any]:
    """Every record of ``source``'s table, by key."""
    rows: Sequence[RecordData] = connection.execute(select(source.table.c.data)).scalars().all()
    return {data[source.key]: source.record(data) for data in rows}


def _config_version(connection: Connection) -> int:
    version = connection.execute(select(running_config.c.version).where(running_config.c.id == 1)).scalar_one_or_none()
    return 0 if version is None else int(version)
