"""The NETCONF session state machine (RFC 6241 section 8.1, RFC 6242), sans-IO.

Theory of operation
-------------------
A session is a conversation between two peers over one byte stream. This module never reads or
writes a socket: the owner feeds received bytes with ``receive_data()`` (``b""`` means EOF), pulls
events with ``next_event()``, and writes whatever bytes the ``start()``/``reply()``/``rpc()`` calls
return. That keeps the protocol testable without sockets and lets the SSH layer stay tiny.

Both peers start by sending a ``<hello>``; neither waits for the other before sending its own, so
the hellos may cross in either order. We track the two halves separately::

                      send hello                    receive hello
           IDLE ------------------> HELLO_SENT ------------------------+
             |                                                          v
             |  receive hello                       send hello
             +--------------> HELLO_RECEIVED ------------------> ESTABLISHED
                                                                        |
      (any state) --- EOF, fatal framing error, bad hello, close() ---> CLOSED

The table ``_TRANSITIONS`` below is the whole machine; any other (state, trigger) pair is a bug in
the caller and raises :class:`LocalProtocolError` without changing anything (h11's rule: illegal
transitions raise and nothing happens). ``HELLO_RECEIVED`` exists only for the server that reads the
client's hello before it has written its own; in that state the session decodes nothing further
(a conforming peer waits for our hello before it sends anything else).

Framing: every hello travels in end-of-message framing (the client's may also arrive chunked,
which some clients do). At the moment the session becomes ``ESTABLISHED`` the framing of everything
that follows is fixed: chunked if both hellos announced ``base:1.1``, else end-of-message. Because
``next_event()`` decodes one message at a time, an ``<rpc>`` that arrived in the same read as the
hello is decoded with the new framing.

What closes the session (the ``Closed`` event, state ``CLOSED``): EOF; a framing violation or a
message over ``max_message_size`` (:class:`RemoteProtocolError`, kept in ``close_error`` for the one
log line); a hello that is not XML, is not ``<hello>``, lacks base:1.0 and base:1.1, or (from a
client) carries a session-id (RFC 6241 section 8.1 requires the server to terminate the session
then); a second ``<hello>`` after the exchange (the hello exchange happens once, so a peer that
sends another has lost track of the session); and ``close()`` after ``close-session`` or
``kill-session``.

What does *not* close it (a :class:`BadRpc`, answered with an ``<rpc-error>``): a message that is
not XML (malformed-message), an ``<rpc>`` without ``message-id`` (missing-attribute, RFC 6241
section 4.1), an ``<rpc>`` without exactly one operation, and a well-formed message that is not an
``<rpc>`` (answered with malformed-message, echoing its message-id attribute if it has one).
RFC 6241 defines malformed-message for exactly "a message that could not be handled because it
failed to be parsed correctly"; answering keeps the session, so a confused client gets an error it
can read instead of a dropped connection, and the framing is still intact, so nothing is lost.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from lxml import etree

from esc_netconf.netconf.errors import (
    ErrorTag,
    ErrorType,
    LocalProtocolError,
    NetconfError,
    RemoteProtocolError,
)
from esc_netconf.netconf.framing import DEFAULT_MAX_MESSAGE_SIZE, FrameDecoder, Framing, encode_message, encode_parts
from esc_netconf.netconf.messages import (
    BASE_NS,
    CAP_BASE_10,
    CAP_BASE_11,
    NEED_DATA,
    NOTIFICATION_NS,
    BadRpc,
    Closed,
    Hello,
    Rpc,
    ServerEvent,
    format_event_time,
)
from esc_netconf.netconf.xmlsafe import MESSAGE_LIMITS, parse_xml
from esc_netconf.nsmap import default_namespace

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

_HELLO = f"{{{BASE_NS}}}hello"
_RPC = f"{{{BASE_NS}}}rpc"


class SessionState(Enum):
    """Where a session stands in the hello exchange (see the module docstring)."""

    IDLE = "idle"
    HELLO_SENT = "hello-sent"
    HELLO_RECEIVED = "hello-received"
    ESTABLISHED = "established"
    CLOSED = "closed"


class _Trigger(Enum):
    SEND_HELLO = "send hello"
    RECEIVE_HELLO = "receive hello"
    CLOSE = "close"


_TRANSITIONS: dict[SessionState, dict[_Trigger, SessionState]] = {
    SessionState.IDLE: {
        _Trigger.SEND_HELLO: SessionState.HELLO_SENT,
        _Trigger.RECEIVE_HELLO: SessionState.HELLO_RECEIVED,
        _Trigger.CLOSE: SessionState.CLOSED,
    },
    SessionState.HELLO_SENT: {
        _Trigger.RECEIVE_HELLO: SessionState.ESTABLISHED,
        _Trigger.CLOSE: SessionState.CLOSED,
    },
    SessionState.HELLO_RECEIVED: {
        _Trigger.SEND_HELLO: SessionState.ESTABLISHED,
        _Trigger.CLOSE: SessionState.CLOSED,
    },
    SessionState.ESTABLISHED: {_Trigger.CLOSE: SessionState.CLOSED},
    SessionState.CLOSED: {_Trigger.CLOSE: SessionState.CLOSED},
}


def serialize(element: etree._Element) -> bytes:
    """Serialize a whole message with the declaration every NETCONF peer expects."""
    return XML_DECLARATION + etree.tostring(element, encoding="UTF-8", xml_declaration=False)


def build_hello(capabilities: Sequence[str], session_id: int | None) -> bytes:
    """A serialized ``<hello>`` (not framed). The capabilities part is built once per list: a server
    sends the same list in every session, and only the session-id differs."""
    template = _hello_without_session_id(tuple(capabilities))
    if session_id is None:
        return template
    # the template ends with the root's end tag; session-id is in the default (base) namespace as well
    return template[: -len(_HELLO_END)] + b"<session-id>%d</session-id>" % session_id + _HELLO_END


_HELLO_END = b"</hello>"


@functools.lru_cache(maxsize=8)
def _hello_without_session_id(capabilities: tuple[str, ...]) -> bytes:
    hello = etree.Element(_HELLO, nsmap=default_namespace(BASE_NS))
    caps = etree.SubElement(hello, f"{{{BASE_NS}}}capabilities")
    for capability in capabilities:
        etree.SubElement(caps, f"{{{BASE_NS}}}capability").text = capability
    data = serialize(hello)
    assert data.endswith(_HELLO_END)
    return data


def parse_hello(message: bytes) -> Hello:
    """Parse a ``<hello>``; the caller applies the role-specific rules.

    :raises RemoteProtocolError: not XML, not a ``<hello>``, a bad session-id, or no base capability.
    """
    try:
        root = parse_xml(message, MESSAGE_LIMITS)
    except NetconfError as exc:
        raise RemoteProtocolError(f"bad hello: {exc.message}") from exc
    if root.tag != _HELLO:
        raise RemoteProtocolError(f"expected <hello> in {BASE_NS}, got {root.tag}")
    capabilities = tuple(
        (cap.text or "").strip()
        for cap in root.iterfind(f"{{{BASE_NS}}}capabilities/{{{BASE_NS}}}capability")
    )
    if CAP_BASE_10 not in capabilities and CAP_BASE_11 not in capabilities:
        raise RemoteProtocolError("hello announces neither base:1.0 nor base:1.1")
    session_id: int | None = None
    sid = root.find(f"{{{BASE_NS}}}session-id")
    if sid is not None:
        text = (sid.text or "").strip()
        if not text.isdigit() or int(text) < 1:
            raise RemoteProtocolError(f"bad session-id in hello: {text!r}")
        session_id = int(text)
    return Hello(capabilities=capabilities, session_id=session_id)


_REPLY_START = b'<rpc-reply xmlns="%s">' % BASE_NS.encode()
_REPLY_END = b"</rpc-reply>"


@dataclass(frozen=True, slots=True)
class SerializedBody:
    """The content of an ``<rpc-reply>`` as bytes (see :meth:`ServerSession.reply_serialized`)."""

    data: bytes


def serialize_body(body: Sequence[etree._Element]) -> SerializedBody:
    """Serialize reply content exactly as :meth:`ServerSession.reply` would inside the reply (lxml drops
    a namespace declaration the ``<rpc-reply>`` already makes), so the bytes can be kept and sent again.
    Elements that belong to another tree are copied, others moved (as :meth:`ServerSession.reply` does).
    Thread-safe: it touches nothing shared."""
    reply = etree.Element(f"{{{BASE_NS}}}rpc-reply", nsmap=default_namespace(BASE_NS))
    for element in body:
        adopt(reply, element)
    data = etree.tostring(reply, encoding="UTF-8", xml_declaration=False)
    if data.endswith(b"/>"):  # no content at all
        return SerializedBody(b"")
    assert data.startswith(_REPLY_START) and data.endswith(_REPLY_END), data[:100]
    return SerializedBody(data[len(_REPLY_START):-len(_REPLY_END)])


_PLAIN_ATTRIBUTE = re.compile(r"[\x20\x21\x23-\x25\x27-\x3b\x3d\x3f-\x7e]*")
"""Printable ASCII without the characters lxml escapes in an attribute value (``"``, ``&``, ``<``, ``>``)."""


def _reply_start_tag(rpc_attributes: Mapping[str, str]) -> bytes:
    """``<rpc-reply xmlns=... attributes...>`` as lxml writes it: built from bytes when every attribute
    is unqualified and its value plain ASCII that needs no escaping (``message-id="101"``, the usual
    case), by lxml otherwise (namespaced attributes need declarations, other values escaping)."""
    parts = [_REPLY_START[:-1]]
    for name, value in rpc_attributes.items():
        if "{" in name or not _PLAIN_ATTRIBUTE.fullmatch(value):
            break
        parts.append(b' %s="%s"' % (name.encode(), value.encode()))
    else:
        parts.append(b">")
        return b"".join(parts)
    reply = etree.Element(f"{{{BASE_NS}}}rpc-reply", nsmap=default_namespace(BASE_NS))
    for name, value in rpc_attributes.items():
        reply.set(name, value)
    shell = etree.tostring(reply, encoding="UTF-8", xml_declaration=False)
    assert shell.endswith(b"/>")  # an element without content serializes as ``<rpc-reply .../>``
    return shell[:-2] + b">"


def adopt(parent: etree._Element, child: etree._Element) -> None:
    """Append ``child``, copying it if it still belongs to another tree (never steal a caller's node)."""
    parent.append(child if child.getparent() is None else deepcopy(child))


class SessionCore:
    """What both roles share: the state table, the frame decoder, EOF and close handling."""

    def __init__(self, *, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        self._state = SessionState.IDLE
        self._decoder = FrameDecoder(None, max_message_size=max_message_size)
        self._framing = Framing.EOM
        self._eof = False
        self._closed: Closed | None = None
        self.local_capabilities: tuple[str, ...] = ()
        self.peer_capabilities: tuple[str, ...] = ()
        self.close_error: RemoteProtocolError | None = None

    @property
    def state(self) -> SessionState:
        """The current state; see the module docstring."""
        return self._state

    @property
    def framing(self) -> Framing:
        """The framing of outgoing messages (EOM until both hellos announced base:1.1)."""
        return self._framing

    @property
    def buffered_bytes(self) -> int:
        """Bytes received and not yet decoded into a whole message."""
        return self._decoder.buffered_bytes

    def discard_input(self) -> None:
        """Drop the bytes of an unfinished message (the owner is ending the session); replies can
        still be encoded."""
        self._decoder.discard()

    def _fire(self, trigger: _Trigger) -> None:
        new = _TRANSITIONS[self._state].get(trigger)
        if new is None:
            raise LocalProtocolError(f"cannot {trigger.value} in state {self._state.value}")
        self._state = new
        if new is SessionState.ESTABLISHED:
            both_11 = CAP_BASE_11 in self.local_capabilities and CAP_BASE_11 in self.peer_capabilities
            self._framing = Framing.CHUNKED if both_11 else Framing.EOM
            self._decoder.framing = self._framing

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the transport; ``b""`` means the peer closed its side.

        Bytes that arrive after the session closed are dropped: they can mean nothing any more, and
        the transport may race with our own close.
        """
        if self._state is SessionState.CLOSED:
            return
        if not data:
            self._eof = True
        else:
            self._decoder.feed(data)

    def encode(self, message: bytes) -> bytes:
        """Frame one serialized message in the negotiated framing.

        :raises LocalProtocolError: before our hello was sent or after the session closed.
        """
        if self._state in (SessionState.IDLE, SessionState.HELLO_RECEIVED, SessionState.CLOSED):
            raise LocalProtocolError(f"cannot send a message in state {self._state.value}")
        return encode_message(message, self._framing)

    def close(self, reason: str = "session closed", *, eof: bool = False) -> None:
        """Close the session (after ``close-session``, ``kill-session`` or a transport error)."""
        self._fire(_Trigger.CLOSE)
        self._decoder.discard()
        if self._closed is None:
            self._closed = Closed(reason, eof)

    def _close_event(self, reason: str, *, eof: bool = False) -> Closed:
        self.close(reason, eof=eof)
        assert self._closed is not None
        return self._closed

    def _next_message(self) -> bytes | Closed | None:
        """The next framed message, the ``Closed`` event (EOF, framing error), or None."""
        if self._closed is not None:
            return self._closed
        try:
            message = self._decoder.next_message()
        except RemoteProtocolError as exc:
            self.close_error = exc
            return self._close_event(f"framing error: {exc}")
        if message is not None:
            return message
        if self._eof:
            partial = self._decoder.has_partial_message()
            return self._close_event("EOF in the middle of a message" if partial else "EOF", eof=True)
        return None

    def _receive_hello(self, message: bytes) -> Hello | Closed:
        try:
            hello = parse_hello(message)
            self._check_peer_hello(hello)
        except RemoteProtocolError as exc:
            self.close_error = exc
            return self._close_event(str(exc))
        self.peer_capabilities = hello.capabilities
        self._fire(_Trigger.RECEIVE_HELLO)
        return hello

    def _check_peer_hello(self, hello: Hello) -> None:
        """Role-specific hello rules; raise :class:`RemoteProtocolError` to refuse."""


class ServerSession(SessionCore):
    """The server side of one NETCONF session (INTERFACES.md section 2)."""

    def __init__(
        self,
        session_id: int,
        capabilities: Sequence[str],
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        super().__init__(max_message_size=max_message_size)
        self.session_id = session_id
        self.local_capabilities = tuple(capabilities)

    @property
    def client_capabilities(self) -> tuple[str, ...]:
        """The capabilities of the client's hello (empty until it arrived)."""
        return self.peer_capabilities

    def start(self) -> bytes:
        """Our ``<hello>`` with session-id and capabilities, always end-of-message framed."""
        hello = build_hello(self.local_capabilities, self.session_id)
        self._fire(_Trigger.SEND_HELLO)
        return encode_message(hello, Framing.EOM)

    def next_event(self) -> ServerEvent:
        """The next event: the client's Hello, then Rpc/BadRpc, finally Closed; or NEED_DATA."""
        if self._state is SessionState.HELLO_RECEIVED and not self._eof and self._closed is None:
            return NEED_DATA
        message = self._next_message()
        if message is None:
            return NEED_DATA
        if isinstance(message, Closed):
            return message
        if self._state in (SessionState.IDLE, SessionState.HELLO_SENT):
            return self._receive_hello(message)
        if self._state is SessionState.HELLO_RECEIVED:
            return self._close_event("client sent a message before our hello")
        return self._parse_rpc(message)

    def _check_peer_hello(self, hello: Hello) -> None:
        if hello.session_id is not None:
            raise RemoteProtocolError("client hello carries a session-id")

    def _parse_rpc(self, message: bytes) -> Rpc | BadRpc | Closed:
        try:
            root = parse_xml(message, MESSAGE_LIMITS)
        except NetconfError as exc:
            return BadRpc(exc, None, {})
        attributes = {str(k): str(v) for k, v in root.attrib.items()}
        message_id = attributes.get("message-id")
        if root.tag == _HELLO:
            self.close_error = RemoteProtocolError("second <hello> after the session was established")
            return self._close_event(str(self.close_error))
        if root.tag != _RPC:
            error = NetconfError(
                ErrorTag.MALFORMED_MESSAGE,
                f"Expected an <rpc> element in namespace {BASE_NS}, got {root.tag}.",
                type=ErrorType.RPC,
            )
            return BadRpc(error, message_id, attributes)
        if message_id is None:
            error = NetconfError(
                ErrorTag.MISSING_ATTRIBUTE,
                "The <rpc> element has no message-id attribute.",
                type=ErrorType.RPC,
                info={"bad-attribute": "message-id", "bad-element": "rpc"},
            )
            return BadRpc(error, None, attributes)
        operations = list(root.iterchildren(tag=etree.Element))
        if len(operations) != 1:
            error = NetconfError(
                ErrorTag.MALFORMED_MESSAGE,
                f"An <rpc> must hold exactly one operation, this one holds {len(operations)}.",
                type=ErrorType.RPC,
                info={"bad-element": "rpc"},
            )
            return BadRpc(error, message_id, attributes)
        return Rpc(message_id=message_id, attributes=attributes, operation=operations[0], element=root)

    def _require_established(self) -> None:
        if self._state is not SessionState.ESTABLISHED:
            raise LocalProtocolError(f"cannot reply in state {self._state.value}")

    def _reply_element(self, rpc_attributes: Mapping[str, str]) -> etree._Element:
        reply = etree.Element(f"{{{BASE_NS}}}rpc-reply", nsmap=default_namespace(BASE_NS))
        for name, value in rpc_attributes.items():
            reply.set(name, value)
        return reply

    def reply(self, rpc_attributes: Mapping[str, str], body: Sequence[etree._Element] | None) -> bytes:
        """A framed ``<rpc-reply>`` carrying every attribute of the ``<rpc>`` (RFC 6241 section 4.2).

        ``body`` None means ``<ok/>``. Elements that belong to another tree are copied, others moved.

        :raises LocalProtocolError: unless the session is established.
        """
        self._require_established()
        reply = self._reply_element(rpc_attributes)
        if body is None:
            etree.SubElement(reply, f"{{{BASE_NS}}}ok")
        else:
            for element in body:
                adopt(reply, element)
        return encode_message(serialize(reply), self._framing)

    def reply_serialized(self, rpc_attributes: Mapping[str, str], body: SerializedBody) -> bytes:
        """A framed ``<rpc-reply>`` around a body serialized earlier by :func:`serialize_body`: the same
        bytes :meth:`reply` would give for the elements the body was made of, without building or
        serializing them again (a cached ``get-config`` answer is a byte copy).

        :raises LocalProtocolError: unless the session is established.
        """
        self._require_established()
        return encode_parts((XML_DECLARATION, _reply_start_tag(rpc_attributes), body.data, _REPLY_END), self._framing)

    def reply_error(self, rpc_attributes: Mapping[str, str], error: NetconfError) -> bytes:
        """A framed ``<rpc-reply>`` with one ``<rpc-error>`` per error in ``error``."""
        self._require_established()
        reply = self._reply_element(rpc_attributes)
        for element in error.to_elements():
            reply.append(element)
        return encode_message(serialize(reply), self._framing)

    def notification(self, event_time: datetime, payload: etree._Element) -> bytes:
        """A framed RFC 5277 ``<notification>`` with ``<eventTime>`` and the payload element."""
        self._require_established()
        note = etree.Element(f"{{{NOTIFICATION_NS}}}notification", nsmap=default_namespace(NOTIFICATION_NS))
        etree.SubElement(note, f"{{{NOTIFICATION_NS}}}eventTime").text = format_event_time(event_time)
        adopt(note, payload)
        return encode_message(serialize(note), self._framing)
