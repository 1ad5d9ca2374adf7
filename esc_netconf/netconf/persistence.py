"""The persistence seams of the NETCONF layer (docs/INTERFACES.md section 4).

The protocol code never opens a file or a database: the running datastore hands its canonical
XML to a :class:`ConfigStore`, and the notification streams hand their events to a
:class:`ReplayLog`. ``esc_netconf/store`` implements both on one SQLAlchemy engine; tests use
in-memory fakes. They are ``typing.Protocol`` classes so that neither side imports the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Protocol


class ConfigStore(Protocol):
    """Where the running configuration survives a restart."""

    def load_running(self) -> bytes | None:
        """The XML saved by the last :meth:`save_running`, or ``None`` on a fresh install."""
        ...

    def save_running(self, xml: bytes) -> None:
        """Store the whole running configuration; it is durable when this returns (a kill -9 loses
        nothing), so the datastore calls it before it makes the new configuration visible."""
        ...


class ReplayLog(Protocol):
    """The notifications of each stream, kept for RFC 5277 replay."""

    def append(self, stream: str, event_time: datetime, xml: bytes) -> int:
        """Store one notification payload and return its sequence number."""
        ...

    def read(self, stream: str, start: datetime, stop: datetime | None) -> Iterator[tuple[datetime, bytes]]:
        """The notifications of ``stream`` with ``start <= event_time`` (and ``<= stop``: RFC 5277 excludes only later events), oldest first."""
        ...

    def oldest(self, stream: str) -> datetime | None:
        """The time of the oldest stored notification of ``stream`` (RFC 5277 replayLogCreationTime)."""
        ...

    def prune(self, keep_last: int) -> None:
        """Forget all but the newest ``keep_last`` notifications of every stream."""
        ...
