"""What the server knows about one NETCONF session, shared by the connection and the RPC handlers.

A ``SessionContext`` lives on two threads: the transport thread that owns the socket creates it and
feeds it RPCs, and the asyncio loop thread runs the handlers and delivers notifications. Everything
the loop sends leaves through :meth:`SessionContext.send`, which only enqueues bytes for the
connection's single writer, so a slow subscriber never blocks the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from lxml import etree

if TYPE_CHECKING:
    from esc_netconf.netconf.errors import NetconfError
    from esc_netconf.netconf.session import SerializedBody
    from esc_netconf.netconf.subscriptions import Subscription


class TerminationReason(str, Enum):
    """RFC 6470 ``termination-reason`` of ``netconf-session-end``."""

    CLOSED = "closed"
    KILLED = "killed"
    DROPPED = "dropped"
    TIMEOUT = "timeout"
    BAD_HELLO = "bad-hello"
    OTHER = "other"


@dataclass(slots=True)
class ServerCounters:
    """The server-wide ``/netconf-state/statistics`` of RFC 6022."""

    in_bad_hellos: int = 0
    in_sessions: int = 0
    dropped_sessions: int = 0
    in_rpcs: int = 0
    in_bad_rpcs: int = 0
    out_rpc_errors: int = 0
    out_notifications: int = 0


@dataclass(slots=True)
class SessionCounters:
    """The per-session statistics of ietf-netconf-monitoring."""

    in_rpcs: int = 0
    in_bad_rpcs: int = 0
    out_rpc_errors: int = 0
    out_notifications: int = 0


class Outbound(Protocol):
    """The connection side of a session, as the loop sees it."""

    def reply(self, attributes: Mapping[str, str], body: list[etree._Element] | SerializedBody | None) -> None:
        """Queue the ``<rpc-reply>`` (``<ok/>`` when ``body`` is None)."""

    def reply_error(self, attributes: Mapping[str, str], error: NetconfError) -> None:
        """Queue an ``<rpc-reply>`` carrying the error(s)."""

    def close_after_reply(self) -> None:
        """End the session once the queued messages are written (``close-session``)."""

    def send_message(self, build: Callable[[], bytes]) -> None:
        """Enqueue one whole framed message, built under the session's lock."""

    def notification_bytes(self, event_time: datetime, payload: etree._Element) -> bytes:
        """Frame a notification in the session's negotiated framing."""

    def terminate(self, reason: TerminationReason) -> None:
        """End the session from any thread (kill-session, shutdown, overflow)."""


@dataclass(slots=True)
class SessionContext:
    """One established (or establishing) NETCONF session."""

    session_id: int
    username: str
    source_host: str
    transport: Outbound
    login_time: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    counters: SessionCounters = field(default_factory=SessionCounters)
    subscription: Subscription | None = None
    established: bool = False
    killed_by: int | None = None
    after_reply: Callable[[], None] | None = None
    lock_time: datetime | None = None
    server_counters: ServerCounters | None = None
    _held: list[tuple[datetime, etree._Element]] | None = None

    def hold_notifications(self) -> None:
        """Queue notifications instead of sending them until :meth:`release_notifications`.

        ``create-subscription`` replays stored events at once; they must follow its ``<rpc-reply>``.
        """
        self._held = []

    def release_notifications(self) -> None:
        held, self._held = self._held or [], None
        for event_time, payload in held:
            self.send_notification(event_time, payload)

    def send_notification(self, event_time: datetime, payload: etree._Element) -> None:
        if self._held is not None:
            self._held.append((event_time, payload))
            return
        self.counters.out_notifications += 1
        if self.server_counters is not None:
            self.server_counters.out_notifications += 1
        self.transport.send_message(lambda: self.transport.notification_bytes(event_time, payload))
