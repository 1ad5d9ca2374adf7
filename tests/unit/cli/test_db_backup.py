"""escadm backup/restore on real SQLite files (no server): copies, refusals, and the in-use guard."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from esc_netconf.cli.db_backup import (
    backup_data_dir,
    check_backup_file,
    database_in_use,
    restore_data_dir,
)
from esc_netconf.cli.errors import RequestRefused, UsageError
from esc_netconf.store import Database, SqlConfigStore


def make_data_dir(path: Path, config: bytes) -> Path:
    with Database.open(path / "esc.db") as database:
        SqlConfigStore(database).save_running(config)
    return path


def running_config(data_dir: Path) -> bytes | None:
    with Database.open(data_dir / "esc.db") as database:
        return SqlConfigStore(database).load_running()


def test_backup_then_restore_into_a_fresh_data_dir(tmp_path: Path) -> None:
    source = make_data_dir(tmp_path / "a", b"<data><x>1</x></data>")
    result = backup_data_dir(source, tmp_path / "backup.db")
    assert result.path == tmp_path / "backup.db" and result.size > 0
    assert result.revision == Database.head_revision()
    restored = restore_data_dir(tmp_path / "fresh", tmp_path / "backup.db")
    assert restored.previous is None and restored.revision == Database.head_revision()
    assert running_config(tmp_path / "fresh") == b"<data><x>1</x></data>"


def test_backup_while_the_database_is_open_is_allowed(tmp_path: Path) -> None:
    source = make_data_dir(tmp_path / "a", b"<data><y/></data>")
    with Database.open(source / "esc.db") as database:
        SqlConfigStore(database).save_running(b"<data><z/></data>")
        backup_data_dir(source, tmp_path / "b.db")
    restore_data_dir(tmp_path / "fresh", tmp_path / "b.db")
    assert running_config(tmp_path / "fresh") == b"<data><z/></data>"


def test_backup_of_a_data_dir_without_database_is_refused_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no database"):
        backup_data_dir(tmp_path / "empty", tmp_path / "b.db")
    assert not (tmp_path / "empty" / "esc.db").exists()
    assert not (tmp_path / "b.db").exists()


def test_in_use_while_open_and_free_after_close(tmp_path: Path) -> None:
    data_dir = make_data_dir(tmp_path / "a", b"<data/>")
    database = Database.open(data_dir / "esc.db")
    SqlConfigStore(database).load_running()
    try:
        assert database_in_use(data_dir / "esc.db")
    finally:
        database.close()
    assert not database_in_use(data_dir / "esc.db")
    assert not database_in_use(tmp_path / "none" / "esc.db")


def test_restore_under_an_open_database_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    make_data_dir(tmp_path / "a", b"<data><old/></data>")
    backup_data_dir(make_data_dir(tmp_path / "b", b"<data><new/></data>"), tmp_path / "b.db")
    database = Database.open(tmp_path / "a" / "esc.db")
    SqlConfigStore(database).load_running()
    try:
        with pytest.raises(RequestRefused, match="in use"):
            restore_data_dir(tmp_path / "a", tmp_path / "b.db")
    finally:
        database.close()
    assert running_config(tmp_path / "a") == b"<data><old/></data>"
    assert not list((tmp_path / "a").glob("esc.db.before-restore-*"))


def test_restore_keeps_the_replaced_database_with_its_write_ahead_log(tmp_path: Path) -> None:
    data_dir = make_data_dir(tmp_path / "a", b"<data><old/></data>")
    backup_data_dir(make_data_dir(tmp_path / "b", b"<data><new/></data>"), tmp_path / "b.db")
    # A process that dies after committing (kill -9) leaves its last commit only in esc.db-wal.
    script = (
        "import os, sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('PRAGMA journal_mode=WAL')\n"
        "c.execute('CREATE TABLE crash_marker (v TEXT)')\n"
        "c.execute(\"INSERT INTO crash_marker VALUES ('in the wal')\")\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(data_dir / "esc.db")], check=True, timeout=30)
    assert (data_dir / "esc.db-wal").exists()
    result = restore_data_dir(data_dir, tmp_path / "b.db")
    assert result.previous is not None
    with sqlite3.connect(result.previous) as old:
        assert old.execute("SELECT v FROM crash_marker").fetchall() == [("in the wal",)]
    assert not (data_dir / "esc.db-wal").exists()
    assert running_config(data_dir) == b"<data><new/></data>"
    second = restore_data_dir(data_dir, tmp_path / "b.db")
    assert second.previous is not None and second.previous != result.previous


def test_restore_refuses_files_that_are_not_backups(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        check_backup_file(tmp_path / "missing.db")
    text = tmp_path / "text.db"
    text.write_text("hello, this is not a database at all" * 100)
    with pytest.raises(UsageError, match="not an SQLite database"):
        check_backup_file(text)
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE t (x)")
    with pytest.raises(UsageError, match="not an esc-netconf database"):
        check_backup_file(foreign)


def test_restore_refuses_a_backup_from_a_newer_release(tmp_path: Path) -> None:
    backup_data_dir(make_data_dir(tmp_path / "a", b"<data/>"), tmp_path / "b.db")
    with sqlite3.connect(tmp_path / "b.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999_future'")
    with pytest.raises(UsageError, match="newer release"):
        restore_data_dir(tmp_path / "fresh", tmp_path / "b.db")
    assert not (tmp_path / "fresh" / "esc.db").exists()
