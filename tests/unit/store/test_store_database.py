"""Database: opening, SQLite settings, migrations, transactions, closing."""

from __future__ import annotations

import re
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import column as sa_column
from sqlalchemy import insert, inspect, select, text
from sqlalchemy import table as sa_table

from esc_netconf.errors import EscError
from esc_netconf.netconf.persistence import ConfigPart
from esc_netconf.store import Database, MigrationError, SqlConfigStore, StoreClosedError, StoreError
from esc_netconf.store import database as database_module
from esc_netconf.store.schema import metadata, running_config

ALL_TABLES = {
    "alembic_version",
    "running_config",
    "running_config_parts",
    "replay_events",
    "core_tenants",
    "core_deployments",
    "core_vms",
    "core_event_journal",
    "core_operations",
    "backup_snapshots",
    "backup_operations",
    "callback_registrations",
    "callback_outbox",
    "ha_lease",
}


def _schema_sql(path: Path) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(path) as raw:
        return raw.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()


def test_fresh_file_is_migrated_to_head(database: Database, data_dir: Path) -> None:
    assert database.path == data_dir / "esc.db"
    assert database.path.is_file()
    assert database.revision() == Database.head_revision() == "0009_running_config_schema"
    assert set(inspect(database.engine).get_table_names()) == ALL_TABLES


def test_migrated_schema_is_exactly_the_schema_the_code_queries(memory_database: Database) -> None:
    """On each engine (SQLite and PostgreSQL): the migrations make exactly the tables schema.py declares."""
    with memory_database.read() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_reopen_at_head_changes_nothing(data_dir: Path) -> None:
    with Database.open_data_dir(data_dir) as first:
        with first.write() as connection:
            connection.execute(insert(running_config).values(id=1, version=7, saved_at_us=0))
        path = first.path
    assert path is not None
    before = _schema_sql(path)
    with Database.open_data_dir(data_dir) as second:
        assert second.revision() == "0009_running_config_schema"
        with second.read() as connection:
            assert connection.execute(select(running_config.c.version)).scalar_one() == 7
    assert _schema_sql(path) == before


def test_an_old_file_is_upgraded_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = Database.open(path, upgrade=False)
    with old.engine.connect() as connection:
        config = database_module._alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0001_netconf")
    assert old.revision() == "0001_netconf"
    with old.write() as connection:
        connection.execute(insert(_OLD_RUNNING_CONFIG).values(id=1, version=3, saved_at_us=5, xml=b"<data>x</data>"))
    old.close()

    with Database.open(path) as upgraded:
        assert upgraded.revision() == "0009_running_config_schema"
        assert "core_vms" in inspect(upgraded.engine).get_table_names()
        with upgraded.read() as connection:
            assert connection.execute(select(running_config.c.version)).scalar_one() == 3
        # the single document moved, as it was, into one part: the datastore splits it at its next commit
        assert SqlConfigStore(upgraded).load_parts() == [ConfigPart("[]", "", 0, b"<data>x</data>")]


_OLD_RUNNING_CONFIG = sa_table("running_config", sa_column("id"), sa_column("version"), sa_column("saved_at_us"),
                               sa_column("xml"))
"""``running_config`` before revision 0007, which moved its document into ``running_config_parts``."""


def test_the_downgrade_of_0007_puts_the_parts_back_into_one_document(tmp_path: Path) -> None:
    with Database.open(tmp_path / "esc.db") as database:
        SqlConfigStore(database).save_parts([
            ConfigPart('[["{urn:e}top"]]', "", 0, b'<top xmlns="urn:e"><list/></top>'),
            ConfigPart('[["{urn:e}top"],["list"],["entry","b"]]', '[["{urn:e}top"]]', 2,
                       b'<list xmlns="urn:e"><entry><k>b</k></entry></list>'),
            ConfigPart('[["{urn:e}top"],["list"],["entry","a"]]', '[["{urn:e}top"]]', 1,
                       b'<list xmlns="urn:e"><entry><k>a</k></entry></list>'),
        ], ())
        config = database_module._alembic_config()
        with database.engine.connect() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0006_ha_lease")
            connection.commit()
        with database.read() as connection:
            assert connection.execute(select(_OLD_RUNNING_CONFIG.c.xml)).scalar_one() == (
                b'<data xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><top xmlns="urn:e"><list><entry><k>a</k></entry>'
                b"<entry><k>b</k></entry></list></top></data>")


def test_downgrade_scripts_undo_their_upgrades(memory_database: Database) -> None:
    database = memory_database
    config = database_module._alembic_config()
    with database.engine.connect() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(database.engine).get_table_names()) == {"alembic_version"}
    database.upgrade()
    assert set(inspect(database.engine).get_table_names()) == ALL_TABLES


def test_a_file_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    Database.open(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    with pytest.raises(MigrationError, match="0099_from_the_future"):
        Database.open(path)


def test_sqlite_connections_are_durable_and_wait_for_locks(database: Database) -> None:
    with database.read() as connection:
        pragma = lambda name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("synchronous") == 2  # FULL
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") == database_module.BUSY_TIMEOUT_MS


def test_a_write_that_raises_is_rolled_back(database: Database) -> None:
    class Boom(Exception):
        """Raised inside the transaction."""

    with pytest.raises(Boom):
        with database.write() as connection:
            connection.execute(insert(running_config).values(id=1, version=1, saved_at_us=0))
            raise Boom
    with database.read() as connection:
        assert connection.execute(select(running_config.c.id)).all() == []


def test_lock_held_past_the_busy_timeout_is_a_store_error(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database_module, "BUSY_TIMEOUT_MS", 50)
    with Database.open_data_dir(data_dir) as db:
        assert db.path is not None
        blocker = sqlite3.connect(db.path, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            started = time.monotonic()
            with pytest.raises(StoreError, match="locked") as caught:
                with db.write() as connection:
                    connection.execute(text("SELECT 1"))
            assert isinstance(caught.value, EscError)
            assert time.monotonic() - started < 5
        finally:
            blocker.close()


def test_memory_database_is_one_database_for_every_thread(memory_database: Database) -> None:
    assert memory_database.path is None

    def writer() -> None:
        with memory_database.write() as connection:
            connection.execute(insert(running_config).values(id=1, version=9, saved_at_us=0))

    thread = threading.Thread(target=writer)
    thread.start()
    thread.join(timeout=10)
    with memory_database.read() as connection:
        assert connection.execute(select(running_config.c.version)).scalar_one() == 9


def test_two_memory_databases_are_separate() -> None:
    with Database.open(":memory:") as one, Database.open("sqlite://") as two:
        with one.write() as connection:
            connection.execute(insert(running_config).values(id=1, version=1, saved_at_us=0))
        with two.read() as connection:
            assert connection.execute(select(running_config.c.id)).all() == []


def test_urls_and_paths(tmp_path: Path) -> None:
    url = Database.data_dir_url(tmp_path / "d")
    assert url == f"sqlite:///{tmp_path}/d/esc.db"
    with Database.open(url) as by_url:
        assert by_url.path == tmp_path / "d" / "esc.db"
    with Database.open(tmp_path / "d" / "esc.db") as by_path:
        assert by_path.url == url
        assert by_path.revision() == "0009_running_config_schema"
    with Database.open(str(tmp_path / "nested" / "dirs" / "x.db")) as created:
        assert created.path is not None and created.path.is_file()


def test_a_closed_database_refuses_work(data_dir: Path) -> None:
    db = Database.open_data_dir(data_dir)
    db.close()
    db.close()
    assert db.closed
    with pytest.raises(StoreClosedError):
        db.read().__enter__()
    with pytest.raises(StoreClosedError):
        db.backup(data_dir / "copy.db")
    with pytest.raises(StoreClosedError):
        _ = db.engine


BROKEN_REVISION = '''
import sqlalchemy as sa
from alembic import op

revision = "0005_broken"
down_revision = "0009_running_config_schema"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("half_done", sa.Column("id", sa.Integer, primary_key=True))
    op.execute("SELECT no_such_function()")


def downgrade():
    op.drop_table("half_done")
'''


def test_a_failing_migration_leaves_the_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripts = tmp_path / "migrations"
    shutil.copytree(database_module.MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "0004_broken.py").write_text(BROKEN_REVISION)
    monkeypatch.setattr(database_module, "MIGRATIONS_DIR", scripts)
    path = tmp_path / "esc.db"
    with pytest.raises(MigrationError, match="no_such_function"):
        Database.open(path)
    monkeypatch.undo()
    with Database.open(path, upgrade=False) as untouched:
        assert untouched.revision() is None
        assert inspect(untouched.engine).get_table_names() == []


@pytest.mark.parametrize(("url", "says"), [
    ("mysql://a@b/c", "unsupported database mysql://a@b/c"),
    ("nonsense://", "unsupported database"),
    ("postgresql+psycopg2://a@127.0.0.1:1/c", "driver of postgresql+psycopg2://a@127.0.0.1:1/c is not installed"),
])
def test_a_database_url_we_cannot_serve_is_a_clear_store_error(url: str, says: str) -> None:
    with pytest.raises(StoreError, match=re.escape(says)):
        Database.open(url)


def test_a_plain_postgresql_url_gets_the_installed_driver_and_an_unreachable_server_is_one_line() -> None:
    with pytest.raises(MigrationError) as refused:
        Database.open("postgresql://esc@127.0.0.1:1/esc")
    assert str(refused.value).startswith("cannot migrate postgresql+psycopg://esc@127.0.0.1:1/esc: ")
    assert "\n" not in str(refused.value)


def test_a_write_on_the_guarded_loop_thread_is_counted_or_refused(database: Database) -> None:
    """The loop never waits for the writer lock or a disk flush: a write entered on its thread is refused
    when strict (the live test harness), counted by call site otherwise; other threads write freely."""
    store = SqlConfigStore(database)
    database.guard_loop(threading.get_ident(), strict=True)
    with pytest.raises(database_module.LoopWriteError, match=r"config_store\.py:\d+ save_parts_versioned < "):
        store.save_running(b"<data/>")
    assert store.running_version() == 0, "refused before the transaction began"
    writer = threading.Thread(target=store.save_running, args=(b"<data/>",))
    writer.start()
    writer.join()
    assert store.running_version() == 1
    with database.write(on_loop="a test says why") as connection:  # marked: neither refused nor counted
        connection.execute(text("SELECT 1"))
    assert sum(database.loop_writes.values()) == 1, "only the refused write is counted"
    database.guard_loop(threading.get_ident(), strict=False)
    store.save_running(b"<data/>")
    store.save_running(b"<data/>")
    assert list(database.loop_writes.values()) == [3] and store.running_version() == 3  # one site: 1 refused, 2 let through
    database.guard_loop(None)
