"""The client side of a NETCONF session, sans-IO: the mirror image of :class:`ServerSession`.

Tests drive a :class:`ServerSession` with it over an in-memory byte pipe, and the benchmark
pipelines many RPCs through it, so :meth:`ClientSession.rpc` avoids re-parsing what it sends: an
operation given as bytes is framed as it is, without building a tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import quoteattr

from lxml import etree

from esc_netconf.netconf.errors import LocalProtocolError, NetconfError, RemoteProtocolError
from esc_netconf.netconf.framing import DEFAULT_MAX_MESSAGE_SIZE, Framing, encode_message
from esc_netconf.netconf.messages import (
    BASE_NS,
    CAP_BASE_10,
    CAP_BASE_11,
    NEED_DATA,
    NOTIFICATION_NS,
    ClientEvent,
    Closed,
    Hello,
    Notification,
    RpcReply,
    parse_event_time,
)
from esc_netconf.netconf.session import (
    XML_DECLARATION,
    SessionCore,
    SessionState,
    _Trigger,
    build_hello,
)
from esc_netconf.netconf.xmlsafe import parse_xml

DEFAULT_CLIENT_CAPABILITIES = (CAP_BASE_10, CAP_BASE_11)

_RPC_REPLY = f"{{{BASE_NS}}}rpc-reply"
_NOTIFICATION = f"{{{NOTIFICATION_NS}}}notification"
_EVENT_TIME = f"{{{NOTIFICATION_NS}}}eventTime"
_RPC_CLOSE = b"</rpc>"


class ClientSession(SessionCore):
    """A NETCONF client session: ``start()``, ``rpc()``, then ``next_event()`` for replies."""

    def __init__(self, *, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        super().__init__(max_message_size=max_message_size)
        self.session_id: int | None = None
        self._next_id = 0

    @property
    def server_capabilities(self) -> tuple[str, ...]:
        """The capabilities of the server's hello (empty until it arrived)."""
        return self.peer_capabilities

    def start(self, capabilities: Sequence[str] = DEFAULT_CLIENT_CAPABILITIES) -> bytes:
        """Our ``<hello>`` (no session-id), end-of-message framed."""
        self.local_capabilities = tuple(capabilities)
        hello = build_hello(self.local_capabilities, None)
        self._fire(_Trigger.SEND_HELLO)
        return encode_message(hello, Framing.EOM)

    def rpc(self, operation: etree._Element | bytes, message_id: str | None = None) -> bytes:
        """A framed ``<rpc>`` around ``operation``; the message-id counts up from 1 unless given.

        :raises LocalProtocolError: before both hellos were exchanged or after the session closed.
        """
        if self._state is not SessionState.ESTABLISHED:
            raise LocalProtocolError(f"cannot send an rpc in state {self._state.value}")
        if message_id is None:
            self._next_id += 1
            message_id = str(self._next_id)
        body = operation if isinstance(operation, bytes) else etree.tostring(operation, encoding="UTF-8")
        head = f'<rpc xmlns="{BASE_NS}" message-id={quoteattr(message_id)}>'.encode()
        return encode_message(XML_DECLARATION + head + body + _RPC_CLOSE, self._framing)

    def next_event(self) -> ClientEvent:
        """The server's Hello, then RpcReply/Notification events, finally Closed; or NEED_DATA."""
        message = self._next_message()
        if message is None:
            return NEED_DATA
        if isinstance(message, Closed):
            return message
        if self._state in (SessionState.IDLE, SessionState.HELLO_SENT):
            hello = self._receive_hello(message)
            if isinstance(hello, Hello):
                self.session_id = hello.session_id
            return hello
        if self._state is SessionState.HELLO_RECEIVED:
            return self._close_event("server sent a message before our hello")
        return self._parse_message(message)

    def _check_peer_hello(self, hello: Hello) -> None:
        if hello.session_id is None:
            raise RemoteProtocolError("server hello has no session-id")

    def _parse_message(self, message: bytes) -> RpcReply | Notification | Closed:
        try:
            root = parse_xml(message)
        except NetconfError as exc:
            self.close_error = RemoteProtocolError(f"server sent bad XML: {exc.message}")
            return self._close_event(str(self.close_error))
        if root.tag == _RPC_REPLY:
            return RpcReply(message_id=root.get("message-id"), element=root)
        if root.tag == _NOTIFICATION:
            event_time = root.findtext(_EVENT_TIME)
            try:
                return Notification(event_time=parse_event_time(event_time or ""), element=root)
            except ValueError:
                pass
        self.close_error = RemoteProtocolError(f"unexpected message from server: {root.tag}")
        return self._close_event(str(self.close_error))
