"""Every rpc-reply and notification a test session receives, kept byte for byte for an outside validator.

A :class:`RecordingNetconf` is a :class:`RawNetconf` that writes each reply (with the ``<rpc>`` it answers) and
each notification into a shared :class:`Journal`, so that nothing the server sends during a run can escape
the check: the tests use these sessions for every call they make.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

from lxml import etree

from esc_netconf.netconf.messages import Notification, RpcReply
from tests.integration.raw_client import RawNetconf

BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"


@dataclass(frozen=True)
class Message:
    """One message from the server: ``request`` is the ``<rpc>`` a reply answers (None for a notification)."""

    label: str
    xml: bytes
    request: bytes | None
    operation: etree.QName

    @property
    def is_reply(self) -> bool:
        return self.request is not None


@dataclass
class Journal:
    messages: list[Message] = field(default_factory=list)

    def add(self, label: str, element: etree._Element, request: bytes | None, operation: etree.QName) -> None:
        number = len(self.messages) + 1
        self.messages.append(Message(f"#{number} {label}", etree.tostring(element), request, operation))


def _operation_name(operation: bytes) -> etree.QName:
    return etree.QName(etree.fromstring(operation, etree.XMLParser(resolve_entities=False, no_network=True)))


class RecordingNetconf(RawNetconf):
    """A raw NETCONF session whose every reply and notification lands in ``journal``."""

    def __init__(self, port: int, journal: Journal, name: str) -> None:
        super().__init__(port)
        self.journal, self.name = journal, name

    def call(self, operation: bytes) -> RpcReply:
        reply = super().call(operation)
        message_id = reply.element.get("message-id", "")
        request = f"<rpc xmlns={quoteattr(BASE)} message-id={quoteattr(message_id)}>".encode() + operation + b"</rpc>"
        op = _operation_name(operation)
        self.journal.add(f"{self.name}: rpc-reply to <{op.localname}>", reply.element, request, op)
        return reply

    def notification(self, timeout: float = 10.0) -> Notification:
        notification = super().notification(timeout)
        payload = notification.payload
        op = etree.QName(payload) if payload is not None else etree.QName(BASE, "notification")
        self.journal.add(f"{self.name}: notification <{op.localname}>", notification.element, None, op)
        return notification
