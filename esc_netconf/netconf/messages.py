"""The events a sans-IO NETCONF session hands to its owner (the h11 ``_events.py`` pattern).

Each event is an immutable, slotted dataclass; the session produces them from ``next_event()`` and
never acts on them itself. The XML elements inside are the parsed message, owned by the receiver.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Final, Literal

from lxml import etree

from esc_netconf.netconf.errors import NetconfError

BASE_NS: Final = "urn:ietf:params:xml:ns:netconf:base:1.0"
NOTIFICATION_NS: Final = "urn:ietf:params:xml:ns:netconf:notification:1.0"
CAP_BASE_10: Final = "urn:ietf:params:netconf:base:1.0"
CAP_BASE_11: Final = "urn:ietf:params:netconf:base:1.1"


class _Sentinel(Enum):
    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return self.value


NEED_DATA: Final = _Sentinel.NEED_DATA
"""Returned by ``next_event()`` when the buffered bytes do not hold a whole message."""
NeedData = Literal[_Sentinel.NEED_DATA]


@dataclass(frozen=True, slots=True)
class Hello:
    """The peer's ``<hello>``: its capabilities, and the session-id (only a server sends one)."""

    capabilities: tuple[str, ...]
    session_id: int | None


@dataclass(frozen=True, slots=True)
class Rpc:
    """A well-formed ``<rpc>``: ``operation`` is its single child element, ``element`` the ``<rpc>``.

    ``attributes`` holds every attribute of ``<rpc>`` (namespaced ones in Clark notation), because the
    reply must carry all of them back (RFC 6241 section 4.2).
    """

    message_id: str
    attributes: dict[str, str]
    operation: etree._Element
    element: etree._Element


@dataclass(frozen=True, slots=True)
class BadRpc:
    """A message the server answers with an ``<rpc-error>`` and then goes on (no session break)."""

    error: NetconfError
    message_id: str | None
    attributes: dict[str, str]


@dataclass(frozen=True, slots=True)
class RpcReply:
    """An ``<rpc-reply>`` (client side); ``message_id`` is None when the server could not echo one."""

    message_id: str | None
    element: etree._Element

    @property
    def ok(self) -> bool:
        """True for a reply that is exactly ``<ok/>``."""
        return self.element.find(f"{{{BASE_NS}}}ok") is not None

    @property
    def errors(self) -> list[etree._Element]:
        """The ``<rpc-error>`` children."""
        return self.element.findall(f"{{{BASE_NS}}}rpc-error")


@dataclass(frozen=True, slots=True)
class Notification:
    """An RFC 5277 ``<notification>`` (client side): ``element`` is the whole ``<notification>``."""

    event_time: datetime
    element: etree._Element

    @property
    def payload(self) -> etree._Element | None:
        """The event content: the first child element other than ``<eventTime>``."""
        for child in self.element.iterchildren(tag=etree.Element):
            if child.tag != f"{{{NOTIFICATION_NS}}}eventTime":
                return child
        return None


@dataclass(frozen=True, slots=True)
class Closed:
    """The session is over: EOF, a fatal framing error, a bad hello, or a close we asked for.

    ``eof`` tells a peer that went away (RFC 6470 ``dropped``) from one that broke the protocol.
    """

    reason: str
    eof: bool = False


ServerEvent = Hello | Rpc | BadRpc | Closed | NeedData
ClientEvent = Hello | RpcReply | Notification | Closed | NeedData


def format_date_and_time(moment: datetime) -> str:
    """YANG ``date-and-time`` as ESC prints it: UTC, milliseconds, ``+00:00`` (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def format_event_time(moment: datetime) -> str:
    """RFC 3339 ``date-and-time`` as NETCONF peers print it: UTC shown as ``Z``; naive means UTC."""
    text = moment.isoformat() if moment.tzinfo else moment.isoformat() + "+00:00"
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def parse_event_time(text: str) -> datetime:
    """Parse an RFC 3339 ``date-and-time`` (any offset, ``Z``/``z``, any fraction of a second).

    A value without an offset is taken as UTC, which is what every ESC client means by it.

    :raises ValueError: when the text is not a date-and-time.
    """
    value = text.strip().upper()
    if len(value) < 19 or value[10] != "T":
        raise ValueError(f"not an RFC 3339 date-and-time: {text!r}")
    head, sep, tail = value.partition(".")
    if sep:
        digits = len(tail) - len(tail.lstrip("0123456789"))
        fraction, offset = tail[:digits], tail[digits:]
        value = f"{head}.{(fraction + '000000')[:6]}{offset}" if fraction else value
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
