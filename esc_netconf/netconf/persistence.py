"""The persistence seams of the NETCONF layer (docs/INTERFACES.md section 4).

The protocol code never opens a file or a database: the running datastore hands the parts of its
configuration that an edit changed to a :class:`ConfigStore` (:mod:`~esc_netconf.netconf.config_parts`
says what a part is), and the notification streams hand their events to a
:class:`ReplayLog`. ``esc_netconf/store`` implements both on one SQLAlchemy engine; tests use
in-memory fakes. They are ``typing.Protocol`` classes so that neither side imports the other.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ConfigPart:
    """One stored piece of the running configuration: ``key`` names it, ``parent`` is the key of the
    part it goes into (``""`` for ``<data>``), ``seq`` orders it among its parent's parts, ``xml`` is
    the piece (canonical XML)."""

    key: str
    parent: str
    seq: int
    xml: bytes


class ConfigStore(Protocol):
    """Where the running configuration survives a restart."""

    def load_parts(self) -> list[ConfigPart]:
        """Every stored part (in no particular order); empty on a fresh install."""
        ...

    def save_parts(self, write: Sequence[ConfigPart], delete: Collection[str], *, replace_all: bool = False,
                   validated_with: str | None = None) -> None:
        """In one durable transaction: delete the parts keyed ``delete`` (or, with ``replace_all``, every
        part), then store ``write``, replacing parts of the same key, and remember ``validated_with`` (the
        ``YangModel.schema_digest`` that validated the configuration the parts now make up; None: not
        known). Durable when this returns (a kill -9 loses nothing, and never leaves half of it), so the
        datastore calls it before it makes the new configuration visible."""
        ...

    def validated_with(self) -> str | None:
        """What validated the parts the last :meth:`load_parts` returned, as the :meth:`save_parts` that
        stored them said, read with them in one snapshot (None: not known, or nothing loaded yet)."""
        ...


class MemoryConfigStore:
    """A :class:`ConfigStore` in memory, for tests and benches; ``saves`` counts the transactions."""

    def __init__(self, parts: Sequence[ConfigPart] = ()) -> None:
        self.parts: dict[str, ConfigPart] = {p.key: p for p in parts}
        self.saves = 0
        self.schema_digest: str | None = None
        self._loaded_digest: str | None = None

    def load_parts(self) -> list[ConfigPart]:
        self._loaded_digest = self.schema_digest
        return list(self.parts.values())

    def save_parts(self, write: Sequence[ConfigPart], delete: Collection[str], *, replace_all: bool = False,
                   validated_with: str | None = None) -> None:
        if replace_all:
            self.parts.clear()
        for key in delete:
            self.parts.pop(key, None)
        self.parts.update((p.key, p) for p in write)
        self.schema_digest = validated_with
        self.saves += 1

    def validated_with(self) -> str | None:
        return self._loaded_digest


class ReplayLog(Protocol):
    """The notifications of each stream, kept for RFC 5277 replay."""

    def append(self, stream: str, event_time: datetime, xml: bytes) -> int:
        """Store one notification payload and return its sequence number."""
        ...

    def read(self, stream: str, start: datetime, stop: datetime | None, *,
             upto: int | None = None) -> Iterator[tuple[datetime, bytes]]:
        """The notifications of ``stream`` with ``start <= event_time`` (and ``<= stop``: RFC 5277 excludes only later events), oldest first;
        with ``upto``, only those whose sequence number (as ``append`` returns it) is at most ``upto``."""
        ...

    def oldest(self, stream: str) -> datetime | None:
        """The time of the oldest stored notification of ``stream`` (RFC 5277 replayLogCreationTime)."""
        ...

    def prune(self, keep_last: int) -> None:
        """Forget all but the newest ``keep_last`` notifications of every stream."""
        ...
