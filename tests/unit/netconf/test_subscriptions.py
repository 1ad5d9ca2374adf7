"""NotificationHub: RFC 5277 request rules, replay, stop time, filters, with a fake clock and log."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from esc_netconf.netconf.errors import ErrorTag, LocalProtocolError, NetconfError
from esc_netconf.netconf.filters import parse_filter
from esc_netconf.netconf.messages import NOTIFICATION_NS
from esc_netconf.netconf.subscriptions import (
    NETMOD_NOTIFICATION_NS,
    NotificationHub,
    StreamInfo,
    SubscriptionRequest,
)

ESC = "http://www.cisco.com/esc/esc"
T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


class MemoryReplayLog:
    """The ReplayLog protocol in memory."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, datetime, bytes]] = []

    def append(self, stream: str, event_time: datetime, xml: bytes) -> int:
        self.rows.append((stream, event_time, xml))
        return len(self.rows)

    def read(self, stream: str, start: datetime, stop: datetime | None, *,
             upto: int | None = None) -> Iterator[tuple[datetime, bytes]]:
        for seq, (s, t, xml) in enumerate(self.rows, start=1):
            if s == stream and t >= start and (stop is None or t < stop) and (upto is None or seq <= upto):
                yield t, xml

    def oldest(self, stream: str) -> datetime | None:
        return min((t for s, t, _ in self.rows if s == stream), default=None)

    def prune(self, keep_last: int) -> None:
        self.rows = self.rows[-keep_last:]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[datetime, etree._Element]] = []
        self.completed = 0

    def deliver(self, event_time: datetime, payload: etree._Element) -> None:
        self.events.append((event_time, payload))

    def complete(self) -> None:
        self.completed += 1

    def names(self) -> list[str]:
        out = []
        for _, payload in self.events:
            status = payload.findtext(f"{{{ESC}}}status")
            out.append(status if status is not None else etree.QName(payload).localname)
        return out


def esc_event(status: str) -> etree._Element:
    event = etree.Element(f"{{{ESC}}}escEvent", nsmap={None: ESC})
    etree.SubElement(event, f"{{{ESC}}}status").text = status
    return event


def make_hub() -> tuple[NotificationHub, MemoryReplayLog, Clock]:
    log, clock = MemoryReplayLog(), Clock()
    hub = NotificationHub(
        log,
        [StreamInfo("NETCONF", "default", False), StreamInfo("escEvent", "ESC events", True)],
        clock,
    )
    return hub, log, clock


def request_xml(inner: str) -> etree._Element:
    return etree.fromstring(f'<create-subscription xmlns="{NOTIFICATION_NS}">{inner}</create-subscription>'.encode())


# -- parse_request -------------------------------------------------------------------------------


def test_parse_request_defaults_and_times_with_offsets() -> None:
    hub, _, _ = make_hub()
    assert hub.parse_request(request_xml("")) == SubscriptionRequest("NETCONF", None, None, None)
    req = hub.parse_request(request_xml(
        "<stream>escEvent</stream><startTime>2026-01-01T13:00:00+01:00</startTime>"
        "<stopTime>2026-01-01T12:30:00.5Z</stopTime>"
        f'<filter type="subtree"><escEvent xmlns="{ESC}"/></filter>'
    ))
    assert req.stream == "escEvent"
    assert req.start_time == T0 and req.stop_time == T0 + timedelta(minutes=30, milliseconds=500)
    assert req.filter is not None


@pytest.mark.parametrize(
    ("inner", "tag"),
    [
        ("<startTime>yesterday</startTime>", ErrorTag.INVALID_VALUE),
        ("<stopTime>2026-13-01T00:00:00Z</stopTime>", ErrorTag.INVALID_VALUE),
        ("<color>red</color>", ErrorTag.UNKNOWN_ELEMENT),
        ('<filter type="xpath"/>', ErrorTag.MISSING_ATTRIBUTE),
    ],
)
def test_parse_request_errors(inner: str, tag: ErrorTag) -> None:
    hub, _, _ = make_hub()
    with pytest.raises(NetconfError) as info:
        hub.parse_request(request_xml(inner))
    assert info.value.tag is tag


# -- subscribe errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "tag", "bad_element"),
    [
        (SubscriptionRequest("nope"), ErrorTag.INVALID_VALUE, "stream"),
        (SubscriptionRequest("escEvent", stop_time=T0), ErrorTag.MISSING_ELEMENT, "startTime"),
        (SubscriptionRequest("escEvent", start_time=T0, stop_time=T0 - timedelta(seconds=1)), ErrorTag.BAD_ELEMENT,
         "stopTime"),
        (SubscriptionRequest("escEvent", start_time=T0 + timedelta(seconds=1)), ErrorTag.BAD_ELEMENT, "startTime"),
        (SubscriptionRequest("NETCONF", start_time=T0), ErrorTag.OPERATION_FAILED, None),
    ],
)
def test_subscribe_rfc_errors(request_: SubscriptionRequest, tag: ErrorTag, bad_element: str | None) -> None:
    hub, _, _ = make_hub()
    rec = Recorder()
    with pytest.raises(NetconfError) as info:
        hub.subscribe(request_, rec.deliver, rec.complete)
    assert info.value.tag is tag
    assert info.value.info.get("bad-element") == bad_element
    assert rec.events == [] and rec.completed == 0


def test_invalid_xpath_filter_is_refused_at_subscribe() -> None:
    hub, _, _ = make_hub()
    spec = parse_filter(etree.fromstring(b'<filter type="xpath" select="escEvent["/>'))
    with pytest.raises(NetconfError) as info:
        hub.subscribe(SubscriptionRequest("escEvent", spec), Recorder().deliver, lambda: None)
    assert info.value.tag is ErrorTag.INVALID_VALUE


# -- publish, live delivery, filters ---------------------------------------------------------------


def test_publish_logs_replayable_streams_and_delivers_live() -> None:
    hub, log, clock = make_hub()
    rec = Recorder()
    sub = hub.subscribe(SubscriptionRequest("escEvent"), rec.deliver, rec.complete)
    clock.advance(5)
    event = esc_event("SUCCESS")
    hub.publish("escEvent", event)
    hub.publish("NETCONF", etree.Element("{urn:x}config-change"))
    assert [(s, t) for s, t, _ in log.rows] == [("escEvent", T0 + timedelta(seconds=5))]
    assert b"SUCCESS" in log.rows[0][2]
    assert rec.names() == ["SUCCESS"] and rec.events[0][0] == clock.now
    assert rec.events[0][1] is not event  # each subscriber gets its own copy
    explicit = T0 + timedelta(hours=1)
    hub.publish("escEvent", esc_event("FAILURE"), event_time=explicit)
    assert rec.events[-1][0] == explicit
    sub.cancel()
    hub.publish("escEvent", esc_event("AFTER"))
    assert rec.names() == ["SUCCESS", "FAILURE"] and rec.completed == 0 and not sub.active


async def test_a_hub_that_may_not_offer_live_stores_but_offers_nothing() -> None:
    """A group member whose lease ran out while it was stopped: what it had stored before reaches the log (the
    new active's subscribers read it there), none of it its own live subscribers, late."""
    log, clock = MemoryReplayLog(), Clock()
    holds = [True]
    hub = NotificationHub(log, [StreamInfo("escEvent", "ESC events", True)], clock, live=lambda: holds[0])
    rec = Recorder()
    hub.subscribe(SubscriptionRequest("escEvent"), rec.deliver, rec.complete)
    await hub.publish_stored("escEvent", [(esc_event("BEFORE"), None)])
    holds[0] = False
    await hub.publish_stored("escEvent", [(esc_event("LATE"), None)])
    hub.publish("escEvent", esc_event("LATER"))
    hub.flush()
    assert rec.names() == ["BEFORE"]
    assert [b"LATE" in xml or b"LATER" in xml for _, _, xml in log.rows] == [False, True, True]


def test_publish_many_stores_a_burst_at_once_and_delivers_it_in_order() -> None:
    hub, log, clock = make_hub()
    rec = Recorder()
    hub.subscribe(SubscriptionRequest("escEvent"), rec.deliver, rec.complete)
    batches: list[int] = []

    def append_many(stream: str, rows: list[tuple[datetime, bytes]]) -> None:
        batches.append(len(rows))
        for moment, xml in rows:
            log.append(stream, moment, xml)

    log.append_many = append_many  # type: ignore[attr-defined]
    explicit = T0 + timedelta(hours=1)
    hub.publish_many("escEvent", [(esc_event("ONE"), None), (esc_event("TWO"), explicit), (esc_event("THREE"), None)])
    assert batches == [3] and [t for _, t, _ in log.rows] == [clock.now, explicit, clock.now]
    assert rec.names() == ["ONE", "TWO", "THREE"]
    del log.append_many  # type: ignore[attr-defined]
    hub.publish_many("escEvent", [(esc_event("FOUR"), None)])  # a log without append_many: one by one
    assert rec.names()[-1] == "FOUR" and len(log.rows) == 4 and batches == [3]


class SlowLog(MemoryReplayLog):
    """A log whose bursts with event ids (``publish_stored``'s, on the hub's writer thread) are stored only
    when the test lets them; others (a single event's group commit, on the loop) at once."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()
        self.stored = threading.Event()

    def append_many(self, stream: str, rows: list[tuple[datetime, bytes]],
                    event_ids: list[str | None] | None = None) -> int:
        if event_ids is not None:
            assert self.go.wait(10)
        for moment, xml in rows:
            self.append(stream, moment, xml)
        if event_ids is not None:
            self.stored.set()
        return len(self.rows)

    def last_seq(self) -> int:
        return len(self.rows)


async def test_publish_stored_offers_a_burst_once_stored_and_a_replay_meanwhile_sees_it_once() -> None:
    log, clock = SlowLog(), Clock()
    hub = NotificationHub(log, [StreamInfo("escEvent", "ESC events", True)], clock)
    live = Recorder()
    hub.subscribe(SubscriptionRequest("escEvent"), live.deliver, live.complete)
    hub.publish("escEvent", esc_event("OLD"))
    done = hub.publish_stored("escEvent", [(esc_event("ONE"), None), (esc_event("TWO"), None)], ["a", "b"])
    assert live.names() == [], "nothing is offered before it is stored (OLD's group commit went first)"
    log.go.set()
    assert log.stored.wait(10)  # stored, not yet offered (the loop has not run since): the window of a race
    replaying = Recorder()
    hub.subscribe(SubscriptionRequest("escEvent", start_time=T0), replaying.deliver, replaying.complete)
    await asyncio.wait_for(done, 10)
    await asyncio.sleep(0.05)  # the replay, which waited for the bursts being stored when it began
    assert live.names() == ["OLD", "ONE", "TWO"]
    assert replaying.names() == ["OLD", "ONE", "TWO", "replayComplete"], "published before it: replayed, once"
    later = Recorder()
    hub.subscribe(SubscriptionRequest("escEvent", start_time=T0), later.deliver, later.complete)
    assert later.names() == ["OLD", "ONE", "TWO", "replayComplete"], "nothing in flight: the whole log"
    hub.close()


class ThreadLog(MemoryReplayLog):
    """Remembers the thread of every append, and can hold the writer until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()
        self.go = threading.Event()
        self.go.set()

    def append_many(self, stream: str, rows: list[tuple[datetime, bytes]]) -> int:
        assert self.go.wait(10)
        self.threads.add(threading.get_ident())
        for moment, xml in rows:
            self.append(stream, moment, xml)
        return len(self.rows)

    def last_seq(self) -> int:
        return len(self.rows)


async def test_group_commit_stores_off_the_loop_then_delivers_each_event_once_in_order() -> None:
    log, clock = ThreadLog(), Clock()
    hub = NotificationHub(log, [StreamInfo("NETCONF", "default", True), StreamInfo("escEvent", "ESC", True)], clock)
    live = Recorder()
    hub.subscribe(SubscriptionRequest("NETCONF"), live.deliver, live.complete)
    log.go.clear()  # the writer is slow: the window's events are in flight for a while
    for name in ("A", "B", "C"):
        hub.publish("NETCONF", etree.Element(f"{{urn:x}}{name}"))
    await asyncio.sleep(0.05)  # past the group commit's window: handed to the writer, not stored yet
    assert live.names() == [] and log.rows == [], "nothing is delivered before it is stored"
    late_live, replaying = Recorder(), Recorder()
    hub.subscribe(SubscriptionRequest("NETCONF"), late_live.deliver, late_live.complete)
    hub.subscribe(SubscriptionRequest("NETCONF", start_time=T0), replaying.deliver, replaying.complete)
    hub.publish("NETCONF", etree.Element("{urn:x}D"))
    log.go.set()
    await hub.drain()
    await asyncio.sleep(0.05)  # the replay, which waited for A, B and C to be stored
    assert live.names() == ["A", "B", "C", "D"]
    # in flight when the replay began: replayed, once; D, published after it, either side of replayComplete
    assert replaying.names() in (["A", "B", "C", "D", "replayComplete"], ["A", "B", "C", "replayComplete", "D"])
    assert late_live.names() == ["D"], "published before it subscribed: not its events"
    assert [etree.QName(etree.fromstring(r[2])).localname for r in log.rows] == ["A", "B", "C", "D"]
    assert threading.get_ident() not in log.threads, "the replay log was written on the loop's thread"
    hub.close()


class BurstLog(ThreadLog):
    """Stores whole batches of bursts (``append_bursts``, one transaction each), recording their sizes."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []
        self.fail = False

    def append_bursts(self, bursts: list[tuple[str, list[tuple[datetime, bytes]], list[str | None] | None]]) -> int:
        assert self.go.wait(10)
        if self.fail:
            raise OSError("disk full")
        self.batches.append([stream for stream, _, _ in bursts])
        for stream, rows, _ in bursts:
            for moment, xml in rows:
                self.append(stream, moment, xml)
        return len(self.rows)


async def test_bursts_queued_while_the_writer_is_busy_share_one_transaction() -> None:
    log, clock = BurstLog(), Clock()
    hub = NotificationHub(log, [StreamInfo("NETCONF", "default", True), StreamInfo("escEvent", "ESC", True)], clock)
    live = Recorder()
    hub.subscribe(SubscriptionRequest("escEvent"), live.deliver, live.complete)
    log.go.clear()
    first = hub.publish_stored("escEvent", [(esc_event("ONE"), None)], ["1"])
    await asyncio.sleep(0.02)  # the writer holds the first burst
    hub.publish("NETCONF", etree.Element("{urn:x}config-change"))
    rest = [hub.publish_stored("escEvent", [(esc_event(name), None)], [name]) for name in ("TWO", "THREE")]
    log.go.set()
    await asyncio.wait_for(asyncio.gather(first, *rest), 10)
    assert log.batches == [["escEvent"], ["NETCONF", "escEvent", "escEvent"]]
    assert live.names() == ["ONE", "TWO", "THREE"]
    log.fail = True
    failing = [hub.publish_stored("escEvent", [(esc_event(name), None)], [name]) for name in ("FOUR", "FIVE")]
    for future in failing:
        with pytest.raises(OSError, match="disk full"):
            await asyncio.wait_for(future, 10)
    assert live.names() == ["ONE", "TWO", "THREE"], "a failed transaction offers none of its bursts"
    hub.close()


async def test_payloads_given_as_functions_are_built_on_the_writer_thread_and_one_that_fails_fails_its_burst_alone(
) -> None:
    log, clock = BurstLog(), Clock()
    hub = NotificationHub(log, [StreamInfo("escEvent", "ESC", True)], clock)
    live = Recorder()
    hub.subscribe(SubscriptionRequest("escEvent"), live.deliver, live.complete)
    built_on: set[int] = set()

    def build(status: str) -> Callable[[], etree._Element]:
        def payload() -> etree._Element:
            built_on.add(threading.get_ident())
            if status == "BAD":
                raise ValueError("a character XML cannot carry")
            return esc_event(status)
        return payload

    log.go.clear()  # the three bursts queue up and share one transaction
    first = hub.publish_stored("escEvent", [(build("ONE"), None)], ["1"])
    await asyncio.sleep(0.02)
    bad = hub.publish_stored("escEvent", [(build("TWO"), None), (build("BAD"), None)], ["2", "3"])
    last = hub.publish_stored("escEvent", [(esc_event("FOUR"), None), (build("FIVE"), None)], ["4", "5"])
    log.go.set()
    await asyncio.wait_for(asyncio.gather(first, last), 10)
    with pytest.raises(ValueError, match="XML cannot carry"):
        await asyncio.wait_for(bad, 10)
    assert built_on and threading.get_ident() not in built_on, "built on the loop's thread"
    assert live.names() == ["ONE", "FOUR", "FIVE"], "the burst that could not be built is offered to nobody"
    assert [etree.fromstring(xml).findtext(f"{{{ESC}}}status") for _, _, xml in log.rows] == ["ONE", "FOUR", "FIVE"]
    hub.close()


def test_without_a_loop_payloads_given_as_functions_are_built_at_once() -> None:
    hub, log, _ = make_hub()
    live = Recorder()
    hub.subscribe(SubscriptionRequest("escEvent"), live.deliver, live.complete)
    hub.publish_many("escEvent", [(lambda: esc_event("ONE"), None), (esc_event("TWO"), None)])
    assert live.names() == ["ONE", "TWO"] and len(log.rows) == 2


async def test_publish_stored_that_fails_offers_nothing_and_says_why() -> None:
    log, clock = SlowLog(), Clock()
    hub = NotificationHub(log, [StreamInfo("escEvent", "ESC events", True)], clock)
    live = Recorder()
    hub.subscribe(SubscriptionRequest("escEvent"), live.deliver, live.complete)

    def broken(*_: object, **__: object) -> int:
        raise OSError("disk full")

    log.append_many = broken  # type: ignore[method-assign]
    with pytest.raises(OSError, match="disk full"):
        await hub.publish_stored("escEvent", [(esc_event("ONE"), None)])
    assert live.names() == []
    hub.close()


def test_publish_on_unknown_stream_is_a_bug() -> None:
    hub, _, _ = make_hub()
    with pytest.raises(LocalProtocolError):
        hub.publish("nope", esc_event("X"))


@pytest.mark.parametrize(
    "filter_xml",
    [
        f'<filter type="subtree"><escEvent xmlns="{ESC}"><status>FAILURE</status></escEvent></filter>',
        '<filter type="xpath" select="escEvent[status=\'FAILURE\']"/>',
        '<filter type="xpath" select="/escEvent/status[. = \'FAILURE\']"/>',
    ],
)
def test_filters_select_which_events_are_delivered(filter_xml: str) -> None:
    hub, _, _ = make_hub()
    rec = Recorder()
    spec = parse_filter(etree.fromstring(filter_xml.encode()))
    hub.subscribe(SubscriptionRequest("escEvent", spec), rec.deliver, rec.complete)
    for status in ("SUCCESS", "FAILURE", "SUCCESS", "FAILURE"):
        hub.publish("escEvent", esc_event(status))
    assert rec.names() == ["FAILURE", "FAILURE"]
    assert all(len(p) == 1 for _, p in rec.events)  # delivered whole


# -- replay and stop time ------------------------------------------------------------------------


def _seed(hub: NotificationHub, clock: Clock) -> None:
    for i, status in enumerate(("OLD", "A", "B", "C")):
        clock.now = T0 + timedelta(minutes=i)
        hub.publish("escEvent", esc_event(status))
    clock.now = T0 + timedelta(minutes=10)


def test_replay_then_replay_complete_then_live() -> None:
    hub, _, clock = make_hub()
    _seed(hub, clock)
    rec = Recorder()
    spec = parse_filter(etree.fromstring(b'<filter type="xpath" select="escEvent[status != \'B\']"/>'))
    sub = hub.subscribe(SubscriptionRequest("escEvent", spec, start_time=T0 + timedelta(minutes=1)),
                        rec.deliver, rec.complete)
    assert rec.names() == ["A", "C", "replayComplete"]
    assert [t for t, _ in rec.events[:2]] == [T0 + timedelta(minutes=1), T0 + timedelta(minutes=3)]
    assert etree.QName(rec.events[-1][1]).namespace == NETMOD_NOTIFICATION_NS
    hub.publish("escEvent", esc_event("LIVE"))
    assert rec.names()[-1] == "LIVE" and sub.active and rec.completed == 0


def test_replay_window_in_the_past_completes_at_once() -> None:
    hub, _, clock = make_hub()
    _seed(hub, clock)
    rec = Recorder()
    sub = hub.subscribe(
        SubscriptionRequest("escEvent", start_time=T0 + timedelta(minutes=1), stop_time=T0 + timedelta(minutes=3)),
        rec.deliver, rec.complete,
    )
    assert rec.names() == ["A", "B", "replayComplete", "notificationComplete"]
    assert rec.completed == 1 and not sub.active
    hub.publish("escEvent", esc_event("LATE"))
    assert rec.names()[-1] == "notificationComplete"


async def test_stop_time_expires_without_new_events() -> None:
    hub, _, _ = make_hub()
    rec = Recorder()
    done = asyncio.Event()

    def complete() -> None:
        rec.complete()
        done.set()

    # the stop time is half a second away in real time: the event is stored on the writer thread and offered
    # well before it, however busy the machine (at 50 ms it was not, now and then, under a parallel test run)
    hub.subscribe(SubscriptionRequest("escEvent", start_time=T0, stop_time=T0 + timedelta(seconds=0.5)),
                  rec.deliver, complete)
    assert rec.names() == ["replayComplete"]
    hub.publish("escEvent", esc_event("IN-TIME"))
    await asyncio.wait_for(done.wait(), timeout=5)
    assert rec.names() == ["replayComplete", "IN-TIME", "notificationComplete"] and rec.completed == 1


async def test_event_after_stop_time_ends_the_subscription() -> None:
    hub, _, _ = make_hub()
    rec = Recorder()
    sub = hub.subscribe(SubscriptionRequest("escEvent", start_time=T0, stop_time=T0 + timedelta(hours=1)),
                        rec.deliver, rec.complete)
    hub.publish("escEvent", esc_event("LATE"), event_time=T0 + timedelta(hours=2))
    assert rec.names() == ["replayComplete"]  # on the loop, stored (and then delivered) with the next ones
    await hub.drain()
    assert rec.names() == ["replayComplete", "notificationComplete"] and rec.completed == 1
    assert not sub.active
    await asyncio.sleep(0)


async def test_cancel_stops_the_timer() -> None:
    hub, _, _ = make_hub()
    rec = Recorder()
    sub = hub.subscribe(SubscriptionRequest("escEvent", start_time=T0, stop_time=T0 + timedelta(seconds=0.02)),
                        rec.deliver, rec.complete)
    sub.cancel()
    await asyncio.sleep(0.1)
    assert rec.names() == ["replayComplete"] and rec.completed == 0


def test_stop_time_without_a_loop_is_refused() -> None:
    hub, _, _ = make_hub()
    with pytest.raises(LocalProtocolError):
        hub.subscribe(SubscriptionRequest("escEvent", start_time=T0, stop_time=T0 + timedelta(hours=1)),
                      Recorder().deliver, lambda: None)


def test_unreadable_replay_rows_are_skipped() -> None:
    hub, log, _ = make_hub()
    log.append("escEvent", T0, b"<broken")
    log.append("escEvent", T0, etree.tostring(esc_event("OK")))
    rec = Recorder()
    hub.subscribe(SubscriptionRequest("escEvent", start_time=T0), rec.deliver, rec.complete)
    assert rec.names() == ["OK", "replayComplete"]


# -- streams for <get> -----------------------------------------------------------------------------


def test_streams_element() -> None:
    hub, _, clock = make_hub()
    clock.advance(60)
    hub.publish("escEvent", esc_event("X"))
    root = hub.streams_element()
    ns = {"n": NETMOD_NOTIFICATION_NS}
    assert root.tag == f"{{{NETMOD_NOTIFICATION_NS}}}netconf"
    streams = root.findall("n:streams/n:stream", ns)
    assert [s.findtext("n:name", namespaces=ns) for s in streams] == ["NETCONF", "escEvent"]
    assert [s.findtext("n:replaySupport", namespaces=ns) for s in streams] == ["false", "true"]
    assert streams[0].find("n:replayLogCreationTime", ns) is None
    assert streams[1].findtext("n:description", namespaces=ns) == "ESC events"
    assert streams[1].findtext("n:replayLogCreationTime", namespaces=ns) == "2026-01-01T12:00:00Z"
