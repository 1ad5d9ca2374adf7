"""Events published on the loop share a replay-log transaction: stored before they are delivered, in
publication order, and never both replayed and delivered live to a new subscriber."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from lxml import etree

from esc_netconf.netconf.subscriptions import GROUP_COMMIT_SECONDS, NotificationHub, StreamInfo, SubscriptionRequest
from tests.unit.netconf.test_subscriptions import T0, Clock, MemoryReplayLog, Recorder, esc_event


class BatchingLog(MemoryReplayLog):
    """Records each transaction (one ``append_many`` call) and what subscribers had seen by then."""

    def __init__(self, seen: Recorder) -> None:
        super().__init__()
        self.transactions: list[tuple[str, int, int]] = []  # (stream, events, delivered before it)
        self._seen = seen

    def append_many(self, stream: str, events: Sequence[tuple[datetime, bytes]],
                    event_ids: Sequence[str | None] | None = None) -> None:
        self.transactions.append((stream, len(events), len(self._seen.events)))
        for event_time, xml in events:
            self.append(stream, event_time, xml)


def _hub(log: MemoryReplayLog) -> NotificationHub:
    return NotificationHub(log, [StreamInfo("NETCONF", "d", True), StreamInfo("escEvent", "e", True)], Clock())


def _statuses(log: MemoryReplayLog) -> list[tuple[str, str | None]]:
    return [(stream, etree.fromstring(xml).findtext("{http://www.cisco.com/esc/esc}status"))
            for stream, _, xml in log.rows]


async def test_events_of_one_moment_share_a_transaction_and_are_delivered_once_stored() -> None:
    live = Recorder()
    log = BatchingLog(live)
    hub = _hub(log)
    hub.subscribe(SubscriptionRequest("NETCONF"), live.deliver, live.complete)
    hub.publish("NETCONF", esc_event("START"))
    hub.publish("NETCONF", esc_event("END"))
    assert live.names() == [] and log.rows == []  # waiting for the window
    await asyncio.sleep(GROUP_COMMIT_SECONDS * 5)
    assert log.transactions == [("NETCONF", 2, 0)]  # one transaction, nothing delivered before it
    assert live.names() == ["START", "END"]


async def test_a_burst_stored_with_publish_many_comes_after_the_waiting_events() -> None:
    live = Recorder()
    log = BatchingLog(live)
    hub = _hub(log)
    hub.subscribe(SubscriptionRequest("escEvent"), live.deliver, live.complete)
    hub.publish("NETCONF", esc_event("FIRST"))
    hub.publish_many("escEvent", [(esc_event("SECOND"), None)])
    assert _statuses(log) == [("NETCONF", "FIRST"), ("escEvent", "SECOND")]
    assert live.names() == ["SECOND"]


async def test_a_new_subscription_replays_a_waiting_event_and_does_not_get_it_again() -> None:
    log = MemoryReplayLog()
    hub = _hub(log)
    hub.publish("NETCONF", esc_event("WAITING"), event_time=T0)
    rec = Recorder()
    hub.subscribe(SubscriptionRequest("NETCONF", start_time=T0), rec.deliver, rec.complete)
    await asyncio.sleep(GROUP_COMMIT_SECONDS * 5)
    assert rec.names() == ["WAITING", "replayComplete"]


async def test_flush_stores_and_delivers_at_once() -> None:
    live = Recorder()
    log = BatchingLog(live)
    hub = _hub(log)
    hub.subscribe(SubscriptionRequest("NETCONF"), live.deliver, live.complete)
    hub.publish("NETCONF", esc_event("NOW"))
    hub.flush()
    assert log.transactions == [("NETCONF", 1, 0)] and live.names() == ["NOW"]
    await asyncio.sleep(GROUP_COMMIT_SECONDS * 3)
    assert log.transactions == [("NETCONF", 1, 0)]  # the window's timer was cancelled: nothing twice


def test_without_a_running_loop_an_event_is_stored_and_delivered_before_publish_returns() -> None:
    live = Recorder()
    log = BatchingLog(live)
    hub = _hub(log)
    hub.subscribe(SubscriptionRequest("NETCONF"), live.deliver, live.complete)
    hub.publish("NETCONF", esc_event("SYNC"))
    assert log.transactions == [("NETCONF", 1, 0)] and live.names() == ["SYNC"]
