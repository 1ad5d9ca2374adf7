"""The one place where bytes from the network become an XML tree.

A NETCONF peer is untrusted, and XML has two classic traps: entity expansion ("billion laughs") and
external entities (XXE: ``<!ENTITY x SYSTEM "file:///etc/passwd">``). NETCONF never needs a DTD, so
the parser never loads or resolves one, never touches the network, keeps libxml2's size limits
(``huge_tree=False``), and any document that *declares* a DOCTYPE is refused outright rather than
parsed with its entities left as opaque references: a message that tries that is malformed for us.

Leading whitespace before ``<?xml`` is stripped, because real clients (scrapli-netconf, some
vendor scripts) send a newline first and libxml2 refuses a declaration that is not at offset 0.

Messages from a peer are also held to :class:`XmlLimits` (attributes per element, elements, depth).
Parsing itself is cheap even for absurd documents (libxml2 hashes attributes: 100,000 of them on one
element parse in tens of milliseconds); what is not cheap is everything after it: lxml looks up each
attribute by name along the element's attribute list, so reading or copying the attributes of one
element is quadratic (100,000 attributes on ``<rpc>``, which the reply echoes, froze the server for
two minutes). So a message is checked right after parsing, in C (two compiled XPaths, one pass each),
and the element count is bounded *before* parsing by counting ``<`` (every element needs one), so a
64 MiB message of ``<a/>`` is never turned into a tree of millions of nodes.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class XmlLimits:
    """Shape limits for a message from a peer; the defaults are far above any real NETCONF message
    (an ESC edit-config of 10,000 tenants has 20,000 elements, a depth of 6 and 1 attribute each)."""

    max_attributes: int = 64
    max_elements: int = 500_000
    max_depth: int = 64


MESSAGE_LIMITS = XmlLimits()


def _too_big(message: str) -> NetconfError:
    return NetconfError(ErrorTag.TOO_BIG, message, type=ErrorType.RPC)


def parse_xml(data: bytes, limits: XmlLimits | None = None) -> etree._Element:
    """Parse one XML document safely and return its root element.

    ``limits`` applies to documents from a peer; the server's own stored data is parsed without.

    :raises NetconfError: ``malformed-message`` (type ``rpc``) when the bytes are not well-formed XML,
        or when they declare a DOCTYPE or entities; ``too-big`` when the document exceeds ``limits``.
    """
    text = data.lstrip(_WHITESPACE)
    if not text:
        raise NetconfError(ErrorTag.MALFORMED_MESSAGE, "Empty message.", type=ErrorType.RPC)
    if limits is not None and text.count(b"<") > limits.max_elements:
        _count_elements(text, limits.max_elements)
    try:
        root = etree.fromstring(text, _thread_parser())
    except etree.XMLSyntaxError as exc:
        raise NetconfError(
            ErrorTag.MALFORMED_MESSAGE, f"The message is not well-formed XML: {exc}", type=ErrorType.RPC
        ) from exc
    plain = _plain_bytes(text)
    if (not plain or b"<!" in text) and _declares_doctype(root):
        raise NetconfError(
            ErrorTag.MALFORMED_MESSAGE,
            "DOCTYPE and entity declarations are not allowed in NETCONF messages.",
            type=ErrorType.RPC,
        )
    if limits is not None and (not plain or _may_exceed_shape(text, limits)):
        _check_shape(root, limits)
    return root


def _plain_bytes(text: bytes) -> bool:
    """True when every markup character is its own ASCII byte, so the byte tests of :func:`parse_xml`
    see each one: UTF-8 or ASCII (no declared encoding, or one of those), starting with ``<`` and
    without NUL (so not UTF-16/32, EBCDIC, or UTF-7, which spells ``<`` as ``+ADw-``)."""
    if not text.startswith(b"<") or b"\x00" in text:
        return False
    if not text.startswith(b"<?xml"):
        return True
    declared = _DECLARED_ENCODING.match(text)
    return declared is None or declared.group(1).lower() in _PLAIN_ENCODINGS


_DECLARED_ENCODING = re.compile(rb"<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']*)")
_PLAIN_ENCODINGS = frozenset({b"utf-8", b"utf8", b"us-ascii", b"ascii"})


def _may_exceed_shape(text: bytes, limits: XmlLimits) -> bool:
    """False when the bytes alone prove the shape limits hold, so a small RPC skips the two XPath passes:
    nesting deeper than ``max_depth`` needs more than ``max_depth`` ``<``, and an element with more than
    ``max_attributes`` attributes needs more than that many ``=``."""
    return text.count(b"<") > limits.max_depth or text.count(b"=") > limits.max_attributes


def _declares_doctype(root: etree._Element) -> bool:
    docinfo = root.getroottree().docinfo
    return bool(docinfo.internalDTD is not None or docinfo.doctype or docinfo.system_url or docinfo.public_id)


def _count_elements(text: bytes, limit: int) -> None:
    """Count start tags with a pull parser (``<`` also occurs in comments, CDATA and end tags), stopping
    at the first one over ``limit``; only documents with more ``<`` than the limit come here."""
    parser = etree.XMLPullParser(events=("start",), resolve_entities=False, no_network=True, load_dtd=False)
    count = 0
    step = 1 << 16
    for offset in range(0, len(text), step):
        try:
            parser.feed(text[offset : offset + step])
        except etree.XMLSyntaxError:
            return  # the real parse reports it, with the usual message
        for _ in parser.read_events():
            count += 1
            if count > limit:
                raise _too_big(f"The message has more than {limit} elements.")


_XPATHS: dict[XmlLimits, tuple[etree.XPath, etree.XPath]] = {}


def _check_shape(root: etree._Element, limits: XmlLimits) -> None:
    xpaths = _XPATHS.get(limits)
    if xpaths is None:
        # A node at depth max_depth + 1: each step visits only the nodes of one level, so one pass.
        too_deep = etree.XPath("boolean(/" + "/".join(["*"] * (limits.max_depth + 1)) + ")")
        crowded = etree.XPath(f"(//*[count(@*) > {limits.max_attributes}])[1]")
        xpaths = _XPATHS[limits] = (too_deep, crowded)
    too_deep, crowded = xpaths
    if too_deep(root):
        raise _too_big(f"The message nests elements deeper than {limits.max_depth} levels.")
    hits = crowded(root)
    if isinstance(hits, list) and hits:
        element = hits[0]
        name = etree.QName(element).localname if isinstance(element, etree._Element) else "?"
        raise _too_big(f"The element <{name}> has more than {limits.max_attributes} attributes.")


def _thread_parser() -> etree.XMLParser:
    """A parser per thread: a parser is not thread-safe (paramiko runs one thread per session),
    and creating one costs more than parsing a small RPC."""
    parser: etree.XMLParser | None = getattr(_LOCAL, "parser", None)
    if parser is None:
        parser = _parser()
        _LOCAL.parser = parser
    return parser

