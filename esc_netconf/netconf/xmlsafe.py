"""The one place where bytes from the network become an XML tree.

A NETCONF peer is untrusted, and XML has two classic traps: entity expansion ("billion laughs") and
external entities (XXE: ``<!ENTITY x SYSTEM "file:///etc/passwd">``). NETCONF never needs a DTD, so
the parser never loads or resolves one, never touches the network, keeps libxml2's size limits
(``huge_tree=False``), and any document that *declares* a DOCTYPE is refused outright rather than
parsed with its entities left as opaque references: a message that tries that is malformed for us.

Leading whitespace before ``<?xml`` is stripped, because real clients (scrapli-netconf, some
vendor scripts) send a newline first and libxml2 refuses a declaration that is not at offset 0.
"""

from __future__ import annotations

import threading

from lxml import etree

from esc_netconf.netconf.errors import ErrorTag, ErrorType, NetconfError

_WHITESPACE = b" \t\r\n"


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


_LOCAL = threading.local()


def parse_xml(data: bytes) -> etree._Element:
    """Parse one XML document safely and return its root element.

    :raises NetconfError: ``malformed-message`` (type ``rpc``) when the bytes are not well-formed XML,
        or when they declare a DOCTYPE or entities.
    """
    text = data.lstrip(_WHITESPACE)
    if not text:
        raise NetconfError(ErrorTag.MALFORMED_MESSAGE, "Empty message.", type=ErrorType.RPC)
    try:
        root = etree.fromstring(text, _thread_parser())
    except etree.XMLSyntaxError as exc:
        raise NetconfError(
            ErrorTag.MALFORMED_MESSAGE, f"The message is not well-formed XML: {exc}", type=ErrorType.RPC
        ) from exc
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.doctype or docinfo.system_url or docinfo.public_id:
        raise NetconfError(
            ErrorTag.MALFORMED_MESSAGE,
            "DOCTYPE and entity declarations are not allowed in NETCONF messages.",
            type=ErrorType.RPC,
        )
    return root


def _thread_parser() -> etree.XMLParser:
    """A parser per thread: a parser is not thread-safe (paramiko runs one thread per session),
    and creating one costs more than parsing a small RPC."""
    parser: etree.XMLParser | None = getattr(_LOCAL, "parser", None)
    if parser is None:
        parser = _parser()
        _LOCAL.parser = parser
    return parser

