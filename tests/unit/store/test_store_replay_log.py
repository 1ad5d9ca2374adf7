"""SqlReplayLog: append order, time windows, oldest, pruning."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from esc_netconf.store import Database, SqlReplayLog, StoreValueError
from tests.gilshare_pauses import every_look_pauses

T0 = datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fill(log: SqlReplayLog, stream: str, count: int, *, first: int = 0) -> list[int]:
    return [log.append(stream, at(first + i), f"<e n='{first + i}'/>".encode()) for i in range(count)]


def test_append_returns_increasing_sequence_ids_across_streams(memory_database: Database) -> None:
    log = SqlReplayLog(memory_database)
    ids = [log.append("escEvent", at(0), b"<a/>"), log.append("NETCONF", at(0), b"<b/>"),
           log.append("escEvent", at(1), b"<c/>")]
    assert ids == sorted(ids) and len(set(ids)) == 3


def test_append_many_stores_in_order_in_one_go(memory_database: Database) -> None:
    log = SqlReplayLog(memory_database)
    first = log.append("escEvent", at(0), b"<a/>")
    log.append_many("escEvent", [(at(1), b"<b/>"), (at(1), b"<c/>"), (at(2), b"<d/>")])
    log.append_many("escEvent", [])
    assert [xml for _t, xml in log.read("escEvent", at(-1), None)] == [b"<a/>", b"<b/>", b"<c/>", b"<d/>"]
    assert log.append("escEvent", at(3), b"<e/>") == first + 4
    with pytest.raises(StoreValueError):
        log.append_many("", [(at(0), b"<x/>")])


def test_read_returns_one_stream_oldest_first(memory_database: Database) -> None:
    log = SqlReplayLog(memory_database)
    fill(log, "escEvent", 5)
    fill(log, "other", 3)
    events = list(log.read("escEvent", at(-100), None))
    assert events == [(at(i), f"<e n='{i}'/>".encode()) for i in range(5)]
    assert [xml for _t, xml in log.read("other", at(-100), None)] == [f"<e n='{i}'/>".encode() for i in range(3)]
    assert list(log.read("nobody", at(-100), None)) == []


def test_oldest_first_even_when_clocks_step_back_and_ties_in_append_order(memory_database: Database) -> None:
    log = SqlReplayLog(memory_database)
    log.append("s", at(10), b"<late/>")
    log.append("s", at(5), b"<early/>")
    log.append("s", at(10), b"<late-again/>")
    assert [xml for _t, xml in log.read("s", at(0), None)] == [b"<early/>", b"<late/>", b"<late-again/>"]


def test_time_window_includes_start_and_stop(memory_database: Database) -> None:
    log = SqlReplayLog(memory_database)
    fill(log, "s", 10)
    assert [t for t, _ in log.read("s", at(3), at(6))] == [at(3), at(4), at(5), at(6)]  # RFC 5277
    assert [t for t, _ in log.read("s", at(8), None)] == [at(8), at(9)]
    assert [t for t, _ in log.read("s", at(3.5), at(3.9))] == []
    assert [t for t, _ in log.read("s", at(4), at(4) + timedelta(microseconds=1))] == [at(4)]
    assert list(log.read("s", at(20), None)) == []


def test_times_come_back_in_utc_to_the_microsecond(memory_database: Database) -> None:
    log = SqlReplayLog(memory_database)
    plus_two = timezone(timedelta(hours=2))
    log.append("s", T0.astimezone(plus_two), b"<aware/>")
    log.append("s", T0.replace(tzinfo=None) + timedelta(microseconds=1), b"<naive-is-utc/>")
    (first, _), (second, _) = log.read("s", T0, None)
    assert first == T0 and first.utcoffset() == timedelta(0)
    assert second == T0 + timedelta(microseconds=1)
    assert log.oldest("s") == T0


def test_read_pages_through_a_long_log(memory_database: Database) -> None:
    log = SqlReplayLog(memory_database, page_size=3)
    ids = fill(log, "s", 10)
    fill(log, "t", 4, first=100)
    # equal times straddling page boundaries must be neither lost nor repeated
    ids += [log.append("s", at(20), f"<tie n='{i}'/>".encode()) for i in range(7)]
    assert [t for t, _ in log.read("s", at(2), None)] == [at(i) for i in range(2, 10)] + [at(20)] * 7
    assert [seq for seq, _t, _x in log.read_with_seq("s", at(0), None)] == ids
    assert [x for _t, x in log.read("s", at(20), None)] == [f"<tie n='{i}'/>".encode() for i in range(7)]


def test_oldest(memory_database: Database) -> None:
    log = SqlReplayLog(memory_database)
    assert log.oldest("s") is None
    log.append("s", at(7), b"<x/>")
    log.append("s", at(3), b"<x/>")
    log.append("other", at(1), b"<x/>")
    assert log.oldest("s") == at(3)


def test_prune_keeps_the_newest_of_each_stream(memory_database: Database) -> None:
    log = SqlReplayLog(memory_database)
    fill(log, "a", 6)
    fill(log, "b", 2, first=50)
    fill(log, "a", 2, first=6)
    log.prune(3)
    assert [t for t, _ in log.read("a", at(0), None)] == [at(5), at(6), at(7)]
    assert [t for t, _ in log.read("b", at(0), None)] == [at(50), at(51)]
    assert log.oldest("a") == at(5)
    assert (log.count("a"), log.count("b")) == (3, 2)
    log.prune(1)
    assert [t for t, _ in log.read("a", at(0), None)] == [at(7)]
    log.prune(0)
    assert (log.count("a"), log.count("b")) == (0, 0)
    assert log.oldest("a") is None


def test_appending_after_a_prune_continues_the_sequence(memory_database: Database) -> None:
    log = SqlReplayLog(memory_database)
    ids = fill(log, "a", 3)
    log.prune(0)
    assert log.append("a", at(9), b"<x/>") > ids[-1]


def test_bad_arguments_are_store_value_errors(memory_database: Database) -> None:
    log = SqlReplayLog(memory_database)
    with pytest.raises(StoreValueError):
        log.prune(-1)
    with pytest.raises(StoreValueError):
        log.append("", at(0), b"<x/>")
    with pytest.raises(StoreValueError):
        log.append("s" * 256, at(0), b"<x/>")
    with pytest.raises(ValueError):
        SqlReplayLog(memory_database, page_size=0)


def test_append_many_stores_an_event_id_once(memory_database: Database) -> None:
    log = SqlReplayLog(memory_database)
    log.append_many("escEvent", [(at(0), b"<a/>"), (at(1), b"<b/>")], event_ids=["a", None])
    # delivered again after a crash, with one new event and one without an id
    log.append_many("escEvent", [(at(0), b"<a/>"), (at(1), b"<b/>"), (at(2), b"<c/>"), (at(2), b"<c/>")],
                    event_ids=["a", None, "c", "c"])
    assert [xml for _t, xml in log.read("escEvent", at(-1), None)] == [b"<a/>", b"<b/>", b"<b/>", b"<c/>"]
    with pytest.raises(StoreValueError):
        log.append_many("escEvent", [(at(0), b"<x/>")], event_ids=[])


def test_append_many_returns_the_highest_sequence_id_and_read_stops_at_upto(memory_database: Database) -> None:
    log = SqlReplayLog(memory_database)
    assert log.last_seq() == 0 and log.append_many("escEvent", []) is None
    first = log.append("escEvent", at(0), b"<a/>")
    upto = log.append_many("escEvent", [(at(1), b"<b/>"), (at(2), b"<c/>")])
    assert upto == first + 2 == log.last_seq()
    log.append_many("escEvent", [(at(3), b"<d/>")])
    assert [xml for _t, xml in log.read("escEvent", at(-1), None, upto=upto)] == [b"<a/>", b"<b/>", b"<c/>"]
    assert [xml for _t, xml in log.read("escEvent", at(-1), None)][-1] == b"<d/>"


def test_append_bursts_stores_several_streams_in_order_in_one_transaction(memory_database: Database) -> None:
    log = SqlReplayLog(memory_database)
    log.append_many("escEvent", [(at(0), b"<a/>")], event_ids=["a"])
    highest = log.append_bursts([("NETCONF", [(at(1), b"<start/>")], None),
                                 ("escEvent", [(at(1), b"<a/>"), (at(2), b"<b/>")], ["a", "b"]),  # a: held
                                 ("escEvent", [(at(3), b"<b/>")], ["b"]),  # b: twice in one transaction
                                 ("NETCONF", [], None)])
    assert highest == log.last_seq() == 3
    assert [xml for _t, xml in log.read("escEvent", at(-1), None)] == [b"<a/>", b"<b/>"]
    assert [xml for _t, xml in log.read("NETCONF", at(-1), None)] == [b"<start/>"]
    with pytest.raises(StoreValueError):
        log.append_bursts([("NETCONF", [(at(4), b"<x/>")], None), ("escEvent", [(at(4), b"<y/>")], [])])
    assert log.last_seq() == 3, "refused whole"


def test_a_burst_larger_than_one_statement_is_stored_whole_in_order_pausing_for_the_loop(
        memory_database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows go in statements of a few dozen, the writer thread pausing between them (``gilshare``); an event id
    the log holds, or one twice in the bursts, is still stored once."""
    log = SqlReplayLog(memory_database)
    log.append_many("escEvent", [(at(0), b"<e n='7'/>")], event_ids=["e-7"])
    pauses = every_look_pauses(monkeypatch)
    events = [(at(n), f"<e n='{n}'/>".encode()) for n in range(200)]
    highest = log.append_bursts([("escEvent", events[:120], [f"e-{n}" for n in range(120)]),
                                 ("NETCONF", [(at(1), b"<start/>")], None),
                                 ("escEvent", events[100:], [f"e-{n}" for n in range(100, 200)])])
    assert highest == log.last_seq() == 1 + 199 + 1
    assert [xml for _t, xml in log.read("escEvent", at(-1), None)] == [b"<e n='7'/>"] + [
        xml for n, (_t, xml) in enumerate(events) if n != 7]
    assert len(pauses) >= 200 // 64, "at least once per statement"
