"""SqlConfigStore: the running datastore by part, with a commit count; a whole document saved the old way
is split by the datastore at its next commit."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from lxml import etree

from esc_netconf.netconf.datastore import Datastore
from esc_netconf.netconf.editconfig import canonical_bytes
from esc_netconf.netconf.persistence import ConfigPart
from esc_netconf.netconf.yangmodel import YangModel
from esc_netconf.store import Database, SqlConfigStore
from esc_netconf.store.utc import utc_now

DOCUMENT = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<data xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
    '<esc_datamodel xmlns="http://www.cisco.com/esc/esc"><tenants><tenant><name>t\u00e9\u4e2d</name>'
    "</tenant></tenants></esc_datamodel></data>"
).encode()


def test_nothing_saved_yet(memory_database: Database) -> None:
    store = SqlConfigStore(memory_database)
    assert store.load_running() is None
    assert store.load_running_versioned() is None
    assert store.running_version() == 0


def test_round_trip_keeps_the_exact_bytes(memory_database: Database) -> None:
    store = SqlConfigStore(memory_database)
    store.save_running(DOCUMENT)
    assert store.load_running() == DOCUMENT


def test_every_save_replaces_the_document_and_counts(memory_database: Database) -> None:
    store = SqlConfigStore(memory_database)
    before = utc_now()
    assert store.save_running_versioned(b"<data>1</data>") == 1
    store.save_running(b"<data>2</data>")
    assert store.save_running_versioned(b"<data>3</data>") == 3
    stored = store.load_running_versioned()
    assert stored is not None
    assert (stored.version, stored.xml) == (3, b"<data>3</data>")
    assert before - timedelta(seconds=1) <= stored.saved_at <= utc_now() + timedelta(seconds=1)
    assert stored.saved_at.utcoffset() == timedelta(0)
    assert store.running_version() == 3


def test_saved_document_survives_a_reopen(data_dir: Path) -> None:
    with Database.open_data_dir(data_dir) as db:
        SqlConfigStore(db).save_running(DOCUMENT)
        SqlConfigStore(db).save_running(DOCUMENT + b"\n")
    with Database.open_data_dir(data_dir) as db:
        store = SqlConfigStore(db)
        assert store.load_running() == DOCUMENT + b"\n"
        assert store.running_version() == 2


def test_accepts_any_bytes_like(memory_database: Database) -> None:
    store = SqlConfigStore(memory_database)
    store.save_running(bytearray(b"<data/>"))  # type: ignore[arg-type]
    assert store.load_running() == b"<data/>"
    assert isinstance(store.load_running(), bytes)


YANG_DIR = Path(__file__).resolve().parents[3] / "yang"
ESC = "http://www.cisco.com/esc/esc"


def _tenants(*names: str, operation: str = "") -> etree._Element:
    op = f' nc:operation="{operation}"' if operation else ""
    body = "".join(f"<tenant{op}><name>{n}</name><description>{n}</description></tenant>" for n in names)
    return etree.fromstring(f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" '
                            f'xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0"><esc_datamodel xmlns="{ESC}">'
                            f"<tenants>{body}</tenants></esc_datamodel></config>")


def test_a_whole_document_is_split_at_the_next_commit_and_then_only_changes_are_written(
        memory_database: Database) -> None:
    store = SqlConfigStore(memory_database)
    store.save_running(DOCUMENT)  # what migration 0007 leaves of an earlier release's data dir
    model = YangModel.load(YANG_DIR)
    ds = Datastore(model, store)
    ds.edit(_tenants("a", "b"))
    keys = {p.key: p for p in store.load_parts()}
    assert "[]" not in keys and len(keys) == 4  # esc_datamodel and three tenants, one row each
    assert canonical_bytes(Datastore(model, store).running) == canonical_bytes(ds.running)

    ds.edit(_tenants("b", operation="delete"))
    after = {p.key: p for p in store.load_parts()}
    assert after == {k: p for k, p in keys.items() if not k.endswith('"b"]]')}  # b's row went, nothing else moved
    assert canonical_bytes(Datastore(model, store).running) == canonical_bytes(ds.running)
    assert store.running_version() == 3


def test_parts_are_written_and_deleted_in_one_transaction(memory_database: Database) -> None:
    store = SqlConfigStore(memory_database)
    store.save_parts([ConfigPart("a", "", 0, b"<a/>"), ConfigPart("b", "", 1, b"<b/>")], ())
    store.save_parts([ConfigPart("c", "", 2, b"<c/>"), ConfigPart("a", "", 0, b"<a>2</a>")], ["b"])
    assert sorted((p.key, p.xml) for p in store.load_parts()) == [("a", b"<a>2</a>"), ("c", b"<c/>")]
    store.save_parts([ConfigPart("z", "", 0, b"<z/>")], (), replace_all=True)
    assert [p.key for p in store.load_parts()] == ["z"]


def test_the_schema_digest_goes_with_each_commit_and_a_whole_document_forgets_it(data_dir: Path) -> None:
    with Database.open_data_dir(data_dir) as db:
        store = SqlConfigStore(db)
        assert store.load_parts() == [] and store.validated_with() is None
        store.save_parts([ConfigPart("a", "", 0, b"<a/>")], (), validated_with="d1")
        assert store.validated_with() is None, "what the last load read, not the last save"
        store.load_parts()
        assert store.validated_with() == "d1"
        store.save_parts([ConfigPart("b", "", 1, b"<b/>")], (), validated_with="d2")
        store.load_parts()
        assert store.validated_with() == "d2"
        store.save_running(b"<data/>")  # a tool's document: nobody validated it
        store.load_parts()
        assert store.validated_with() is None
