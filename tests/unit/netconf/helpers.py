"""Two sans-IO sessions joined by passing bytes, like h11's ``tests/helpers.py::ConnectionPair``."""

from __future__ import annotations

from collections.abc import Sequence

from esc_netconf.netconf.client_session import ClientSession
from esc_netconf.netconf.messages import (
    CAP_BASE_10,
    CAP_BASE_11,
    NEED_DATA,
    ClientEvent,
    Closed,
    Hello,
    ServerEvent,
)
from esc_netconf.netconf.session import ServerSession

BOTH = (CAP_BASE_10, CAP_BASE_11)


class ConnectionPair:
    """A :class:`ServerSession` and a :class:`ClientSession` talking through in-memory byte pipes."""

    def __init__(
        self,
        server_capabilities: Sequence[str] = BOTH,
        client_capabilities: Sequence[str] = BOTH,
        session_id: int = 1,
        max_message_size: int = 1 << 20,
    ) -> None:
        self.server = ServerSession(session_id, server_capabilities, max_message_size=max_message_size)
        self.client = ClientSession(max_message_size=max_message_size)
        self.client_capabilities = tuple(client_capabilities)

    def handshake(self) -> tuple[Hello, Hello]:
        """Exchange hellos; returns (hello the client saw, hello the server saw)."""
        self.client.receive_data(self.server.start())
        self.server.receive_data(self.client.start(self.client_capabilities))
        seen_by_client = self.client.next_event()
        seen_by_server = self.server.next_event()
        assert isinstance(seen_by_client, Hello), seen_by_client
        assert isinstance(seen_by_server, Hello), seen_by_server
        return seen_by_client, seen_by_server

    def server_events(self, data: bytes = b"") -> list[ServerEvent | ClientEvent]:
        """Feed ``data`` to the server and drain its events."""
        if data:
            self.server.receive_data(data)
        return drain(self.server)

    def client_events(self, data: bytes = b"") -> list[ServerEvent | ClientEvent]:
        """Feed ``data`` to the client and drain its events."""
        if data:
            self.client.receive_data(data)
        return drain(self.client)


def drain(session: ServerSession | ClientSession, limit: int = 10_000) -> list[ServerEvent | ClientEvent]:
    """All events until NEED_DATA (or the first Closed); bounded, so a bug cannot hang a test."""
    events: list[ServerEvent | ClientEvent] = []
    for _ in range(limit):
        event = session.next_event()
        if event is NEED_DATA:
            return events
        events.append(event)
        if isinstance(event, Closed):
            return events
    raise AssertionError("session produced events without end")
