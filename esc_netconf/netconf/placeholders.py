"""Parts of a ``get`` reply kept as bytes while its ``<data>`` tree holds a marker in their place.

All opdata at 10,000 VMs is some 300,000 elements: building them into the ``<data>`` tree, copying them
again in the filter's result, serializing and freeing both trees held the event loop for over 100 ms at a
time (issue 13). A state provider whose entries the filter takes whole or not at all
(``filters.selects_entries_whole``) instead puts a stand-in for each entry into the tree, the entry element
with its key leaf and a marker comment for the rest, whose bytes it serialized once and keeps. The filter runs
on that small tree as on the real one (it selects and copies a stand-in exactly when it would the entry, the
comment inside it included), and :meth:`Placeholders.serialize` writes the result and replaces each marker
by its bytes: the reply a tree of the real entries gives, byte for byte, without that tree ever existing.

A filter that looks inside the entries needs them as elements: :meth:`Placeholders.elements` then parses the
whole ``<data>``, markers replaced, back into a tree. lxml parses without holding the GIL, so in a worker
thread that costs the loop nothing, where building the entries' elements on the loop cost it several
times more (and lxml's copies between documents hold the GIL).

The markers carry a random token of this ``get``, so no comment of the configuration can pass for one.
"""

from __future__ import annotations

import re
import secrets

from lxml import etree

from esc_netconf.netconf.messages import BASE_NS
from esc_netconf.netconf.session import SerializedBody, serialize_body
from esc_netconf.netconf.xmlsafe import parse_xml


class Placeholders:
    """The markers of one ``get`` and the content each stands for."""

    def __init__(self) -> None:
        self._prefix = f"esc-netconf-placeholder-{secrets.token_hex(8)}:"
        self._marker = re.compile(re.escape(f"<!--{self._prefix}".encode()) + rb"(\d+)-->")
        self._contents: list[tuple[bytes | memoryview, str]] = []
        self.needs_elements = False
        """Set by a state provider whose entries the ``get``'s filter looks inside: then the ``get`` filters
        :meth:`elements`, not the tree of stand-ins."""

    def __len__(self) -> int:
        """How many markers were added."""
        return len(self._contents)

    def add(self, parent: etree._Element, content: bytes | memoryview, namespace: str) -> None:
        """Append to ``parent`` a marker for ``content``: elements serialized with ``namespace`` as their default
        namespace and written unprefixed, as lxml writes them where that default namespace is in scope (they
        follow what ``parent`` has already)."""
        parent.append(etree.Comment(f"{self._prefix}{len(self._contents)}"))
        self._contents.append((content, namespace))

    def serialize(self, data: etree._Element) -> SerializedBody:
        """``serialize_body([data])`` with each marker in ``data`` (a filter's result, which it takes) replaced
        by its content. A marker where its namespace is not the default one in scope (a filter never moves an
        entry there; this keeps the reply right if one did) gets its content parsed into elements instead.
        Thread-safe: it reads only what :meth:`add` wrote before."""
        if not self._contents:
            return serialize_body([data])
        for comment in list(data.iter(etree.Comment)):
            text = comment.text or ""
            if not text.startswith(self._prefix):
                continue
            parent = comment.getparent()
            content, namespace = self._contents[int(text[len(self._prefix):])]
            if parent is not None and parent.nsmap.get(None) != namespace:
                self._inflate(comment, parent, content, namespace)
        parts = self._marker.split(serialize_body([data]).data)
        parts[1::2] = [self._contents[int(index)][0] for index in parts[1::2]]
        return SerializedBody(b"".join(parts))

    def elements(self, data: etree._Element) -> etree._Element:
        """``data`` with every marker replaced by its content as elements: :meth:`serialize` parsed back (the
        ``<data>`` element of a new document). Thread-safe, as :meth:`serialize`; the parse holds no GIL."""
        if not self._contents:
            return data
        body = self.serialize(data).data
        wrapper = parse_xml(b'<wrapper xmlns="%s">%s</wrapper>' % (BASE_NS.encode(), body))
        return wrapper[0]

    @staticmethod
    def _inflate(comment: etree._Element, parent: etree._Element, content: bytes | memoryview,
                 namespace: str) -> None:
        holder = parse_xml(b'<holder xmlns="%s">%s</holder>' % (namespace.encode(), bytes(content)))
        at = parent.index(comment)
        parent.remove(comment)
        for offset, child in enumerate(list(holder)):
            parent.insert(at + offset, child)
