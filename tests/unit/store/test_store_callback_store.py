"""``SqlCallbackStore``: registrations and the outbox round-trip, survive a reopen, and behave like the
in-memory twin the REST tests use."""

from __future__ import annotations

import inspect
import time
from pathlib import Path

import pytest

from esc_netconf.rest.callback_store import CallbackStore, MemoryCallbackStore, OutgoingPost, Registration
from esc_netconf.store import Database
from esc_netconf.store.callback_store import SqlCallbackStore


@pytest.fixture(params=["sql", "memory"])
def store(request: pytest.FixtureRequest, memory_database: Database) -> CallbackStore:
    if request.param == "sql":
        return SqlCallbackStore(memory_database)
    return MemoryCallbackStore()


def test_registrations_round_trip_oldest_first(store: CallbackStore) -> None:
    store.save_registration(Registration("b", ("http://y",), 2.5, 2.5))
    store.save_registration(Registration("a", ("http://x", "https://z:8443/p?q=1"), 1.000001, 1.5))
    assert store.load_registrations() == [
        Registration("a", ("http://x", "https://z:8443/p?q=1"), 1.000001, 1.5),
        Registration("b", ("http://y",), 2.5, 2.5),
    ]
    store.save_registration(Registration("a", ("http://w",), 1.000001, 3.0, finished=4.0))  # replace
    assert store.load_registrations()[0] == Registration("a", ("http://w",), 1.000001, 3.0, 4.0)
    store.delete_registration("a")
    store.delete_registration("absent")
    assert [r.transaction_id for r in store.load_registrations()] == ["b"]


def test_finish_keeps_the_first_time_and_prune_deletes_only_old_finished(store: CallbackStore) -> None:
    for tid in ("open", "old", "recent"):
        store.save_registration(Registration(tid, ("http://x",), 1.0, 1.0))
    store.finish_registrations(["old"], 10.0)
    store.finish_registrations(["old", "recent", "absent"], 20.0)
    store.finish_registrations([], 30.0)
    finished = {r.transaction_id: r.finished for r in store.load_registrations()}
    assert finished == {"open": None, "old": 10.0, "recent": 20.0}
    assert store.prune_registrations(15.0) == 1
    assert {r.transaction_id for r in store.load_registrations()} == {"open", "recent"}
    assert store.prune_registrations(1e12) == 1
    assert [r.transaction_id for r in store.load_registrations()] == ["open"]


def test_outbox_round_trip_in_order_and_settle(store: CallbackStore) -> None:
    store.save_registration(Registration("tid", ("http://a", "http://b"), 1.0, 1.0))
    headers = {"Content-Type": "application/json", "ESC-Event-Id": "e1", "ESC-Status-Message": "caf\u00e9"}
    first = store.enqueue("tid", "e1", [OutgoingPost("http://a", headers, b'{"n": 1}'),
                                        OutgoingPost("http://b", headers, b"\x00\xff")], 7.25)
    second = store.enqueue("tid", "e2", [OutgoingPost("http://a", {}, b"2")], 8.0)
    assert len(first) == 2 and first[0] < first[1] < second[0]
    assert store.load_registrations()[0].last_event == 8.0
    pending = store.load_outbox()
    assert [(d.delivery_id, d.event_id, d.url, d.body) for d in pending] == [
        (first[0], "e1", "http://a", b'{"n": 1}'), (first[1], "e1", "http://b", b"\x00\xff"),
        (second[0], "e2", "http://a", b"2")]
    assert dict(pending[0].headers) == headers and pending[0].transaction_id == "tid"
    assert pending[0].created == 7.25
    store.settle(first[1])
    store.settle(first[1])
    assert [d.delivery_id for d in store.load_outbox()] == [first[0], second[0]]


def test_an_event_of_an_unregistered_transaction_is_still_queued(store: CallbackStore) -> None:
    [key] = store.enqueue("gone", "e", [OutgoingPost("http://a", {}, b"x")], 1.0)
    assert [d.delivery_id for d in store.load_outbox()] == [key]
    assert store.load_registrations() == []


def test_everything_survives_a_reopen_and_ids_are_never_reused(data_dir: Path) -> None:
    with Database.open_data_dir(data_dir) as db:
        store = SqlCallbackStore(db)
        store.save_registration(Registration("tid", ("http://a",), 1.0, 1.0))
        keys = store.enqueue("tid", "e1", [OutgoingPost("http://a", {"H": "v"}, b"1"),
                                          OutgoingPost("http://a", {"H": "v"}, b"2")], 2.0)
        store.settle(keys[1])
    with Database.open_data_dir(data_dir) as db:
        store = SqlCallbackStore(db)
        assert store.load_registrations() == [Registration("tid", ("http://a",), 1.0, 2.0)]
        assert [(d.delivery_id, d.body) for d in store.load_outbox()] == [(keys[0], b"1")]
        [later] = store.enqueue("tid", "e2", [OutgoingPost("http://a", {}, b"3")], 3.0)
        assert later > keys[1]


def test_cost_of_one_event_is_small(database: Database) -> None:
    """One outbox write and one settle per event, on a real file with ``synchronous=FULL``: this is what
    the core's loop pays per callback event (and a bound that would catch a per-event table scan)."""
    store = SqlCallbackStore(database)
    store.save_registration(Registration("tid", ("http://a",), 1.0, 1.0))
    body = b"x" * 1500
    count = 50
    started = time.perf_counter()
    for n in range(count):
        [key] = store.enqueue("tid", f"e{n}", [OutgoingPost("http://a", {"ESC-Event-Id": f"e{n}"}, body)], 2.0)
        store.settle(key)
    per_event = (time.perf_counter() - started) / count
    assert per_event < 0.05, f"{per_event * 1000:.1f} ms per event"
    assert store.load_outbox() == []


def test_the_sql_store_has_the_protocol_signatures(memory_database: Database) -> None:
    names = [name for name, member in vars(CallbackStore).items() if callable(member) and not name.startswith("_")]
    assert len(names) == 8
    for name in names:
        wanted = inspect.signature(getattr(CallbackStore, name))
        got = inspect.signature(getattr(SqlCallbackStore, name))
        assert list(got.parameters) == list(wanted.parameters), name
        assert str(got.return_annotation) == str(wanted.return_annotation), name
    typed: CallbackStore = SqlCallbackStore(memory_database)  # mypy checks this line
    assert typed.load_outbox() == []


def test_an_event_id_already_in_the_outbox_is_not_queued_again(store: CallbackStore) -> None:
    [key] = store.enqueue("tid", "e1", [OutgoingPost("http://a", {}, b"1")], 1.0)
    assert store.enqueue("tid", "e1", [OutgoingPost("http://a", {}, b"1")], 2.0) == []  # delivered again
    [other] = store.enqueue("tid2", "e1", [OutgoingPost("http://a", {}, b"1")], 2.0)  # another transaction
    assert [d.delivery_id for d in store.load_outbox()] == [key, other]
