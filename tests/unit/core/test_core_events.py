"""The event bus: every subscriber gets every event; a failing one does not stop the others."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest

from esc_netconf.core.events import EscEvent, EventBus, EventStatus, EventType


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
