"""Persistence of the simulated cloud: one SQLite file in the state directory.

One table per resource kind, each row a JSON ``Timeline`` document plus the columns we filter
on (``project_id``, ``name``, ``gone_at``). WAL journal with ``synchronous=NORMAL``: every
request is one transaction, committed before the call returns, so a ``kill -9`` of the
controller loses nothing the caller was told about. Two side tables are kept in step with the
documents: ``ports`` (Neutron's fixed-IP allocations, unique per network) and ``volume_links``
(which servers a volume is or will be attached to), so a server's ``volumes_attached`` is one
indexed query rather than a scan of every volume.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from pathlib import Path

from esc_netconf.vim.sim.timeline import Timeline

__all__ = ["Kind", "SimStore"]

SCHEMA_VERSION = 1


class Kind(str, Enum):
    """A resource kind; the value is its table name."""

    SERVER = "servers"
    IMAGE = "images"
    VOLUME = "volumes"
    VOLUME_SNAPSHOT = "volume_snapshots"
    PROJECT = "projects"
    PORT = "neutron_ports"


_SCHEMA = [
    *(
        f"""CREATE TABLE IF NOT EXISTS {kind.value} (
            id TEXT PRIMARY KEY, project_id TEXT, name TEXT NOT NULL,
            gone_at REAL, doc TEXT NOT NULL)"""
        for kind in Kind
    ),
    *(f"CREATE INDEX IF NOT EXISTS {kind.value}_project ON {kind.value}(project_id)" for kind in Kind),
    *(f"CREATE INDEX IF NOT EXISTS {kind.value}_name ON {kind.value}(name)" for kind in Kind),
    *(f"CREATE INDEX IF NOT EXISTS {kind.value}_gone ON {kind.value}(gone_at)" for kind in Kind),
    """CREATE TABLE IF NOT EXISTS ports (
        network_id TEXT NOT NULL, ip_int INTEGER NOT NULL, server_id TEXT NOT NULL,
        PRIMARY KEY (network_id, ip_int))""",
    "CREATE INDEX IF NOT EXISTS ports_server ON ports(server_id)",
    """CREATE TABLE IF NOT EXISTS volume_links (
        volume_id TEXT NOT NULL, server_id TEXT NOT NULL, PRIMARY KEY (volume_id, server_id))""",
    "CREATE INDEX IF NOT EXISTS volume_links_server ON volume_links(server_id)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
]

_VISIBLE = "(gone_at IS NULL OR gone_at > ?)"


class SimStore:
    """The SQLite file ``<state_dir>/sim-cloud.sqlite3``; used from one thread at a time."""

    FILE_NAME = "sim-cloud.sqlite3"

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / self.FILE_NAME
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._depth = 0
        #: What a listing (by its project id, None for all) built from each settled document, keyed by
        #: resource id: ``(JSON text, object)``.  A document never changes without its text changing, so a
        #: hit needs no parse; each listing keeps only what it saw (see ``servers.list_servers``).
        self.built: dict[str | None, dict[str, tuple[str, object]]] = {}
        with self.transaction():
            for statement in _SCHEMA:
                self._db.execute(statement)
            if self.get_meta("schema_version") is None:
                self.set_meta("schema_version", str(SCHEMA_VERSION))

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of work; nested uses join the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")
        finally:
            self._depth = 0

    # ---- documents ---------------------------------------------------------------------------

    def get(self, kind: Kind, resource_id: str, now: float) -> Timeline | None:
        row = self._db.execute(
            f"SELECT doc FROM {kind.value} WHERE id = ? AND {_VISIBLE}", (resource_id, now)
        ).fetchone()
        return None if row is None else Timeline.from_json(json.loads(row[0]))

    def select(
        self,
        kind: Kind,
        now: float,
        *,
        project_id: str | None = None,
        ids: Sequence[str] | None = None,
        name: str | None = None,
    ) -> list[tuple[str, Timeline]]:
        """Visible rows, filtered; in creation order (SQLite rowid)."""
        clauses: list[str] = [_VISIBLE]
        params: list[object] = [now]
        if project_id is not None:
            clauses.append("project_id = ?")
            params.append(project_id)
        if name is not None:
            clauses.append("name = ?")
            params.append(name)
        if ids is not None:
            if not ids:
                return []
            clauses.append(f"id IN ({', '.join('?' * len(ids))})")
            params.extend(ids)
        rows = self._db.execute(
            f"SELECT id, doc FROM {kind.value} WHERE {' AND '.join(clauses)} ORDER BY rowid", params
        ).fetchall()
        return [(rid, Timeline.from_json(json.loads(doc))) for rid, doc in rows]

    def select_documents(self, kind: Kind, now: float, *, project_id: str | None = None) -> list[tuple[str, str]]:
        """``(id, JSON text)`` of the visible rows (of one project), in creation order, unparsed: a caller
        that keeps what it built from a document skips the parse of those that did not change."""
        clauses: list[str] = [_VISIBLE]
        params: list[object] = [now]
        if project_id is not None:
            clauses.append("project_id = ?")
            params.append(project_id)
        rows = self._db.execute(
            f"SELECT id, doc FROM {kind.value} WHERE {' AND '.join(clauses)} ORDER BY rowid", params
        ).fetchall()
        return [(str(rid), str(doc)) for rid, doc in rows]

    def put(self, kind: Kind, resource_id: str, project_id: str | None, name: str, timeline: Timeline) -> None:
        doc = json.dumps(timeline.to_json(), separators=(",", ":"))
        self._db.execute(
            f"""INSERT INTO {kind.value} (id, project_id, name, gone_at, doc) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET project_id = excluded.project_id,
                name = excluded.name, gone_at = excluded.gone_at, doc = excluded.doc""",
            (resource_id, project_id, name, timeline.gone_at, doc),
        )
        if kind is Kind.VOLUME:
            self._link_volume(resource_id, timeline)

    def purge(self, now: float) -> None:
        """Drop rows that have disappeared (they read as not found either way)."""
        for kind in Kind:
            self._db.execute(f"DELETE FROM {kind.value} WHERE gone_at <= ?", (now,))
        self._db.execute(
            f"DELETE FROM volume_links WHERE volume_id NOT IN (SELECT id FROM {Kind.VOLUME.value})"
        )

    # ---- volume links ------------------------------------------------------------------------

    def _link_volume(self, volume_id: str, timeline: Timeline) -> None:
        servers: set[str] = set()
        for fields in [timeline.base, *(changes for _, changes in timeline.steps)]:
            for attachment in fields.get("attachments", []):
                servers.add(attachment["server_id"])
        self._db.execute("DELETE FROM volume_links WHERE volume_id = ?", (volume_id,))
        self._db.executemany(
            "INSERT INTO volume_links (volume_id, server_id) VALUES (?, ?)",
            [(volume_id, server_id) for server_id in sorted(servers)],
        )

    def linked_volumes(
        self, now: float, *, server_id: str | None = None, server_project_id: str | None = None
    ) -> list[tuple[str, str, Timeline]]:
        """``(server_id, volume_id, volume timeline)`` for every visible volume that is or will be
        attached to the server (or to any server of the project), in volume creation order."""
        sql = (
            "SELECT l.server_id, v.id, v.doc FROM volume_links l JOIN volumes v ON v.id = l.volume_id "
        )
        params: list[object] = []
        if server_id is not None:
            sql += "WHERE l.server_id = ? "
            params.append(server_id)
        elif server_project_id is not None:
            sql += "JOIN servers s ON s.id = l.server_id WHERE s.project_id = ? "
            params.append(server_project_id)
        else:
            sql += "WHERE 1 "
        sql += "AND (v.gone_at IS NULL OR v.gone_at > ?) ORDER BY v.rowid"
        params.append(now)
        rows = self._db.execute(sql, params).fetchall()
        return [(sid, vid, Timeline.from_json(json.loads(doc))) for sid, vid, doc in rows]

    # ---- ports (fixed-IP allocations) -----------------------------------------------------

    def ip_in_use(self, network_id: str, ip_int: int) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM ports WHERE network_id = ? AND ip_int = ?", (network_id, ip_int)
        ).fetchone()
        return row is not None

    def highest_ip(self, network_id: str) -> int | None:
        row = self._db.execute("SELECT MAX(ip_int) FROM ports WHERE network_id = ?", (network_id,)).fetchone()
        return None if row[0] is None else int(row[0])

    def used_ips(self, network_id: str) -> set[int]:
        rows = self._db.execute("SELECT ip_int FROM ports WHERE network_id = ?", (network_id,)).fetchall()
        return {int(row[0]) for row in rows}

    def add_port(self, network_id: str, ip_int: int, server_id: str) -> None:
        self._db.execute(
            "INSERT INTO ports (network_id, ip_int, server_id) VALUES (?, ?, ?)", (network_id, ip_int, server_id)
        )

    def release_ports(self, server_id: str) -> None:
        self._db.execute("DELETE FROM ports WHERE server_id = ?", (server_id,))

    # ---- meta --------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
