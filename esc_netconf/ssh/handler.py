"""What the transport hands to the layer above (the NETCONF session glue), and what it expects back.

The transport is NETCONF-agnostic: for every accepted ``netconf`` subsystem channel it calls the
``HandlerFactory`` once with a ``ChannelWriter`` and the ``PeerInfo``, then feeds the handler every
received chunk of bytes (arbitrary boundaries) and finally calls ``connection_lost`` exactly once.
This mirrors asyncio's ``Protocol`` and asyncssh's ``SSHServerSession`` on purpose.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """Who is on the other end: the authenticated user and the TCP source address."""

    username: str
    address: str
    port: int


class ChannelWriter(Protocol):
    """How a handler talks back to its client."""

    def write(self, data: bytes) -> None:
        """Send ``data`` as one unit: concurrent writes from several threads never interleave.

        Blocks while the client's SSH window is full (a client that stops reading for the server's
        write timeout is disconnected). When the data cannot be delivered (the channel is closed, the
        write failed or timed out) it raises :class:`BrokenPipeError`, so the writer stops producing
        for a client that is gone; ``connection_lost`` follows as usual. Do not call it on an event
        loop thread.
        """
        ...

    def close(self) -> None:
        """End the channel, and with it the SSH connection; callable from any thread, idempotent."""
        ...


class SessionHandler(Protocol):
    """Per-channel receiver, called only on that connection's thread."""

    def data_received(self, data: bytes) -> None:
        """Bytes from the client, in order, never empty."""
        ...

    def connection_lost(self, reason: str | None) -> None:
        """Called exactly once: ``None`` after a clean end (client EOF or close, ``ChannelWriter.close``),
        ``"server shutdown"`` when ``SshServer.stop`` ended it, otherwise a short description of the
        error. When the client only half-closed (sent EOF), writes keep working during and after this
        call until the handler closes the writer or the linger time passes, so final replies go out."""
        ...


HandlerFactory = Callable[[ChannelWriter, PeerInfo], SessionHandler]
