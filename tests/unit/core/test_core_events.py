"""The event bus: every subscriber gets every event; a failing one does not stop the others."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone

import pytest

from esc_netconf.core.events import RELEASE_BATCH, RELEASE_SLICE, EscEvent, EventBus, EventStatus, EventType


def _event(kind: EventType) -> EscEvent:
    return EscEvent(kind, EventStatus.SUCCESS, 200, "ok", "d", "t", "p", "id", None, None,
                    datetime.now(timezone.utc))


def test_publish_reaches_subscribers_despite_a_broken_one(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    seen: list[EventType] = []

    def broken(event: EscEvent) -> None:
        raise RuntimeError("boom")

    bus.subscribe(broken)
    stop = bus.subscribe(lambda e: seen.append(e.event_type))
    with caplog.at_level(logging.ERROR):
        bus.publish(_event(EventType.VM_ALIVE))
    assert seen == [EventType.VM_ALIVE]
    assert "boom" in caplog.text
    stop()
    stop()
    bus.publish(_event(EventType.SERVICE_ALIVE))
    assert seen == [EventType.VM_ALIVE]


async def test_a_release_slice_counts_what_the_batch_subscribers_will_take() -> None:
    """Batch subscribers costing 1 ms per event: once their cost is known, a loop turn delivers about
    ``RELEASE_SLICE`` worth of events, not a full ``RELEASE_BATCH`` of them after the slice ran out."""
    bus = EventBus()
    durable = [0]
    bus.gate(lambda: 1, lambda: durable[0])
    batches: list[int] = []

    def costly(events: list[EscEvent]) -> None:
        batches.append(len(events))
        time.sleep(0.001 * len(events))  # building each escEvent's XML, say

    bus.subscribe_many(costly)
    for _ in range(200):
        bus.publish(_event(EventType.VM_ALIVE))
    durable[0] = 1
    turns: list[int] = []
    bus.release()
    while sum(batches) < 200:
        turns.append(sum(batches))
        await asyncio.sleep(0)
    per_turn = [b - a for a, b in zip(turns, turns[1:] + [200])]
    assert batches[0] == RELEASE_BATCH  # the first batch, at a cost not yet known, is a full one
    # every later turn stays near the slice: its share of events, plus the one that crossed it
    bound = RELEASE_SLICE / 0.001 + 1
    assert max(batches[1:]) <= bound and max(per_turn) <= bound, (batches, per_turn)
