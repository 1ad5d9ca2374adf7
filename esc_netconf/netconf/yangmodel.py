"""The YANG model: module texts for get-schema, and RFC 7950 validation of instance data.

Theory of operation
-------------------
Two libraries, each for what it does best:

* **pyang** parses every module of ``yang/`` and the standard modules the protocol implements
  (:data:`~esc_netconf.netconf.capabilities.IMPLEMENTED_STANDARD_MODULES`, shipped in ``yang/ietf/``),
  with every module they import, from those two directories only: the server serves exactly the
  texts it loaded. It gives us names, revisions, namespaces, prefixes, features and deviations,
  which become the ``<hello>`` capabilities, the YANG library and the ``get-schema`` answers.
* **yangson** validates instance data with full RFC 7950 semantics (types, ranges, lengths,
  patterns, enums, mandatory, keys, unique, min/max-elements, must, when, leafref). It wants an
  RFC 7895 YANG-library document, which :meth:`YangModel.load` writes from what pyang found.

yangson 1.7.9 has a ``from_xml``, but it is not sound enough for untrusted input: it looks list keys
up without their namespace, silently takes the *first* element for a leaf that occurs twice, and
reports failures as JSON pointers. So :class:`_RawBuilder` walks the lxml tree alongside the
yangson schema and produces RFC 7951 raw JSON itself. Walking the schema is also what gives every
error an RFC 6241 shape and an XPath ``error-path`` with prefixes
(``/esc:esc_datamodel/esc:tenants/esc:tenant[esc:name='t']``): unknown elements and namespaces,
malformed values and missing keys are caught there, during parsing (RFC 7950 section 8.3.1);
constraints between nodes are then checked by yangson (section 8.3.3) and its exceptions
translated by :func:`_translate` (RFC 7950 section 15).

The model does not change after :meth:`YangModel.load`; schema look-ups and the digests of
configurations found valid are cached. Validation must run on one thread at a time (in this
server: the asyncio loop thread), because yangson keeps the message of the last failed type check
on the shared type object.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree
from pyang import context as pyang_context
from pyang import error as pyang_error
from pyang import repository as pyang_repository
from yangson import DataModel
from yangson import datatype as yt
from yangson import schemanode as ys
from yangson.enumerations import ContentType, ValidationScope
from yangson.exceptions import SchemaError, ValidationError, YangsonException, YangTypeError
from yangson.instance import ArrayEntry, InstanceNode

from esc_netconf import __version__
from esc_netconf.errors import EscError
from esc_netconf.netconf.capabilities import IMPLEMENTED_STANDARD_MODULES, STANDARD_FEATURES
from esc_netconf.netconf.incremental import ChangedOnly, EditedTree, self_contained_lists
from esc_netconf.netconf.errors import ErrorTag, ErrorType, NetconfError, raise_collected
from esc_netconf.netconf import yangson_pauses
from esc_netconf.nsmap import default_namespace
from esc_netconf.packaged import standard_yang_dir

_VALID_CACHE_SIZE = 8

# yangson's own wording for a broken range or length; anything else came from an error-message
# statement in the module, which is written for operators and therefore shown as is.
_YANGSON_MESSAGES = frozenset({"not in range", "invalid length"})

_NODE_KINDS: dict[type, str] = {
    ys.ListNode: "list",
    ys.LeafListNode: "leaf-list",
    ys.LeafNode: "leaf",
    ys.ContainerNode: "container",
    ys.AnydataNode: "anydata",
    ys.AnyxmlNode: "anyxml",
}


class YangModelError(EscError):
    """The YANG modules themselves are broken (a build problem, never a client's fault)."""


@dataclass(frozen=True, slots=True)
class ModuleInfo:
    """One YANG module or submodule as served by get-schema and listed by the YANG library.

    ``implemented`` is RFC 7950 section 5.6.5's conformance (``False``: import-only); ``features`` are
    the enabled ones; ``deviations`` name the modules that deviate this one; ``belongs_to`` is the
    module of a submodule (``None`` for a module).
    """

    name: str
    revision: str
    namespace: str
    prefix: str
    text: str
    path: Path
    implemented: bool = True
    features: tuple[str, ...] = ()
    deviations: tuple[str, ...] = ()
    belongs_to: str | None = None


@dataclass(frozen=True, slots=True)
class SchemaNodeInfo:
    """What edit-config needs to know about one data node.

    ``keys`` are Clark names (``{ns}name``) of a list's keys, in key order. ``default`` is the
    canonical text of a leaf's default, or the tuple of a leaf-list's defaults, or ``None``.
    """

    kind: str
    keys: tuple[str, ...]
    config: bool
    default: str | tuple[str, ...] | None
    mandatory: bool = False
    presence: bool = False


class DataPath:
    """An XPath with prefixes (an RFC 6241 ``error-path``) built while walking instance data, plus
    the prefix -> namespace map it needs (``NetconfError.path_nsmap``)."""

    __slots__ = ("steps", "nsmap")

    def __init__(self, steps: tuple[str, ...] = (), nsmap: Mapping[str, str] | None = None) -> None:
        self.steps = steps
        self.nsmap: dict[str, str] = dict(nsmap or {})

    def child(self, prefix: str, namespace: str, name: str) -> DataPath:
        return DataPath((*self.steps, f"{prefix}:{name}"), {**self.nsmap, prefix: namespace})

    def predicate(self, text: str) -> DataPath:
        return DataPath((*self.steps[:-1], self.steps[-1] + text), self.nsmap)

    def __str__(self) -> str:
        return "/" + "/".join(self.steps)


def key_values(entry: etree._Element, keys: Sequence[str]) -> tuple[str, ...]:
    """The values of a list entry's key leaves (Clark names, in key order), stripped; ``""`` for a
    missing one. Key leaves come first in an entry (edit-config writes them first, storage keeps the
    order), so each is looked for at its position before searching: finding entries among thousands
    of siblings reads every sibling's keys, and this keeps that read cheap."""
    values = []
    size = len(entry)
    for position, key in enumerate(keys):
        leaf = entry[position] if position < size else None
        if leaf is None or leaf.tag != key:
            leaf = entry.find(key)
        values.append((leaf.text or "").strip() if leaf is not None else "")
    return tuple(values)


def quote(value: str) -> str:
    """``value`` as an XPath string literal (XPath 1.0 has no escapes, so pick the other quote)."""
    return f'"{value}"' if "'" in value else f"'{value}'"


class YangModel:
    """The loaded modules; see the module docstring."""

    def __init__(self, modules: tuple[ModuleInfo, ...], datamodel: DataModel) -> None:
        yangson_pauses.install()  # bulk edits validated in a worker thread pause for the loop
        self.modules = modules
        self._dm = datamodel
        self._by_ns: dict[str, ModuleInfo] = {}
        for module in modules:  # modules come before submodules, which share their namespace
            self._by_ns.setdefault(module.namespace, module)
        self._by_yname = {m.name: m for m in modules}
        self._node_cache: dict[tuple[str, ...], SchemaNodeInfo] = {}
        # Digests of configurations already found valid: validating 200 deployments costs ~0.3 s,
        # and the same tree comes back often (a test-only edit then the same edit, a reload, a
        # <validate> of the running config).
        self._valid: OrderedDict[bytes, None] = OrderedDict()
        self._schema_cache: dict[tuple[str, ...], ys.SchemaNode | None] = {}
        self._changed_only = ChangedOnly(self_contained_lists(datamodel.schema), self.schema_node)
        self.schema_digest = _schema_digest(modules)

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(
        cls,
        yang_dir: Path,
        *,
        standard_dir: Path | None = None,
        standard_modules: Sequence[str] = IMPLEMENTED_STANDARD_MODULES,
        standard_features: Mapping[str, Sequence[str]] = STANDARD_FEATURES,
    ) -> YangModel:
        """Parse every module in ``yang_dir`` (the application's, implemented with all their features),
        the standard modules the server implements (``standard_modules`` from ``standard_dir``, the
        shipped ``yang/ietf/`` by default, with ``standard_features`` enabled), and the modules they
        import, found in those two directories and nowhere else.

        :raises YangModelError: when a module is missing, does not parse or does not validate.
        """
        yang_dir = Path(yang_dir)
        standard_dir = Path(standard_dir) if standard_dir is not None else standard_yang_dir()
        search = os.pathsep.join([str(yang_dir), str(standard_dir)])
        ctx = pyang_context.Context(pyang_repository.FileRepository(search, use_env=False))
        ctx.strict = True
        files = sorted(yang_dir.glob("*.yang"))
        if not files:
            raise YangModelError(f"no YANG modules in {yang_dir}")
        own = [ctx.add_module(str(f), f.read_text(encoding="utf-8")) for f in files]
        if any(m is None for m in own):
            raise YangModelError(f"cannot parse the modules of {yang_dir}: {_pyang_errors(ctx)}")
        features: dict[str, tuple[str, ...]] = {
            m.arg: tuple(f.arg for f in m.search("feature")) for m in own if m.keyword == "module"}
        for name in standard_modules:
            found = sorted(standard_dir.glob(f"{name}.yang")) + sorted(standard_dir.glob(f"{name}@*.yang"))
            if not found:
                raise YangModelError(f"the standard module {name} is missing from {standard_dir}")
            if ctx.add_module(str(found[-1]), found[-1].read_text(encoding="utf-8")) is None:
                raise YangModelError(f"cannot parse {found[-1]}: {_pyang_errors(ctx)}")
            features[name] = tuple(standard_features.get(name, ()))
        ctx.validate()
        problems = _pyang_errors(ctx)
        if problems:
            raise YangModelError(f"invalid YANG in {yang_dir} or {standard_dir}: {problems}")
        modules, library = _describe_modules(ctx, features)
        dirs = sorted({str(m.path.parent) for m in modules})
        try:
            datamodel = DataModel(json.dumps(library), dirs)
        except YangsonException as exc:
            raise YangModelError(f"yangson cannot load {yang_dir}: {exc!r}") from exc
        return cls(modules, datamodel)

    # ------------------------------------------------------------------ get-schema and hello

    def capabilities(self) -> list[str]:
        """``ns?module=name&revision=rev[&features=a,b][&deviations=m]`` for each implemented module
        (RFC 6020 section 5.6.4); import-only modules are listed by the YANG library only."""
        caps = []
        for m in self.modules:
            if m.belongs_to is not None or not m.implemented:
                continue
            cap = f"{m.namespace}?module={m.name}" + (f"&revision={m.revision}" if m.revision else "")
            if m.features:
                cap += "&features=" + ",".join(m.features)
            if m.deviations:
                cap += "&deviations=" + ",".join(m.deviations)
            caps.append(cap)
        return caps

    def schema_text(self, identifier: str, version: str | None) -> str:
        """The YANG text of a module or submodule (RFC 6022 get-schema).

        :raises NetconfError: as RFC 6022's module says: ``invalid-value`` when no schema matches (an
            unknown identifier, or a revision we do not have), ``operation-failed`` with app-tag
            ``data-not-unique`` when no version is given and several revisions match.
        """
        found = [m for m in self.modules if m.name == identifier]
        if not found:
            raise NetconfError(ErrorTag.INVALID_VALUE, f"No schema named '{identifier}'.",
                               info={"bad-element": "identifier"})
        if version:
            found = [m for m in found if m.revision == version]
            if not found:
                raise NetconfError(ErrorTag.INVALID_VALUE,
                                   f"Schema '{identifier}' has no revision '{version}'.",
                                   info={"bad-element": "version"})
        if len(found) > 1:
            revisions = ", ".join(sorted(m.revision for m in found))
            raise NetconfError(ErrorTag.OPERATION_FAILED,
                               f"Schema '{identifier}' exists in several revisions ({revisions}); give a version.",
                               app_tag="data-not-unique", info={"bad-element": "version"})
        return found[0].text

    # ------------------------------------------------------------------ schema look-ups

    def has_rpc(self, qname: str) -> bool:
        """Whether ``{ns}name`` is an RPC defined by one of our modules."""
        return isinstance(self._schema_child(self._dm.schema, qname, data_only=False), ys.RpcActionNode)

    def node(self, path: Sequence[str]) -> SchemaNodeInfo | None:
        """The data node at ``path`` (Clark names from the top), or ``None`` if there is none."""
        key = tuple(path)
        info = self._node_cache.get(key)
        if info is None:
            info = self._node_info(key)
            if info is not None:  # only real nodes: a client's made-up names must not grow the cache
                self._node_cache[key] = info
        return info

    def _node_info(self, path: tuple[str, ...]) -> SchemaNodeInfo | None:
        sn: ys.SchemaNode = self._dm.schema
        for qname in path:
            if not isinstance(sn, ys.InternalNode):
                return None
            child = self._schema_child(sn, qname, data_only=True)
            if child is None:
                return None
            sn = child
        kind = next((k for cls, k in _NODE_KINDS.items() if isinstance(sn, cls)), None)
        if kind is None or not isinstance(sn, ys.DataNode):
            return None
        keys: tuple[str, ...] = ()
        if isinstance(sn, ys.ListNode):
            keys = tuple(f"{{{self._by_yname[mod].namespace}}}{name}" for name, mod in sn.keys)
        default: str | tuple[str, ...] | None = None
        if isinstance(sn, ys.LeafNode) and sn.default is not None:
            default = sn.type.canonical_string(sn.default)
        elif isinstance(sn, ys.LeafListNode) and sn.default:
            default = tuple(str(sn.type.canonical_string(v)) for v in sn.default)
        presence = bool(getattr(sn, "presence", False))
        return SchemaNodeInfo(kind, keys, bool(sn.config), default, bool(sn.mandatory), presence)

    def schema_node(self, path: tuple[str, ...]) -> ys.SchemaNode | None:
        """The yangson data node at ``path`` (Clark names from the top), or ``None``; cached."""
        if path in self._schema_cache:
            return self._schema_cache[path]
        sn: ys.SchemaNode | None = self._dm.schema
        for qname in path:
            sn = self._schema_child(sn, qname, data_only=True) if isinstance(sn, ys.InternalNode) else None
            if sn is None:
                return None  # not cached: a client's made-up names must not grow the cache
        self._schema_cache[path] = sn
        return sn

    def _schema_child(self, parent: ys.InternalNode, qname: str, *, data_only: bool) -> ys.SchemaNode | None:
        namespace, _, name = qname[1:].partition("}") if qname.startswith("{") else ("", "", qname)
        module = self._by_ns.get(namespace)
        if module is None:
            return None
        if data_only:
            return parent.get_data_child(name, module.name)
        return parent.get_child(name, module.name)

    # ------------------------------------------------------------------ validation

    def validate_edit(self, old: etree._Element, new: EditedTree) -> None:
        """Validate ``new.tree``, knowing that ``old`` (the running configuration) is valid: what the
        edit left unchanged in self-contained lists is not validated again (see
        :mod:`~esc_netconf.netconf.incremental`); same verdict and errors as :meth:`validate_config`.

        :raises NetconfError: as :meth:`validate_config`.
        """
        self.validate_config(self._changed_only.tree(old, new.tree, new.visited))

    def validate_config(self, data: etree._Element) -> None:
        """Validate a whole configuration (the children of ``<data>`` or ``<config>``).

        :raises NetconfError: (or :class:`NetconfErrors` for several) shaped as RFC 6241
            Appendix A and RFC 7950 section 15 say, with an ``error-path``.
        """
        digest = hashlib.sha256(etree.tostring(data, method="c14n")).digest()
        if digest in self._valid:
            self._valid.move_to_end(digest)
            return
        builder = _RawBuilder(self, config_only=True)
        raw = builder.object(self._dm.schema, data, DataPath())
        builder.raise_errors()
        try:
            inst = self._dm.from_raw(raw).add_defaults(ContentType.config)
            inst.validate(ValidationScope.all, ContentType.config)
        except ValidationError as exc:
            raise self._translate(exc, rpc=None) from None
        self._valid[digest] = None
        if len(self._valid) > _VALID_CACHE_SIZE:
            self._valid.popitem(last=False)

    def validate_data(self, data: etree._Element) -> None:
        """Validate configuration and state data together (a ``<get>`` reply's ``<data>``): what the
        server itself returns must belong to the modules it announces and satisfy them.

        :raises NetconfError: as :meth:`validate_config`.
        """
        builder = _RawBuilder(self, config_only=False)
        raw = builder.object(self._dm.schema, data, DataPath())
        builder.raise_errors()
        try:
            self._dm.from_raw(raw).add_defaults().validate(ValidationScope.all, ContentType.all)
        except ValidationError as exc:
            raise self._translate(exc, rpc=None) from None

    def validate_rpc_input(self, operation: etree._Element) -> None:
        """Validate an RPC's input element (``<vmAction xmlns="...esc">...``), defaults included.

        :raises NetconfError: ``unknown-element`` for an RPC we do not define, else as
            :meth:`validate_config`, with ``missing-element`` for a missing mandatory parameter.
        """
        self._cooked_rpc_input(operation)

    def rpc_input_with_defaults(self, operation: etree._Element) -> etree._Element:
        """A validated copy of ``operation`` where every absent leaf with a default is filled in,
        so a handler reads ``force`` without knowing that its default is ``false``."""
        rpc, inst = self._cooked_rpc_input(operation)
        result = etree.Element(operation.tag, nsmap=default_namespace(self._by_yname[rpc.ns].namespace))
        result.extend(_copy_element(c) for c in operation if isinstance(c.tag, str))
        present = {c.tag for c in result}
        values = inst.value
        for sn in rpc.get_child("input").data_children():
            tag = f"{{{self._by_yname[sn.ns].namespace}}}{sn.name}"
            if tag not in present and isinstance(sn, ys.LeafNode) and sn.iname() in values:
                etree.SubElement(result, tag).text = sn.type.canonical_string(values[sn.iname()])
        return result

    def _cooked_rpc_input(self, operation: etree._Element) -> tuple[ys.RpcActionNode, InstanceNode]:
        rpc = self._schema_child(self._dm.schema, str(operation.tag), data_only=False)
        if not isinstance(rpc, ys.RpcActionNode):
            raise NetconfError(ErrorTag.UNKNOWN_ELEMENT, f"Unknown operation '{etree.QName(operation).localname}'.",
                               type=ErrorType.PROTOCOL, info={"bad-element": etree.QName(operation).localname})
        module = self._by_yname[rpc.ns]
        path = DataPath().child(module.prefix, module.namespace, rpc.name)
        builder = _RawBuilder(self, config_only=False)
        raw = builder.object(rpc.get_child("input"), operation, path)
        builder.raise_errors()
        try:
            root = self._dm.from_raw({f"{rpc.ns}:input": raw}, subschema=f"{rpc.ns}:{rpc.name}")
            inst = root[f"{rpc.ns}:input"].add_defaults()
            inst.validate(ValidationScope.all, ContentType.all)
        except ValidationError as exc:
            raise self._translate(exc, rpc=rpc) from None
        return rpc, inst

    # ------------------------------------------------------------------ error translation

    def module_for(self, namespace: str) -> ModuleInfo | None:
        """The module with this XML namespace, or ``None`` if no module has it."""
        return self._by_ns.get(namespace)

    def prefix(self, namespace: str) -> str | None:
        """The prefix of the module with this XML namespace, or ``None`` if no module has it."""
        module = self._by_ns.get(namespace)
        return module.prefix if module is not None else None

    def prefix_of(self, yang_module: str) -> tuple[str, str]:
        """(prefix, namespace) of a module known to yangson by name."""
        module = self._by_yname[yang_module]
        return module.prefix, module.namespace

    def _instance_path(self, inst: InstanceNode, rpc: ys.RpcActionNode | None) -> DataPath:
        chain: list[InstanceNode] = []
        node: InstanceNode | None = inst
        while node is not None and node.parinst is not None:
            chain.append(node)
            node = node.parinst
        path = DataPath()
        for item in reversed(chain):
            sn = item.schema_node
            if isinstance(sn, ys.InputNode) and rpc is not None:
                path = path.child(*self.prefix_of(rpc.ns), rpc.name)
            elif isinstance(item, ArrayEntry):
                path = path.predicate(self._entry_predicate(sn, item.value))
            else:
                path = path.child(*self.prefix_of(sn.ns), sn.name)
        return path

    def _entry_predicate(self, sn: ys.SchemaNode, value: Any) -> str:
        if isinstance(sn, ys.ListNode):
            parts = []
            for name, mod in sn.keys:
                key_sn = sn.get_child(name, mod)
                text = key_sn.type.canonical_string(value.get(key_sn.iname() if mod == sn.ns else f"{mod}:{name}"))
                parts.append(f"[{self.prefix_of(mod)[0]}:{name}={quote(str(text))}]")
            return "".join(parts)
        if isinstance(sn, ys.LeafListNode):
            return f"[.={quote(str(sn.type.canonical_string(value)))}]"
        return ""

    def _translate(self, exc: ValidationError, rpc: ys.RpcActionNode | None) -> NetconfError:
        """Map a yangson validation failure to the rpc-error RFC 7950 section 15 prescribes."""
        inst = exc.instance
        sn = inst.schema_node
        path = self._instance_path(inst, rpc)
        where = str(path)
        name = getattr(sn, "name", "") or ""
        tag = exc.tag or ""
        if isinstance(exc, YangTypeError):
            return NetconfError(ErrorTag.INVALID_VALUE,
                                f"Invalid value '{inst}' for '{name}': {_type_problem(sn.type)}.",
                                path=where, path_nsmap=path.nsmap, info={"bad-element": name})
        if isinstance(exc, SchemaError) and tag.endswith("missing-data"):
            return self._missing(inst, path, rpc)
        if isinstance(exc, SchemaError):
            bad = str(exc.message or "").rpartition(":")[2]
            return NetconfError(ErrorTag.UNKNOWN_ELEMENT, f"Element '{bad}' is not allowed in {where} ({tag}).",
                                path=where, path_nsmap=path.nsmap, info={"bad-element": bad})
        if tag == "instance-required":
            return NetconfError(ErrorTag.DATA_MISSING, f"'{name}' refers to {_target(sn.type)} '{inst}', "
                                "which does not exist.",
                                app_tag="instance-required", path=where, path_nsmap=path.nsmap)
        if tag in ("too-few-elements", "too-many-elements"):
            return NetconfError(ErrorTag.OPERATION_FAILED, f"'{name}' has {tag.replace('-', ' ')}.",
                                app_tag=tag, path=where, path_nsmap=path.nsmap)
        if tag.startswith("data-not-unique") or tag in ("non-unique-key", "repeated-leaf-list-value"):
            return NetconfError(ErrorTag.OPERATION_FAILED,
                                f"'{name}' has entries that are not unique ({exc.message or tag}).",
                                app_tag="data-not-unique", path=where, path_nsmap=path.nsmap)
        message = exc.message or f"The condition on '{name}' is not satisfied."
        return NetconfError(ErrorTag.OPERATION_FAILED, message, app_tag=tag or "must-violation",
                            path=where, path_nsmap=path.nsmap)

    def _missing(self, inst: InstanceNode, path: DataPath, rpc: ys.RpcActionNode | None) -> NetconfError:
        """A mandatory node is absent: ``missing-element`` in RPC input (a parameter is missing),
        ``data-missing`` in a datastore (RFC 7950 sections 8.3.3 and 15)."""
        sn = inst.schema_node
        present = set(inst.value) if isinstance(inst.value, Mapping) else set()
        missing = [c for c in sn.data_children() if c.mandatory and c.iname() not in present
                   and f"{c.ns}:{c.name}" not in present] if isinstance(sn, ys.InternalNode) else []
        if not missing:
            return NetconfError(ErrorTag.DATA_MISSING, f"Mandatory data is missing in {path}.",
                                path=str(path), path_nsmap=path.nsmap)
        child = missing[0]
        child_path = path.child(*self.prefix_of(child.ns), child.name)
        if rpc is not None:
            return NetconfError(ErrorTag.MISSING_ELEMENT, f"Mandatory parameter '{child.name}' is missing.",
                                path=str(child_path), path_nsmap=child_path.nsmap,
                                info={"bad-element": child.name})
        return NetconfError(ErrorTag.DATA_MISSING, f"Mandatory element '{child.name}' is missing in {path}.",
                            path=str(child_path), path_nsmap=child_path.nsmap, info={"bad-element": child.name})


class _RawBuilder:
    """lxml instance data -> RFC 7951 raw JSON, guided by the schema, collecting rpc-errors.

    It reports every problem it can find in one pass (a client fixing a big edit wants them all),
    skipping the subtree under each bad element.
    """

    def __init__(self, model: YangModel, *, config_only: bool) -> None:
        self.model = model
        self.config_only = config_only
        self.errors: list[NetconfError] = []

    def raise_errors(self) -> None:
        raise_collected(self.errors)

    def object(self, sn: ys.InternalNode, element: etree._Element, path: DataPath) -> dict[str, Any]:
        raw: dict[str, Any] = {}
        for child in element:
            if not isinstance(child.tag, str):
                continue  # comments and processing instructions carry no data
            qname = etree.QName(child)
            module = self.model.module_for(qname.namespace or "")
            if module is None:
                self.errors.append(NetconfError(
                    ErrorTag.UNKNOWN_NAMESPACE,
                    f"Unknown namespace '{qname.namespace}' of element '{qname.localname}'.",
                    path=str(path) if path.steps else None, path_nsmap=path.nsmap,
                    info={"bad-element": qname.localname, "bad-namespace": qname.namespace or ""}))
                continue
            csn = sn.get_data_child(qname.localname, module.name)
            if csn is None or (self.config_only and not csn.config):
                why = "is state data and cannot be configured" if csn is not None else "is not defined"
                where = f" in {path}" if path.steps else " at the top level"
                self.errors.append(NetconfError(
                    ErrorTag.UNKNOWN_ELEMENT, f"Element '{qname.localname}'{where} {why}.",
                    path=str(path) if path.steps else None, path_nsmap=path.nsmap,
                    info={"bad-element": qname.localname}))
                continue
            iname = csn.name if (path.steps and csn.ns == sn.ns) else f"{csn.ns}:{csn.name}"
            cpath = path.child(module.prefix, module.namespace, csn.name)
            if isinstance(csn, ys.ListNode):
                entry = self._list_entry(csn, child, cpath)
                if entry is not None:
                    raw.setdefault(iname, []).append(entry)
            elif isinstance(csn, ys.LeafListNode):
                value = self._scalar(csn, child, cpath.predicate(f"[.={quote(child.text or '')}]"))
                if value is not None:
                    raw.setdefault(iname, []).append(value)
            elif iname in raw:
                self.errors.append(NetconfError(
                    ErrorTag.BAD_ELEMENT, f"Element '{csn.name}' appears more than once in {path}.",
                    path=str(cpath), path_nsmap=cpath.nsmap, info={"bad-element": csn.name}))
            elif isinstance(csn, ys.LeafNode):
                value = self._scalar(csn, child, cpath)
                if value is not None:
                    raw[iname] = value
            elif isinstance(csn, ys.InternalNode):
                raw[iname] = self.object(csn, child, cpath)
            else:  # anydata / anyxml: opaque to the model
                raw[iname] = {}
        return raw

    def _list_entry(self, sn: ys.ListNode, element: etree._Element, path: DataPath) -> dict[str, Any] | None:
        predicate = ""
        for name, mod in sn.keys:
            prefix, namespace = self.model.prefix_of(mod)
            key_el = element.find(f"{{{namespace}}}{name}")
            if key_el is None:
                entry_path = path.predicate(predicate) if predicate else path
                self.errors.append(NetconfError(
                    ErrorTag.MISSING_ELEMENT, f"List entry '{sn.name}' in {entry_path} lacks its key '{name}'.",
                    path=str(entry_path), path_nsmap=entry_path.nsmap, info={"bad-element": name}))
                return None
            predicate += f"[{prefix}:{name}={quote(key_el.text or '')}]"
        return self.object(sn, element, path.predicate(predicate))

    def _scalar(self, sn: ys.TerminalNode, element: etree._Element, path: DataPath) -> Any:
        if any(isinstance(c.tag, str) for c in element):
            self.errors.append(NetconfError(
                ErrorTag.BAD_ELEMENT, f"'{sn.name}' must hold a value, not elements.",
                path=str(path), path_nsmap=path.nsmap, info={"bad-element": sn.name}))
            return None
        text = element.text or ""
        dtype = sn.type
        if isinstance(dtype, yt.IdentityrefType):
            text = self._identity_name(text.strip(), element)
        value = dtype.parse_value(text)
        dtype.error_message = None  # yangson keeps the last failure's message on the shared type
        if value is None or value not in dtype:
            problem = _type_problem(dtype) if value is not None else "expected " + _describe(dtype)
            self.errors.append(NetconfError(
                ErrorTag.INVALID_VALUE, f"Invalid value '{text}' for '{sn.name}': {problem}.",
                path=str(path), path_nsmap=path.nsmap, info={"bad-element": sn.name}))
            return None
        return dtype.to_raw(value)


    def _identity_name(self, text: str, element: etree._Element) -> str:
        """An identityref value as yangson reads it (``module:identity``): in XML the prefix is a
        namespace prefix in scope on the element, and no prefix means its default namespace."""
        prefix, _, local = text.rpartition(":")
        module = self.model.module_for(element.nsmap.get(prefix or None) or "")
        return f"{module.name}:{local}" if module is not None else text


def _target(dtype: yt.DataType) -> str:
    """What a leafref points at, in words: path ``../../vm_group/name`` -> ``vm_group name``."""
    if not isinstance(dtype, yt.LeafrefType):
        return "an instance"
    steps = [step.rpartition(":")[2] for step in str(dtype.path).split("/") if step not in ("", "..")]
    return "a " + " ".join(steps[-2:]) if steps else "an instance"


def _type_problem(dtype: yt.DataType) -> str:
    """The constraint a value broke, in an operator's words (the module's error-message if any)."""
    custom: str | None = dtype.error_message
    if custom and custom not in _YANGSON_MESSAGES and not custom.startswith(("expected ", "pattern '")):
        return custom
    return "expected " + _describe(dtype)


def _describe(dtype: yt.DataType) -> str:
    if isinstance(dtype, yt.LeafrefType):
        return _describe(dtype.ref_type)
    if isinstance(dtype, yt.EnumerationType):
        return "one of " + ", ".join(dtype.enum)
    if isinstance(dtype, yt.BooleanType):
        return "true or false"
    if isinstance(dtype, yt.UnionType):
        return f"a valid {dtype.name}" if dtype.name else " or ".join(_describe(t) for t in dtype.types)
    if isinstance(dtype, yt.NumericType):
        return f"{dtype.yang_type()} in range {dtype.range}" if dtype.range else dtype.yang_type()
    if isinstance(dtype, yt.StringType):
        text = f"a valid {dtype.name}" if dtype.name and dtype.patterns else "a string"
        return text + (f" of length {dtype.length}" if dtype.length else "")
    if isinstance(dtype, yt.EmptyType):
        return "no value (empty leaf)"
    return f"a value of type {dtype}"


def _copy_element(element: etree._Element) -> etree._Element:
    copy = etree.Element(element.tag)
    copy.text = element.text
    copy.extend(_copy_element(c) for c in element if isinstance(c.tag, str))
    return copy


def _pyang_errors(ctx: pyang_context.Context) -> str:
    found = [f"{pos}: {pyang_error.err_to_str(tag, args)}" for pos, tag, args in ctx.errors
             if pyang_error.is_error(pyang_error.err_level(tag))]
    return "; ".join(found)


def _describe_modules(
    ctx: pyang_context.Context, features: Mapping[str, tuple[str, ...]]
) -> tuple[tuple[ModuleInfo, ...], dict[str, Any]]:
    """ModuleInfo for every parsed module and submodule, and the RFC 7895 library yangson reads.

    A module is implemented when ``features`` names it (the ones loaded on purpose), import-only when
    it was loaded because another imports it.
    """
    deviations = _deviations(ctx)
    infos: list[ModuleInfo] = []
    entries: dict[str, dict[str, Any]] = {}
    submodules: list[tuple[str, dict[str, str]]] = []
    for stmt in sorted(ctx.modules.values(), key=lambda s: (s.keyword, s.arg)):
        path = Path(stmt.pos.ref).resolve()
        revision = max((r.arg for r in stmt.search("revision")), default="")
        text = path.read_text(encoding="utf-8")
        if stmt.keyword == "submodule":
            parent = stmt.search_one("belongs-to")
            parent_mod = ctx.get_module(parent.arg)
            namespace = parent_mod.search_one("namespace").arg if parent_mod is not None else ""
            prefix = parent.search_one("prefix").arg
            submodules.append((parent.arg, {"name": stmt.arg, "revision": revision}))
            infos.append(ModuleInfo(stmt.arg, revision, namespace, prefix, text, path,
                                    implemented=stmt.arg in features or parent.arg in features,
                                    belongs_to=parent.arg))
            continue
        namespace = stmt.search_one("namespace").arg
        prefix = stmt.search_one("prefix").arg
        implemented = stmt.arg in features
        enabled = features.get(stmt.arg, ())
        deviated_by = tuple(sorted(deviations.get(stmt.arg, ())))
        entry: dict[str, Any] = {"name": stmt.arg, "revision": revision, "namespace": namespace,
                                 "conformance-type": "implement" if implemented else "import"}
        if enabled:
            entry["feature"] = list(enabled)
        if deviated_by:
            entry["deviation"] = [{"name": d, "revision": ctx.get_module(d).i_latest_revision or ""}
                                  for d in deviated_by]
        entries[stmt.arg] = entry
        infos.append(ModuleInfo(stmt.arg, revision, namespace, prefix, text, path,
                                implemented=implemented, features=enabled, deviations=deviated_by))
    for parent_name, sub in submodules:
        entries[parent_name].setdefault("submodule", []).append(sub)
    library = {"ietf-yang-library:modules-state": {"module-set-id": "esc-netconf",
                                                   "module": list(entries.values())}}
    # modules before submodules (which share their namespace), each group by name
    infos.sort(key=lambda m: (m.belongs_to is not None, m.name))
    return tuple(infos), library


def _schema_digest(modules: Sequence[ModuleInfo]) -> str:
    """What a configuration was validated against: every module's text, conformance, features and
    deviations, and the release of this validator (whose checks go beyond what yangson reads from them).
    A datastore stores it with each commit; a start whose model has the same digest trusts the stored
    configuration instead of validating it again."""
    digest = hashlib.sha256(f"esc-netconf {__version__}\n".encode())
    for m in modules:
        digest.update(json.dumps([m.name, m.revision, m.belongs_to, m.implemented, m.features, m.deviations,
                                  m.text]).encode())
    return digest.hexdigest()


def _deviations(ctx: pyang_context.Context) -> dict[str, set[str]]:
    """For each module, the modules with ``deviation`` statements that target its nodes."""
    found: dict[str, set[str]] = {}
    for stmt in ctx.modules.values():
        for deviation in stmt.search("deviation"):
            first = deviation.arg.strip("/").split("/", 1)[0]
            prefix = first.split(":", 1)[0] if ":" in first else stmt.i_prefix
            target = stmt.i_prefixes.get(prefix, (None,))[0]
            owner = stmt.arg if stmt.keyword == "module" else stmt.search_one("belongs-to").arg
            if target is not None and target != owner:
                found.setdefault(target, set()).add(owner)
    return found
