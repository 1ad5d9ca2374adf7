"""``StoredState``: a standby's core, snapshots and running configuration follow what the active writes to
the shared store, each read seeing it at least as new as it was when the read began, and one state of it
until the read ends (on SQLite and, in the ``make test-ha`` tier, on PostgreSQL)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lxml import etree

from esc_netconf.core.model import TenantRecord
from esc_netconf.core.store import RecordKind, Write
from esc_netconf.ha.standby_reads import StoredState
from esc_netconf.netconf.datastore import Datastore
from esc_netconf.netconf.yangmodel import YangModel
from esc_netconf.store import Database, SqlConfigStore, SqlCoreStore
from esc_netconf.store.snapshot_store import SqlSnapshotStore
from tests.postgres_server import postgres  # noqa: F401 - the fixture
from tests.unit.store.conftest import memory_database  # noqa: F401 - the fixture
from tests.unit.store.test_snapshot_store import snapshot

YANG_DIR = Path(__file__).resolve().parents[3] / "yang"
BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
ESC = "http://www.cisco.com/esc/esc"


@pytest.fixture(scope="module")
def model() -> YangModel:
    return YangModel.load(YANG_DIR)


@pytest.fixture()
def db(memory_database: Database) -> Database:  # noqa: F811 - the fixture imported above
    """On SQLite and, in the ``make test-ha`` tier, on PostgreSQL."""
    return memory_database


def active_writes(db: Database, *tenants: str) -> None:
    """What the active commits for ``tenants``: the running configuration, then the core's records."""
    names = "".join(f"<tenant><name>{t}</name></tenant>" for t in tenants)
    SqlConfigStore(db).save_running(
        f'<data xmlns="{BASE}"><esc_datamodel xmlns="{ESC}"><tenants>{names}</tenants></esc_datamodel></data>'.encode())
    SqlCoreStore(db).apply([Write(RecordKind.TENANT, t, TenantRecord(t, f"p-{t}").to_dict()) for t in tenants])


def configured(datastore: Datastore) -> list[str]:
    return [str(n) for n in datastore.running.xpath("//e:tenant/e:name/text()", namespaces={"e": ESC})]


def test_a_read_sees_what_the_active_committed_before_it_began(db: Database, model: YangModel,
                                                               tmp_path: Path) -> None:
    active_writes(db, "t1")
    SqlSnapshotStore(db).save_snapshot(snapshot("s-1", tenant="t1"))
    stored = StoredState(db, Datastore(model, SqlConfigStore(db)), setting=lambda _: 1.0, export_dir=tmp_path)

    async def run() -> None:
        async with stored.reading():
            assert [t.name for t in stored.core.tenants()] == ["t1"] and configured(stored.datastore) == ["t1"]
            assert [s.id for s in stored.snapshots.list_snapshots()] == ["s-1"]
        active_writes(db, "t1", "t2")
        async with stored.reading():
            assert [t.name for t in stored.core.tenants()] == ["t1", "t2"]
            assert configured(stored.datastore) == ["t1", "t2"]

    asyncio.run(run())


def test_a_read_keeps_one_state_until_it_ends_and_the_next_sees_the_change(db: Database, model: YangModel,
                                                                          tmp_path: Path) -> None:
    active_writes(db, "t1")
    stored = StoredState(db, Datastore(model, SqlConfigStore(db)), setting=lambda _: 1.0, export_dir=tmp_path)

    async def run() -> None:
        async def next_read() -> tuple[list[str], list[str]]:
            async with stored.reading():
                return [t.name for t in stored.core.tenants()], configured(stored.datastore)

        async with stored.reading():
            running, writes = stored.datastore.running, stored.core.writes()
            active_writes(db, "t1", "t3")
            later = asyncio.create_task(next_read())
            for _ in range(100):  # its check runs in a worker thread, finds the change and waits for us
                await asyncio.sleep(0.005)
            assert [t.name for t in stored.core.tenants()] == ["t1"]
            assert stored.datastore.running is running and stored.core.writes() == writes
            assert not later.done()
        assert await later == (["t1", "t3"], ["t1", "t3"])
        assert etree.QName(stored.datastore.running).localname == "data"

    asyncio.run(run())


def test_a_reader_across_an_install_is_told_to_read_everything_again(db: Database, model: YangModel,
                                                                   tmp_path: Path) -> None:
    """opdata read in slices re-reads what ``written_since`` names; a whole state installed meanwhile names
    nothing in particular, so it must answer None (read everything), not an empty set."""
    active_writes(db, "t1")
    stored = StoredState(db, Datastore(model, SqlConfigStore(db)), setting=lambda _: 1.0, export_dir=tmp_path)

    async def run() -> None:
        async with stored.reading():
            mark = stored.core.writes()
            assert stored.core.written_since(mark) == set()
        active_writes(db, "t1", "t2")
        async with stored.reading():
            assert stored.core.writes() > mark
            assert stored.core.written_since(mark) is None
            assert stored.core.written_since(stored.core.writes()) == set()

    asyncio.run(run())
