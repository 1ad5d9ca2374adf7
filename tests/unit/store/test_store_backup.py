"""Database.backup: a consistent online copy while a writer is active."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from esc_netconf.store import BackupError, Database, SqlConfigStore, SqlReplayLog

EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


@pytest.mark.timeout(60)
def test_backup_while_a_writer_appends_is_a_consistent_prefix(database: Database, tmp_path: Path) -> None:
    SqlConfigStore(database).save_running(b"<data><x>1</x></data>")
    log = SqlReplayLog(database)
    started = threading.Event()
    stop = threading.Event()
    appended: list[int] = []

    def writer() -> None:
        while not stop.is_set():
            appended.append(log.append("escEvent", datetime.now(timezone.utc), b"<e/>"))
            if len(appended) == 50:
                started.set()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        assert started.wait(timeout=20)
        at_least = len(appended)
        target = database.backup(tmp_path / "backups" / "esc-backup.db")
        deadline = time.monotonic() + 20
        while len(appended) < at_least + 20 and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        stop.set()
        thread.join(timeout=20)
    assert len(appended) >= at_least + 20  # the writer went on writing around the backup

    assert target == tmp_path / "backups" / "esc-backup.db"
    assert not Path(f"{target}-wal").exists()
    assert not list(target.parent.glob(".*partial"))
    with sqlite3.connect(target) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    with Database.open(target) as copy:
        assert copy.revision() == "0009_running_config_schema"
        assert SqlConfigStore(copy).load_running() == b"<data><x>1</x></data>"
        copied = [seq for seq, _t, _x in SqlReplayLog(copy).read_with_seq("escEvent", EPOCH, None)]
    assert len(copied) >= at_least
    assert copied == appended[: len(copied)]


def test_backup_replaces_an_older_backup(database: Database, tmp_path: Path) -> None:
    store = SqlConfigStore(database)
    target = tmp_path / "b.db"
    store.save_running(b"<data>old</data>")
    database.backup(target)
    store.save_running(b"<data>new</data>")
    database.backup(target)
    with Database.open(target) as copy:
        assert SqlConfigStore(copy).load_running() == b"<data>new</data>"


def test_backup_of_a_memory_database(tmp_path: Path) -> None:
    with Database.open(":memory:") as memory_database:
        SqlConfigStore(memory_database).save_running(b"<data>m</data>")
        target = memory_database.backup(tmp_path / "m.db")
    with Database.open(target) as copy:
        assert SqlConfigStore(copy).load_running() == b"<data>m</data>"


def test_backup_onto_the_live_file_is_refused(database: Database) -> None:
    assert database.path is not None
    with pytest.raises(BackupError, match="onto itself"):
        database.backup(database.path)


def test_backup_to_an_unwritable_place_is_a_backup_error(database: Database, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(BackupError):
        database.backup(blocker / "b.db")
