"""SqlConfigStore: the running datastore as one versioned blob."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

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
