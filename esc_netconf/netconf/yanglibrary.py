"""The YANG library (RFC 8525, module ``ietf-yang-library`` 2019-01-04): which modules the server
implements or imports, with their revisions, features, deviations and submodules.

A server with YANG 1.1 modules announces them this way (RFC 7950 section 5.6.4): the ``<hello>``
carries ``urn:ietf:params:netconf:capability:yang-library:1.0?revision=<date>&module-set-id=<id>``,
and ``<get>`` returns both trees of the module: ``/yang-library`` (RFC 8525) and the deprecated
``/modules-state`` (RFC 7895), which is what libnetconf2 2.x clients read to set up their context.
This server does not implement NMDA (no ``<get-data>``, RFC 8526), so it uses the 1.0 capability with
``module-set-id`` rather than 1.1 with ``content-id``; both ids are one digest of the module set, so
they change exactly when the set does.

The model does not change while the server runs, so the trees are built once and copied per ``<get>``.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from typing import Final

from lxml import etree

from esc_netconf.netconf.yangmodel import ModuleInfo
from esc_netconf.nsmap import default_namespace

YANG_LIBRARY_NS: Final = "urn:ietf:params:xml:ns:yang:ietf-yang-library"
DATASTORES_NS: Final = "urn:ietf:params:xml:ns:yang:ietf-datastores"
YANG_LIBRARY_CAPABILITY: Final = "urn:ietf:params:netconf:capability:yang-library:1.0"

MODULE_SET: Final = "complete"
SCHEMA: Final = "complete"
DATASTORES: Final = ("running", "operational")
"""``running`` is the only configuration datastore; ``<get>`` also returns state, i.e. operational data."""


def _q(name: str) -> str:
    return f"{{{YANG_LIBRARY_NS}}}{name}"


def _leaf(parent: etree._Element, name: str, text: str) -> etree._Element:
    element = etree.SubElement(parent, _q(name))
    element.text = text
    return element


class YangLibrary:
    """The library of one loaded model; see the module docstring."""

    def __init__(self, modules: Sequence[ModuleInfo]) -> None:
        self._modules = tuple(m for m in modules if m.belongs_to is None)
        self._submodules = tuple(m for m in modules if m.belongs_to is not None)
        own = [m for m in self._modules if m.name == "ietf-yang-library"]
        self.revision = own[0].revision if own else "2019-01-04"
        self.module_set_id = self._digest()
        self._yang_library = self._render_yang_library()
        self._modules_state = self._render_modules_state()

    def capability(self) -> str:
        """The ``<hello>`` capability of RFC 7950 section 5.6.4."""
        return f"{YANG_LIBRARY_CAPABILITY}?revision={self.revision}&module-set-id={self.module_set_id}"

    def elements(self) -> list[etree._Element]:
        """Fresh copies of ``/yang-library`` and ``/modules-state`` for a ``<get>`` reply."""
        return [copy.deepcopy(self._yang_library), copy.deepcopy(self._modules_state)]

    def _digest(self) -> str:
        """A digest of everything the library says, so that it changes exactly when the set does."""
        digest = hashlib.sha256()
        for m in (*self._modules, *self._submodules):
            fields = (m.name, m.revision, m.namespace, str(m.implemented), ",".join(m.features),
                      ",".join(m.deviations), m.belongs_to or "")
            digest.update("\x1f".join(fields).encode() + b"\x1e")
        return digest.hexdigest()[:16]

    def _submodules_of(self, module: ModuleInfo) -> list[ModuleInfo]:
        return [s for s in self._submodules if s.belongs_to == module.name]

    def _render_yang_library(self) -> etree._Element:
        root = etree.Element(_q("yang-library"), nsmap=default_namespace(YANG_LIBRARY_NS))
        module_set = etree.SubElement(root, _q("module-set"))
        _leaf(module_set, "name", MODULE_SET)
        for m in self._modules:
            if not m.implemented:
                continue
            entry = etree.SubElement(module_set, _q("module"))
            _leaf(entry, "name", m.name)
            if m.revision:
                _leaf(entry, "revision", m.revision)
            _leaf(entry, "namespace", m.namespace)
            for sub in self._submodules_of(m):
                item = etree.SubElement(entry, _q("submodule"))
                _leaf(item, "name", sub.name)
                if sub.revision:
                    _leaf(item, "revision", sub.revision)
            for feature in m.features:
                _leaf(entry, "feature", feature)
            for deviation in m.deviations:
                _leaf(entry, "deviation", deviation)
        for m in self._modules:
            if m.implemented:
                continue
            entry = etree.SubElement(module_set, _q("import-only-module"))
            _leaf(entry, "name", m.name)
            _leaf(entry, "revision", m.revision)
            _leaf(entry, "namespace", m.namespace)
            for sub in self._submodules_of(m):
                item = etree.SubElement(entry, _q("submodule"))
                _leaf(item, "name", sub.name)
                if sub.revision:
                    _leaf(item, "revision", sub.revision)
        schema = etree.SubElement(root, _q("schema"))
        _leaf(schema, "name", SCHEMA)
        _leaf(schema, "module-set", MODULE_SET)
        for name in DATASTORES:
            datastore = etree.SubElement(root, _q("datastore"))
            # the identity's prefix is declared on the leaf itself, so that every copy a filter makes keeps it
            etree.SubElement(datastore, _q("name"), nsmap={"ds": DATASTORES_NS}).text = f"ds:{name}"
            _leaf(datastore, "schema", SCHEMA)
        _leaf(root, "content-id", self.module_set_id)
        return root

    def _render_modules_state(self) -> etree._Element:
        root = etree.Element(_q("modules-state"), nsmap=default_namespace(YANG_LIBRARY_NS))
        _leaf(root, "module-set-id", self.module_set_id)
        revisions = {m.name: m.revision for m in self._modules}
        for m in self._modules:
            entry = etree.SubElement(root, _q("module"))
            _leaf(entry, "name", m.name)
            _leaf(entry, "revision", m.revision)
            _leaf(entry, "namespace", m.namespace)
            for feature in m.features:
                _leaf(entry, "feature", feature)
            for deviation in m.deviations:
                item = etree.SubElement(entry, _q("deviation"))
                _leaf(item, "name", deviation)
                _leaf(item, "revision", revisions.get(deviation, ""))
            _leaf(entry, "conformance-type", "implement" if m.implemented else "import")
            for sub in self._submodules_of(m):
                item = etree.SubElement(entry, _q("submodule"))
                _leaf(item, "name", sub.name)
                _leaf(item, "revision", sub.revision)
        return root
