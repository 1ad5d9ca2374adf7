"""NETCONF protocol errors: what goes into an ``<rpc-error>``, and what breaks a session.

Two families live here, and they must not be confused:

* :class:`NetconfError` is an answer. Anything that can be told to the peer in an ``<rpc-error>``
  (RFC 6241 section 4.3 and Appendix A) is raised as a ``NetconfError`` carrying the error-tag and
  error-type as enum data, never as a string to be parsed later. The session goes on afterwards.
  :class:`NetconfErrors` carries several at once (validation usually finds more than one problem).
* :class:`ProtocolError` is a broken session, split as in h11: :class:`LocalProtocolError` means
  *our* code misused the sans-IO session (e.g. replied before the hello exchange); it is a bug
  and nothing is sent. :class:`RemoteProtocolError` means the *peer* violated the framing or the
  hello rules; nothing sensible can be answered and the session is closed.

Rendering to XML stays here, in the protocol layer, so that the exception constructors stay cheap
and the rest of the project never builds ``<rpc-error>`` by hand.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from enum import Enum

from lxml import etree

from esc_netconf.errors import EscError
from esc_netconf.nsmap import default_namespace

BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
XML_NS = "http://www.w3.org/XML/1998/namespace"


class ErrorType(str, Enum):
    """The layer at which an error occurred (RFC 6241 section 4.3, ``error-type``)."""

    TRANSPORT = "transport"
    RPC = "rpc"
    PROTOCOL = "protocol"
    APPLICATION = "application"


class ErrorTag(str, Enum):
    """Every ``error-tag`` of RFC 6241 Appendix A."""

    IN_USE = "in-use"
    INVALID_VALUE = "invalid-value"
    TOO_BIG = "too-big"
    MISSING_ATTRIBUTE = "missing-attribute"
    BAD_ATTRIBUTE = "bad-attribute"
    UNKNOWN_ATTRIBUTE = "unknown-attribute"
    MISSING_ELEMENT = "missing-element"
    BAD_ELEMENT = "bad-element"
    UNKNOWN_ELEMENT = "unknown-element"
    UNKNOWN_NAMESPACE = "unknown-namespace"
    ACCESS_DENIED = "access-denied"
    LOCK_DENIED = "lock-denied"
    RESOURCE_DENIED = "resource-denied"
    ROLLBACK_FAILED = "rollback-failed"
    DATA_EXISTS = "data-exists"
    DATA_MISSING = "data-missing"
    OPERATION_NOT_SUPPORTED = "operation-not-supported"
    OPERATION_FAILED = "operation-failed"
    MALFORMED_MESSAGE = "malformed-message"


def _base(name: str) -> str:
    return f"{{{BASE_NS}}}{name}"


class NetconfError(EscError):
    """One ``<rpc-error>``: raised anywhere below the server, rendered by :meth:`to_element`.

    ``info`` maps an element name (local name, or Clark ``{ns}name`` for a namespaced one) to its
    text; each becomes a child of ``<error-info>`` (``{"bad-element": "rpc"}``, ``{"session-id": "3"}``,
    ESC's ``{"error_code": "404"}``). ``path`` is an XPath into the request or the datastore, and
    ``path_nsmap`` declares the prefixes it uses on the ``<error-path>`` element, so a client can
    resolve them (RFC 6241 says the path is "in the context of the namespaces in scope").
    """

    def __init__(
        self,
        tag: ErrorTag,
        message: str,
        *,
        type: ErrorType = ErrorType.APPLICATION,  # the RFC's own word, fixed by INTERFACES.md
        path: str | None = None,
        info: Mapping[str, str] | None = None,
        app_tag: str | None = None,
        severity: str = "error",
        path_nsmap: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.tag = ErrorTag(tag)
        self.message = message
        self.error_type = ErrorType(type)
        self.path = path
        self.info: dict[str, str] = dict(info or {})
        self.app_tag = app_tag
        self.severity = severity
        self.path_nsmap: dict[str, str] = dict(path_nsmap or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.tag.value!r}, {self.message!r}, type={self.error_type.value!r})"

    def __iter__(self) -> Iterator[NetconfError]:
        """Iterate over the single errors (one here; several for :class:`NetconfErrors`)."""
        yield self

    def to_element(self) -> etree._Element:
        """Render one ``<rpc-error>`` element in the base:1.0 namespace."""
        err = etree.Element(_base("rpc-error"), nsmap=default_namespace(BASE_NS))
        etree.SubElement(err, _base("error-type")).text = self.error_type.value
        etree.SubElement(err, _base("error-tag")).text = self.tag.value
        etree.SubElement(err, _base("error-severity")).text = self.severity
        if self.app_tag is not None:
            etree.SubElement(err, _base("error-app-tag")).text = self.app_tag
        if self.path is not None:
            nsmap = {prefix: ns for prefix, ns in self.path_nsmap.items() if prefix}
            etree.SubElement(err, _base("error-path"), nsmap=nsmap or None).text = self.path
        if self.message:
            msg = etree.SubElement(err, _base("error-message"))
            msg.set(f"{{{XML_NS}}}lang", "en")
            msg.text = self.message
        if self.info:
            info = etree.SubElement(err, _base("error-info"))
            for name, text in self.info.items():
                etree.SubElement(info, name if name.startswith("{") else _base(name)).text = text
        return err

    def to_elements(self) -> list[etree._Element]:
        """Every ``<rpc-error>`` this error stands for, in order."""
        return [e.to_element() for e in self]


class NetconfErrors(NetconfError):
    """Several ``<rpc-error>`` elements in one reply.

    It behaves as its first error for code that looks only at ``tag``/``message`` (so a caller that
    catches ``NetconfError`` still sees a sensible summary), and iterates over all of them.
    """

    def __init__(self, errors: Sequence[NetconfError]) -> None:
        flat = tuple(single for error in errors for single in error)
        if not flat:
            raise ValueError("NetconfErrors needs at least one error")
        first = flat[0]
        super().__init__(
            first.tag,
            first.message,
            type=first.error_type,
            path=first.path,
            info=first.info,
            app_tag=first.app_tag,
            severity=first.severity,
            path_nsmap=first.path_nsmap,
        )
        self.errors: tuple[NetconfError, ...] = flat

    def __repr__(self) -> str:
        return f"NetconfErrors({list(self.errors)!r})"

    def __iter__(self) -> Iterator[NetconfError]:
        return iter(self.errors)

    def to_element(self) -> etree._Element:
        """The first error only; use :meth:`to_elements` to render all of them."""
        return self.errors[0].to_element()


class ProtocolError(EscError):
    """The session itself is broken; see :class:`LocalProtocolError` and :class:`RemoteProtocolError`.

    ``error_tag``/``error_type`` are hints (like h11's ``error_status_hint``) for a server that wants to
    say something before closing, and for the one log line the caller writes.
    """

    def __init__(
        self,
        message: str,
        *,
        error_tag: ErrorTag = ErrorTag.MALFORMED_MESSAGE,
        error_type: ErrorType = ErrorType.RPC,
    ) -> None:
        super().__init__(message)
        self.error_tag = error_tag
        self.error_type = error_type


class LocalProtocolError(ProtocolError):
    """Our own code used the sans-IO session wrongly (a bug here, not the peer's fault)."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the framing or the hello rules; the session must be closed."""


def raise_collected(errors: Sequence[NetconfError]) -> None:
    """Raise what a pass that keeps going after an error collected: nothing, the one error, or all of them."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise NetconfErrors(errors)
