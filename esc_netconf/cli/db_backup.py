"""``escadm backup`` and ``escadm restore``: the controller's own database, copied safely.

Backup is online: :meth:`esc_netconf.store.Database.backup` copies one consistent snapshot with
SQLite's backup API while the server keeps writing (WAL lets a reader and the writer proceed
together), then syncs and renames the copy into place. Everything committed before the backup began
is in the copy; nothing half-written is.

Restore is offline: it replaces ``<data-dir>/esc.db`` and must never run under a live server (the
server would keep writing into the file it has open while we rename another one over it). We find
out whether any process has the database open by asking SQLite itself for an exclusive lock with no
wait: in WAL mode every open connection holds a shared lock on the file, so the request fails exactly
while a server (or any other client) has it open. The old database is first copied aside, with the
contents of its write-ahead log, as ``esc.db.before-restore-<UTC time>``; then the stale ``-wal`` and
``-shm`` files go (a leftover log must never be replayed onto the restored file) and the restored copy
is renamed into place. The next ``esc-netconf serve`` migrates it if it was written by an older release.

The simulated VIM's state (``<data-dir>/sim``) is not part of the backup, as a real cloud is not:
the controller's database is what a controller backup holds.

SQLAlchemy and alembic are imported inside the functions, so the rest of ``escadm`` starts quickly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from esc_netconf.cli.errors import RequestRefused, UsageError
from esc_netconf.private_files import private_dir, private_file

DB_FILENAME = "esc.db"


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    size: int
    revision: str | None


@dataclass(frozen=True, slots=True)
class RestoreResult:
    path: Path
    revision: str
    previous: Path | None


def database_path(data_dir: Path) -> Path:
    return data_dir.expanduser().absolute() / DB_FILENAME


def _revision_of(path: Path) -> str | None:
    """The alembic revision recorded in an SQLite file (``None`` if it has none), read-only."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        connection.close()
    return str(row[0]) if row else None


def backup_data_dir(data_dir: Path, output: Path) -> BackupResult:
    """Copy ``<data_dir>/esc.db`` to ``output`` (a consistent copy, safe while the server runs).

    :raises UsageError: there is no database in ``data_dir``.
    :raises RequestRefused: the copy cannot be taken or written.
    """
    from esc_netconf.store import Database, StoreError

    source = database_path(data_dir)
    if not source.is_file():
        raise UsageError(f"There is no database in [{data_dir}] (expected {source}).")
    try:
        with Database.open(source, upgrade=False) as database:
            written = database.backup(output)
    except StoreError as exc:
        raise RequestRefused(str(exc)) from None
    return BackupResult(written, written.stat().st_size, _revision_of(written))


def check_backup_file(path: Path) -> str:
    """The schema revision of a backup, after checking it is a sound esc-netconf database we can run.

    :raises UsageError: missing, not SQLite, damaged, not ours, or written by a newer release.
    """
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from esc_netconf.store.database import MIGRATIONS_DIR

    if not path.is_file():
        raise UsageError(f"The backup file [{path}] does not exist.")
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise UsageError(f"The file [{path}] is not an SQLite database: {exc}.") from None
    if verdict != "ok":
        raise UsageError(f"The backup [{path}] is damaged: {verdict}.")
    revision = _revision_of(path)
    if revision is None:
        raise UsageError(f"The file [{path}] is not an esc-netconf database (it has no schema revision).")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    scripts = ScriptDirectory.from_config(config)
    if revision not in {script.revision for script in scripts.walk_revisions()}:
        raise UsageError(
            f"The backup [{path}] is at schema revision {revision}, which this release does not know "
            "(was it written by a newer release?)."
        )
    return revision


def database_in_use(db_path: Path) -> bool:
    """True while any process has the database open (see the module docstring for how we know)."""
    if not db_path.exists():
        return False
    connection = sqlite3.connect(db_path, timeout=0, isolation_level=None)
    try:
        connection.execute("PRAGMA locking_mode = EXCLUSIVE")
        connection.execute("BEGIN EXCLUSIVE")
        connection.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return True
        raise
    finally:
        connection.close()
    return False


def _fsync(path: Path, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_aside(db_path: Path) -> Path:
    """A self-contained copy of the current database (its WAL included), beside it."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    aside = db_path.with_name(f"{db_path.name}.before-restore-{stamp}")
    counter = 1
    while aside.exists():  # two restores within one second keep both previous databases
        counter += 1
        aside = db_path.with_name(f"{db_path.name}.before-restore-{stamp}-{counter}")
    source = sqlite3.connect(db_path, timeout=0, isolation_level=None)
    try:
        target = sqlite3.connect(private_file(aside), isolation_level=None)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()
    finally:
        source.close()
    _fsync(aside)
    return aside


def restore_data_dir(data_dir: Path, backup: Path) -> RestoreResult:
    """Make ``backup`` the database of ``data_dir`` (created if needed); the server must be stopped.

    :raises UsageError: the backup is unusable (see :func:`check_backup_file`).
    :raises RequestRefused: a process has the data dir's database open, or the files cannot be written.
    """
    revision = check_backup_file(backup)
    db_path = database_path(data_dir)
    try:
        private_dir(db_path.parent)
        if database_in_use(db_path):
            raise RequestRefused(
                f"The database [{db_path}] is in use, most likely by a running server: stop the server "
                "(esc-netconf serve) on this data dir first."
            )
        previous = _copy_aside(db_path) if db_path.exists() else None
        partial = db_path.with_name(f".{db_path.name}.restore.partial")
        shutil.copyfile(backup, private_file(partial))
        _fsync(partial)
        for stale in (db_path.with_name(db_path.name + "-wal"), db_path.with_name(db_path.name + "-shm")):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        os.replace(partial, db_path)
        _fsync(db_path.parent, directory=True)
    except (OSError, sqlite3.Error) as exc:
        with contextlib.suppress(OSError):
            db_path.with_name(f".{db_path.name}.restore.partial").unlink()
        raise RequestRefused(f"Cannot restore [{backup}] into [{data_dir}]: {exc}.") from None
    return RestoreResult(db_path, revision, previous)
