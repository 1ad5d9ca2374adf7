"""One SQLAlchemy engine for everything durable, its SQLite settings, migrations and online backup.

Theory of operation
-------------------
The embedded default is one SQLite file, ``<data-dir>/esc.db``. Every connection the pool hands out
is set up the same way (see :func:`_configure_sqlite_connection`):

* ``journal_mode=WAL``: readers never block the writer and the writer never blocks readers, so an
  ``escadm backup`` (a long read) runs while the server keeps committing;
* ``synchronous=FULL``: a commit returns only after the write-ahead log is on stable storage, so a
  ``kill -9`` (and even a power cut) loses nothing that was acknowledged;
* ``foreign_keys=ON`` and a busy timeout, so a second connection (a backup thread, a second process
  during start-up) waits for a lock instead of failing at once.

Transactions: Python's ``sqlite3`` (3.11) opens transactions lazily and only before DML, which breaks
read-modify-write and makes DDL non-transactional. We switch that off (``isolation_level=None``) and
let SQLAlchemy's ``begin`` event emit the ``BEGIN`` itself, as the SQLAlchemy SQLite documentation
recommends. :meth:`Database.write` begins with ``BEGIN IMMEDIATE``: the write lock is taken up front,
so two writers queue on the busy timeout rather than one of them failing with ``SQLITE_BUSY`` when it
upgrades a read lock mid-transaction (a busy timeout cannot resolve that case in WAL mode).
:meth:`Database.read` begins with a plain ``BEGIN``: one consistent snapshot for all its queries (on
PostgreSQL the read transaction is REPEATABLE READ for the same reason).

Threads: the stores are called from the asyncio loop thread, but the engine is shared with other
threads (``escadm backup``, ``asyncio.to_thread`` for big writes). File databases use a ``QueuePool``
with ``check_same_thread`` off (SQLAlchemy's default for files): each call checks out its own
connection, so threads never share a ``sqlite3.Connection`` mid-transaction. A ``:memory:`` database
exists only inside one connection, so it uses a ``StaticPool`` (one connection shared by all threads,
so one transaction at a time): good for tests, never for production.

Migrations: :meth:`Database.open` runs the alembic scripts shipped in ``migrations/`` up to head on a
connection of this engine (``migrations/env.py`` takes it from ``config.attributes``), inside one
``BEGIN IMMEDIATE`` transaction, so an old file is upgraded whole or not at all, and re-opening a
current file changes nothing. The same scripts run on PostgreSQL (a group of servers, CONTRACT section 8);
only the SQLite pragmas, the ``BEGIN`` flavour and :meth:`Database.backup` are SQLite-specific.

The event loop never writes: a write transaction waits for the in-process writer lock (held by another
thread's transaction for as long as it lasts) and for its disk flush, and the loop thread would serve
nobody meanwhile. The application names the loop's thread (:meth:`Database.guard_loop`); a write entered on
it is counted by call site (:attr:`Database.loop_writes`) and logged once per site, and, with
``ESC_NETCONF_LOOP_WRITES=fail`` in the environment (the live test harness sets it), refused with
:class:`LoopWriteError`, so a test that drives such a write fails. A write left on the loop on purpose says
why (``write(on_loop="...")``).

PostgreSQL: a plain ``postgresql://user@host:port/db`` URL gets psycopg 3 (the driver this project pins).
Every write transaction first takes one transaction-scoped advisory lock, the equivalent of SQLite's
``BEGIN IMMEDIATE`` across all the servers on the database, and then runs the write fence (the leadership
token check, :meth:`Database.set_write_fence`); two servers migrating at once queue on that lock too.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Connection, Engine, create_engine, make_url
from sqlalchemy.pool import StaticPool

from esc_netconf.private_files import private_file
from esc_netconf.store.errors import BackupError, MigrationError, StoreClosedError, StoreError, WriterLockBusy

__all__ = ["DEFAULT_FILENAME", "BUSY_TIMEOUT_MS", "LOOP_WRITES_ENV", "Database", "EncodedJson", "LoopWriteError"]

log = logging.getLogger(__name__)

DEFAULT_FILENAME = "esc.db"
BUSY_TIMEOUT_MS = 15_000
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Execution option naming the statement that opens a transaction on SQLite (see the module docstring).
_BEGIN_OPTION = "esc_sqlite_begin"
_BEGIN_WRITE = "BEGIN IMMEDIATE"
_BEGIN_READ = "BEGIN"
# Execution option holding the write fence (see Database.set_write_fence); PostgreSQL only.
_FENCE_OPTION = "esc_write_fence"
# Execution option: milliseconds this write may wait for the writer lock (Database.write(lock_wait=)).
_LOCK_WAIT_OPTION = "esc_writer_lock_wait_ms"
# PostgreSQL's SQLSTATE for a lock not obtained within lock_timeout.
_LOCK_NOT_AVAILABLE = "55P03"
# A read on PostgreSQL: every query of the transaction sees the snapshot its first one took (the default,
# READ COMMITTED, takes one per query: a read of several tables could mix two commits). Reads never fail
# with a serialization error at this level; only writers can.
_POSTGRESQL_READ = "REPEATABLE READ"

POSTGRESQL_DRIVER = "postgresql+psycopg"
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
# The advisory lock key (pg_advisory_xact_lock) every write transaction on PostgreSQL takes: "esc-wr".
WRITER_LOCK_KEY = 0x6573632D7772

LOOP_WRITES_ENV = "ESC_NETCONF_LOOP_WRITES"
"""``fail``: a write entered on the guarded loop thread raises :class:`LoopWriteError` (tests); otherwise it
is counted and logged once per call site."""

WriteFence = Callable[[Connection], None]
"""Called inside every write transaction, after the writer lock; raises to refuse the write."""


def _to_url(url_or_path: str | os.PathLike[str]) -> URL:
    """A database URL as given, ``:memory:`` as an in-memory SQLite, anything else as a file path.

    A plain ``postgresql://`` (or ``postgres://``) URL gets the driver this project installs, psycopg 3:
    SQLAlchemy's own default for that scheme is psycopg2, which is not a dependency.
    """
    if isinstance(url_or_path, str):
        if url_or_path == ":memory:":
            return make_url("sqlite://")
        if "://" in url_or_path:
            if url_or_path.startswith("postgres://"):
                url_or_path = "postgresql://" + url_or_path.removeprefix("postgres://")
            try:
                url = make_url(url_or_path)
            except exc.ArgumentError as error:
                raise StoreError(f"not a database URL: {url_or_path!r} ({error})") from error
            if url.get_backend_name() not in SUPPORTED_BACKENDS:
                raise StoreError(f"unsupported database {url.render_as_string(hide_password=True)}: use "
                                 "sqlite:///<file> or postgresql://user@host:port/db")
            if url.drivername == "postgresql":
                url = url.set(drivername=POSTGRESQL_DRIVER)
            return url
    return URL.create("sqlite", database=str(Path(url_or_path).expanduser().absolute()))


def _is_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


class LoopWriteError(RuntimeError):
    """A write transaction was entered on the event loop's thread (a bug: see the module docstring)."""


def _caller_site() -> str:
    """``path:line function`` of the code that asked for the write (the first frame outside this module
    and ``contextlib``: a store's method) and of its caller: ``store < caller``."""
    frame = sys._getframe(2)
    while frame.f_back is not None and frame.f_code.co_filename in (__file__, _CONTEXTLIB):
        frame = frame.f_back
    sites = []
    for _ in range(2):
        code = frame.f_code
        parts = Path(code.co_filename).parts
        short = "/".join(parts[parts.index("esc_netconf"):] if "esc_netconf" in parts else parts[-2:])
        sites.append(f"{short}:{frame.f_lineno} {code.co_name}")
        if frame.f_back is None:
            break
        frame = frame.f_back
    return " < ".join(sites)


_CONTEXTLIB = sys.modules[contextmanager.__module__].__file__


def _configure_sqlite_connection(dbapi_connection: Any, wal: bool) -> None:
    """The pragmas every SQLite connection gets (see the module docstring for why)."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if wal:
            mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"SQLite refused write-ahead logging (journal_mode is {mode!r})")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


class EncodedJson(str):
    """The value of a JSON column, encoded already (``json.dumps``): written as it is. Why: a writer that
    encodes its rows before it takes the write lock holds the lock only while they go in (``SqlCoreStore.apply``:
    a fifth of a deploy's big batches was their JSON), and every other writer waits that much less."""

    __slots__ = ()


def _json_dumps(value: Any) -> str:
    """The engines' JSON encoder: ``json.dumps``, but for a value :class:`EncodedJson` already."""
    return value if isinstance(value, EncodedJson) else json.dumps(value)


def _create_engine(url: URL) -> Engine:
    if url.get_backend_name() == "postgresql":
        return _create_postgresql_engine(url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, json_serializer=_json_dumps)
    memory = _is_memory(url)
    if memory:
        engine = create_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}, json_serializer=_json_dumps
        )
    else:
        assert url.database is not None
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_size=5, max_overflow=10, pool_timeout=30, json_serializer=_json_dumps)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        _configure_sqlite_connection(dbapi_connection, wal=not memory)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(connection.get_execution_options().get(_BEGIN_OPTION, _BEGIN_READ))

    return engine


def _create_postgresql_engine(url: URL) -> Engine:
    """PostgreSQL: every write transaction first takes one transaction-scoped advisory lock.

    Why: the stores were written for SQLite's single writer (``BEGIN IMMEDIATE``), e.g. :func:`upsert`
    relies on nobody inserting the key between its update and its insert. The advisory lock gives the same
    guarantee on PostgreSQL across every process on the database, and it is the one point every write
    passes, where the write fence (:meth:`Database.set_write_fence`) is checked. Reads take no lock.
    """
    engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, pool_timeout=30,
                           connect_args={"connect_timeout": 10}, json_serializer=_json_dumps)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get(_BEGIN_OPTION) == _BEGIN_WRITE:
            wait_ms = options.get(_LOCK_WAIT_OPTION)
            if wait_ms is None:
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITER_LOCK_KEY})")
            else:  # one round trip: the bound is local to this transaction and set before the wait
                connection.exec_driver_sql(f"SELECT set_config('lock_timeout', '{int(wait_ms)}', true), "
                                           f"pg_advisory_xact_lock({WRITER_LOCK_KEY})")
            fence = options.get(_FENCE_OPTION)
            if fence is not None:
                fence(connection)

    return engine


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _fsync_path(path: Path, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _discard(path: Path) -> None:
    """Remove a half-written file if there is one; a failure here must not hide the first error."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        log.warning("could not remove %s", path)


class Database:
    """The durable store's engine. Open with :meth:`open` (which migrates), close with :meth:`close`.

    The stores (:class:`~esc_netconf.store.SqlConfigStore`, :class:`~esc_netconf.store.SqlReplayLog`,
    :class:`~esc_netconf.store.SqlCoreStore`) take a ``Database`` and run each call in its own
    :meth:`read` or :meth:`write` transaction; a call that returns has committed.
    """

    def __init__(self, engine: Engine, url: URL) -> None:
        """Wrap an engine made by :func:`_create_engine`; use :meth:`open` instead."""
        self._engine = engine
        self._url = url
        self._closed = False
        self._fence: WriteFence | None = None
        #: This process's writers take turns here before ``BEGIN IMMEDIATE``.  Why: SQLite's busy handler
        #: polls with sleeps of 1, 2, 5, 10 ... 100 ms, so a writer that met another thread's transaction
        #: (the core's group commit, the replay log's writer, the datastore on the event loop) slept for
        #: longer than that transaction lasted; a lock wakes it as soon as the other one commits.
        self._writers = threading.RLock()
        self._loop_thread: int | None = None
        self._strict_loop = False
        #: Writes entered on the guarded loop thread, by call site (see :meth:`guard_loop`).
        self.loop_writes: Counter[str] = Counter()

    # --- opening and closing ------------------------------------------------------------------------

    @classmethod
    def open(cls, url_or_path: str | os.PathLike[str], *, upgrade: bool = True) -> Database:
        """Open (creating if needed) and migrate to head.

        ``url_or_path``: an SQLAlchemy URL (``sqlite:///var/esc.db``, ``postgresql+psycopg://...``),
        the path of an SQLite file, or ``":memory:"`` (a private in-memory database, for tests).
        ``upgrade=False`` skips the migration run (for tools that only inspect a file).
        """
        url = _to_url(url_or_path)
        try:
            engine = _create_engine(url)
        except (ImportError, exc.NoSuchModuleError) as error:
            raise StoreError(f"the database driver of {url.render_as_string(hide_password=True)} is not installed "
                             f"({error}); a plain postgresql:// URL uses the one installed (psycopg 3)") from error
        database = cls(engine, url)
        if upgrade:
            try:
                database.upgrade()
            except BaseException:
                database.close()
                raise
        return database

    @classmethod
    def open_data_dir(cls, data_dir: str | os.PathLike[str]) -> Database:
        """Open ``<data_dir>/esc.db`` (the embedded default), creating the directory if needed."""
        return cls.open(cls.data_dir_url(data_dir))

    @staticmethod
    def data_dir_url(data_dir: str | os.PathLike[str]) -> str:
        """``sqlite:///<absolute data_dir>/esc.db``."""
        path = Path(data_dir).expanduser().absolute() / DEFAULT_FILENAME
        return URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)

    def close(self) -> None:
        """Release every pooled connection; later calls raise :class:`StoreClosedError`. Idempotent."""
        if not self._closed:
            self._closed = True
            self._engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- what it is ---------------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (thread-safe; prefer :meth:`read` and :meth:`write`)."""
        self._check_open()
        return self._engine

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._url.render_as_string(hide_password=True)

    @property
    def path(self) -> Path | None:
        """The SQLite file, or ``None`` for an in-memory or non-SQLite database."""
        if self._url.get_backend_name() != "sqlite" or _is_memory(self._url):
            return None
        assert self._url.database is not None
        return Path(self._url.database)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def is_postgresql(self) -> bool:
        """True when this database can be shared by a group of servers (CONTRACT section 8)."""
        return self._url.get_backend_name() == "postgresql"

    def set_write_fence(self, fence: WriteFence | None) -> None:
        """Check ``fence`` inside every later write transaction, after the writer lock (PostgreSQL only).

        The leadership lease installs one that compares the fencing token in the database with its own,
        so a server that lost the lease cannot commit anything, whatever its own clock believes.
        """
        if fence is not None and not self.is_postgresql:
            raise StoreError(f"a write fence needs PostgreSQL, not {self.url}")
        self._fence = fence

    def guard_loop(self, thread_id: int | None, *, strict: bool | None = None) -> None:
        """Watch for write transactions entered on the thread ``thread_id`` (the event loop's; ``None``
        stops watching): each is counted in :attr:`loop_writes` and logged once per call site, and refused
        with :class:`LoopWriteError` when ``strict`` (default: ``ESC_NETCONF_LOOP_WRITES=fail``)."""
        self._loop_thread = thread_id
        self._strict_loop = os.environ.get(LOOP_WRITES_ENV) == "fail" if strict is None else strict

    def _on_loop_write(self) -> None:
        site = _caller_site()
        self.loop_writes[site] += 1
        if self._strict_loop:
            log.error("a store write on the event loop's thread, from %s", site)
            raise LoopWriteError(f"a store write on the event loop's thread, from {site}: "
                                 "run it on a writer thread and await it")
        if self.loop_writes[site] == 1:
            log.warning("a store write on the event loop's thread, from %s (the loop waits for it)", site)

    # --- transactions -------------------------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection inside one read transaction (one consistent snapshot, on PostgreSQL too: REPEATABLE
        READ); rolled back at the end."""
        with self._transaction(_BEGIN_READ) as connection:
            yield connection

    @contextmanager
    def write(self, *, on_loop: str | None = None, lock_wait: float | None = None) -> Iterator[Connection]:
        """A connection inside one write transaction, committed (durably) when the block exits
        normally and rolled back if it raises.

        ``on_loop``: why this write may run on the event loop's thread (see :meth:`guard_loop`); a write
        without it, entered there, is counted (and refused in strict mode).

        ``lock_wait``: on PostgreSQL, give up after waiting this many seconds for the writer lock (default:
        wait for as long as it is held). For a caller that can act on a holder that does not let go
        (``Leadership.try_acquire``).

        :raises LoopWriteError: entered on the guarded loop thread, strict, without ``on_loop``.
        :raises WriterLockBusy: ``lock_wait`` passed and another session still holds the writer lock.
        """
        if on_loop is None and self._loop_thread is not None and threading.get_ident() == self._loop_thread:
            self._on_loop_write()
        wait_ms = None if lock_wait is None or not self.is_postgresql else max(1, round(lock_wait * 1000))
        with self._writers, self._transaction(_BEGIN_WRITE, lock_wait_ms=wait_ms) as connection:
            yield connection

    @contextmanager
    def _transaction(self, begin: str, *, lock_wait_ms: int | None = None) -> Iterator[Connection]:
        self._check_open()
        try:
            with self._engine.connect() as connection:
                options: dict[str, Any] = {_BEGIN_OPTION: begin, _FENCE_OPTION: self._fence,
                                           _LOCK_WAIT_OPTION: lock_wait_ms}
                if begin == _BEGIN_READ and self.is_postgresql:
                    options["isolation_level"] = _POSTGRESQL_READ
                connection.execution_options(**options)
                with connection.begin():
                    yield connection
        except exc.DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
                raise WriterLockBusy(f"the writer lock is held by another session: {error.orig}") from error
            # Locked past the busy timeout, disk full, I/O error, corrupt file: the caller cannot
            # repair any of these, but it can tell them from a bug by type.
            raise StoreError(f"database error: {error.orig}") from error

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError(f"database {self.url} is closed")

    # --- migrations ---------------------------------------------------------------------------------

    def upgrade(self) -> None:
        """Run every migration the file has not had yet, in one transaction (a no-op at head)."""
        self._check_open()
        config = _alembic_config()
        try:
            with self._engine.connect() as connection:
                connection.execution_options(**{_BEGIN_OPTION: _BEGIN_WRITE})
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except (CommandError, RevisionError) as error:
            raise MigrationError(
                f"cannot migrate {self.url} to revision {self.head_revision()}: {error} "
                "(was it written by a newer release?)"
            ) from error
        except exc.DBAPIError as error:
            # one line: the driver's messages run over several (psycopg adds a hint on its own line)
            raise MigrationError(f"cannot migrate {self.url}: {' '.join(str(error.orig).split())}") from error

    def revision(self) -> str | None:
        """The schema revision the database is at (``None`` before the first migration)."""
        with self.read() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    @staticmethod
    def head_revision() -> str:
        """The newest revision this code ships."""
        head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
        if head is None:
            raise MigrationError(f"no migration scripts in {MIGRATIONS_DIR}")
        return head

    # --- backup -------------------------------------------------------------------------------------

    def backup(self, dest_path: str | os.PathLike[str]) -> Path:
        """Write a consistent copy of the live database to ``dest_path`` and return its path.

        Uses SQLite's online backup API in a single step, which reads one snapshot while writers go on
        (WAL). The copy is a self-contained rollback-journal file (no ``-wal`` beside it), written to a
        hidden temporary name, synced, then renamed over ``dest_path``: a crash leaves either the old
        backup or the new one, never half of one. Safe to call from any thread.
        """
        self._check_open()
        if self._url.get_backend_name() != "sqlite":
            raise BackupError(f"online backup is implemented for SQLite only, not {self.url}")
        dest = Path(dest_path).expanduser().absolute()
        source_path = self.path
        if source_path is not None and dest.exists() and dest.samefile(source_path):
            raise BackupError(f"refusing to back {source_path} up onto itself")
        partial = dest.with_name(f".{dest.name}.partial")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            partial.unlink(missing_ok=True)
            private_file(partial)  # a backup holds what the database holds: readable by its owner only
            raw = self._engine.raw_connection()
            try:
                driver = raw.driver_connection  # None only once the pool has invalidated it
                if driver is None:
                    raise BackupError(f"the connection to {self.url} was invalidated before the backup")
                target = sqlite3.connect(partial, isolation_level=None)
                try:
                    driver.backup(target)
                    target.execute("PRAGMA journal_mode = DELETE")
                    verdict = target.execute("PRAGMA quick_check").fetchone()[0]
                finally:
                    target.close()
            finally:
                raw.close()
            if verdict != "ok":
                raise BackupError(f"the copy of {self.url} fails its integrity check: {verdict}")
            _fsync_path(partial)
            os.replace(partial, dest)
            _fsync_path(dest.parent, directory=True)
        except (OSError, sqlite3.Error, exc.DBAPIError) as error:
            _discard(partial)
            raise BackupError(f"cannot back {self.url} up to {dest}: {error}") from error
        except BackupError:
            _discard(partial)
            raise
        log.info("backed up %s to %s", self.url, dest)
        return dest
