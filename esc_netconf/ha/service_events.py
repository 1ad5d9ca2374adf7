"""``ESC_IN_SERVICE`` and ``ESC_OUT_OF_SERVICE``: a member of a group tells subscribers it starts or stops
serving as the active.

ESC sends this pair around a loss of service (its watchdog sends OUT_OF_SERVICE when it stops serving and
IN_SERVICE when it serves again). Here a member sends IN_SERVICE when it becomes the active (at start, at a
takeover, at a switchover) before it resumes the work in flight, and OUT_OF_SERVICE when it hands the role
over or stops cleanly, after its work wound down. Both go through the domain's ``EventBus`` like every
other event, so the shared replay log holds each once and a subscriber replaying with ``startTime`` on any
member sees where the service moved. An active that lost its lease sends nothing: it may not write any
more, and the member that took over says IN_SERVICE.
"""

from __future__ import annotations

from datetime import datetime, timezone

from esc_netconf.core.events import EscEvent, EventStatus, EventType

__all__ = ["in_service", "out_of_service"]


def _event(event_type: EventType, message: str) -> EscEvent:
    return EscEvent(event_type=event_type, status=EventStatus.SUCCESS, status_code=200, status_message=message,
                    depname=None, tenant=None, tenant_id=None, depid=None, vm_group=None, vm_source=None,
                    event_time=datetime.now(timezone.utc))


def in_service(node: str) -> EscEvent:
    return _event(EventType.ESC_IN_SERVICE, f"ESC is in service: {node} is the active of its group.")


def out_of_service(node: str, why: str) -> EscEvent:
    """``why``: e.g. ``handed the role to b:123`` or ``stopped``."""
    return _event(EventType.ESC_OUT_OF_SERVICE, f"ESC is out of service on {node}: {why}.")
