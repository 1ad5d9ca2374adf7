"""RFC 6241 ``<edit-config>`` over lxml trees.

Theory of operation
-------------------
:func:`edit_in_place` applies the ``<config>`` of an edit to a ``<data>`` tree itself and returns,
with where the edit went, an :class:`~esc_netconf.netconf.undo.UndoLog` that takes it back: a failed
edit leaves nothing behind, and the caller (:class:`~esc_netconf.netconf.datastore.Datastore`) decides
later, after validation and its commit checkers, whether to keep it. :func:`apply_edit` and
:func:`edit_tree` do the same to a copy and leave their input untouched.

The edit is walked top-down together with the working copy. Every edit element has an effective
operation: its own ``operation`` attribute (base:1.0 namespace) or the one inherited from its
parent, starting with ``default-operation``. For an edit element and the matching data node
(``current``, matched by tag for containers and leaves, by all key values for list entries, by
value for leaf-list entries):

=========  =============================  ===============================================
operation  current exists                 current absent
=========  =============================  ===============================================
merge      descend into it                create it, then descend
replace    drop children the edit does    create it, then descend
           not mention, then descend
create     ``data-exists``                create it, then descend
delete     remove it                      ``data-missing``
remove     remove it                      nothing
none       descend into it                ``data-missing`` (RFC 6241 7.2), except for a
                                          non-presence container, which YANG treats as
                                          always existing, and a subtree of only removes
=========  =============================  ===============================================

"Descend" applies each child of the edit element with its own effective operation; a leaf takes
the edit's value unless its operation is ``none``. Key leaves of a list entry are written first
when the entry is created and never edited afterwards (they *are* the entry's identity).
Finally, non-presence containers left empty are dropped, so "empty" and "absent" have one
canonical form and no-op edits compare equal.

``default-operation replace`` replaces the whole configuration (RFC 6241 7.2), so top-level
nodes that the edit does not mention are dropped too. With ``error-option`` ``stop-on-error`` or
``rollback-on-error`` the first error is raised; with ``continue-on-error`` the walk goes on and all
errors are raised together (:class:`NetconfErrors`). In every case nothing is applied when anything
failed: the edit is one transaction.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

from lxml import etree

from esc_netconf.gilshare import breathe
from esc_netconf.netconf.errors import BASE_NS, ErrorTag, ErrorType, NetconfError, raise_collected
from esc_netconf.netconf.incremental import EditedTree
from esc_netconf.netconf.undo import UndoLog
from esc_netconf.netconf.yangmodel import DataPath, SchemaNodeInfo, YangModel, key_values, quote
from esc_netconf.nsmap import default_namespace

OPERATION_ATTR = f"{{{BASE_NS}}}operation"


class EditOperation(str, Enum):
    """Values of the ``operation`` attribute (RFC 6241 7.2); ``none`` only as a default."""

    MERGE = "merge"
    REPLACE = "replace"
    CREATE = "create"
    DELETE = "delete"
    REMOVE = "remove"
    NONE = "none"


class DefaultOperation(str, Enum):
    """``<default-operation>`` of ``<edit-config>``."""

    MERGE = "merge"
    REPLACE = "replace"
    NONE = "none"


class TestOption(str, Enum):
    """``<test-option>`` of ``<edit-config>`` (``:validate`` capability)."""

    TEST_THEN_SET = "test-then-set"
    SET = "set"
    TEST_ONLY = "test-only"


class ErrorOption(str, Enum):
    """``<error-option>`` of ``<edit-config>``."""

    STOP_ON_ERROR = "stop-on-error"
    CONTINUE_ON_ERROR = "continue-on-error"
    ROLLBACK_ON_ERROR = "rollback-on-error"


@dataclass(frozen=True, slots=True)
class EditResult:
    """What an edit did.

    ``changed_subtrees`` are the Clark names of the top-level nodes (e.g.
    ``{http://www.cisco.com/esc/esc}esc_datamodel``) whose content differs; ``changed_paths`` are the
    same nodes as instance-identifiers (``/esc:esc_datamodel``, the RFC 6470 netconf-config-change
    ``<target>``) whose prefixes ``paths_nsmap`` declares. ``committed`` is ``False`` for
    ``test-only`` and for an edit that changed nothing. ``previous`` and ``current`` are the running trees
    before and after this edit (when it committed): other sessions' edits may commit just before or after,
    so only these two tell what this edit, and no other, changed; ``touched`` are the elements of
    ``current`` the edit touched (anything else in it is an unchanged copy of ``previous``'s). The
    datastore reuses ``previous`` as its working copy: read it before the next edit begins (the
    config-change notification does, right after the commit).
    """

    changed: bool
    changed_subtrees: tuple[str, ...]
    committed: bool
    changed_paths: tuple[str, ...] = ()
    paths_nsmap: Mapping[str, str] = field(default_factory=dict)
    previous: etree._Element | None = None
    current: etree._Element | None = None
    touched: frozenset[etree._Element] | None = None

    @classmethod
    def of(cls, changed: tuple[str, ...], model: YangModel, *, committed: bool,
           previous: etree._Element | None = None, current: etree._Element | None = None,
           touched: frozenset[etree._Element] | None = None) -> EditResult:
        """The result for these changed top-level Clark names."""
        paths: list[str] = []
        nsmap: dict[str, str] = {}
        for tag in changed:
            qname = etree.QName(tag)
            prefix = model.prefix(qname.namespace or "") or "ns"
            nsmap[prefix] = qname.namespace or ""
            paths.append(f"/{prefix}:{qname.localname}")
        return cls(bool(changed), changed, committed and bool(changed), tuple(paths), nsmap, previous, current,
                   touched)


_E = TypeVar("_E", bound=Enum)


def parse_option(enum: type[_E], value: str | _E, parameter: str) -> _E:
    """An option's enum member, or the ``invalid-value`` error a client should see for it."""
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in enum)
        raise NetconfError(ErrorTag.INVALID_VALUE, f"Invalid {parameter} '{value}': expected one of {allowed}.",
                           type=ErrorType.PROTOCOL, info={"bad-element": parameter}) from None


def apply_edit(
    data: etree._Element,
    config: etree._Element,
    model: YangModel,
    *,
    default_operation: DefaultOperation = DefaultOperation.MERGE,
    error_option: ErrorOption = ErrorOption.STOP_ON_ERROR,
) -> etree._Element:
    """Apply the children of ``config`` to a copy of ``data`` and return the copy (see :func:`edit_tree`)."""
    return edit_tree(data, config, model, default_operation=default_operation, error_option=error_option).tree


def edit_tree(
    data: etree._Element,
    config: etree._Element,
    model: YangModel,
    *,
    default_operation: DefaultOperation = DefaultOperation.MERGE,
    error_option: ErrorOption = ErrorOption.STOP_ON_ERROR,
) -> EditedTree:
    """Apply the children of ``config`` to a copy of ``data``: the copy, and where the edit went.

    :raises NetconfError: as :func:`edit_in_place`; ``data`` is unchanged in every case.
    """
    edited, _ = edit_in_place(copy.deepcopy(data), config, model, default_operation=default_operation,
                              error_option=error_option)
    return edited


def edit_in_place(
    data: etree._Element,
    config: etree._Element,
    model: YangModel,
    *,
    default_operation: DefaultOperation = DefaultOperation.MERGE,
    error_option: ErrorOption = ErrorOption.STOP_ON_ERROR,
) -> tuple[EditedTree, UndoLog]:
    """Apply the children of ``config`` to ``data`` itself: where the edit went, and the
    :class:`~esc_netconf.netconf.undo.UndoLog` that takes it back (for a verdict that comes later:
    validation, a commit checker, ``test-only``).

    :raises NetconfError: (or :class:`NetconfErrors` with ``continue-on-error``) ``unknown-namespace``,
        ``unknown-element``, ``bad-attribute``, ``missing-element`` (a list key), ``data-exists``,
        ``data-missing``; whatever was applied is taken back first, so ``data`` is as it was.
    """
    editor = _Editor(model, continue_on_error=error_option is ErrorOption.CONTINUE_ON_ERROR)
    try:
        editor.children(data, config, (), DataPath(), EditOperation(default_operation.value),
                        prune=default_operation is DefaultOperation.REPLACE)
        editor.raise_errors()
    except BaseException:
        editor.undo.undo()
        raise
    finally:
        editor.siblings.close()
    _drop_empty_containers(data, (), model, editor.visited, editor.record_removal)
    edited = EditedTree(data, frozenset(editor.visited), tuple(editor.created), tuple(editor.removed))
    return edited, editor.undo


def drop_empty_containers(data: etree._Element, model: YangModel) -> None:
    """Remove every non-presence container left without children, anywhere in ``data`` (in place).

    :func:`apply_edit` does this only where it edited: a tree it made has no such container elsewhere.
    """
    _drop_empty_containers(data, (), model, None, None)


def changed_subtrees(old: etree._Element, new: etree._Element) -> tuple[str, ...]:
    """Clark names of the top-level nodes whose canonical XML differs between two ``<data>`` trees."""
    return changed_parts(canonical_parts(old), canonical_parts(new))


CanonicalParts = dict[str, list[bytes]]


def canonical_parts(data: etree._Element) -> CanonicalParts:
    """The canonical XML of each top-level node of a ``<data>`` tree, by Clark name (what
    :func:`changed_parts` compares; a datastore keeps the running tree's to serialize it once)."""
    return _by_tag(data)


def changed_parts(before: CanonicalParts, after: CanonicalParts) -> tuple[str, ...]:
    """Clark names of the top-level nodes that differ between two :func:`canonical_parts`."""
    return tuple(sorted(tag for tag in before.keys() | after.keys() if before.get(tag) != after.get(tag)))


def canonical_bytes(data: etree._Element) -> bytes:
    """The canonical XML (C14N 1.0) of a tree: what is persisted and compared."""
    return etree.tostring(data, method="c14n")


def _by_tag(data: etree._Element) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for child in _elements(data):
        out.setdefault(str(child.tag), []).append(etree.tostring(child, method="c14n", with_tail=False))
    return out


def _elements(parent: etree._Element) -> Iterator[etree._Element]:
    return (c for c in parent if isinstance(c.tag, str))


class _Editor:
    """One edit's walk; collects errors when ``continue_on_error``."""

    def __init__(self, model: YangModel, *, continue_on_error: bool) -> None:
        self.model = model
        self.continue_on_error = continue_on_error
        self.errors: list[NetconfError] = []
        # every element this edit applied children to: the only places where something was added or
        # removed (a new element is created empty, then filled through children())
        self.visited: set[etree._Element] = set()
        self.created: list[etree._Element] = []
        self._new: set[etree._Element] = set()  # created, for the undo log: what happens inside needs no entry
        self.removed: list[tuple[etree._Element, ...]] = []
        self.undo = UndoLog()
        self.siblings = _Siblings(self.record_insertion, self.record_removal)

    def record_insertion(self, element: etree._Element, parent: etree._Element) -> None:
        """Note ``element`` as just inserted under ``parent``."""
        self.created.append(element)
        self._new.add(element)
        if parent not in self._new:
            self.undo.inserted(element)

    def record_removal(self, element: etree._Element) -> None:
        """Note ``element`` (still attached) as about to be removed: the datastore persists by subtree
        and must know which stored subtrees went."""
        self.removed.append((element, *element.iterancestors()))
        if element.getparent() not in self._new:
            self.undo.removing(element)

    def set_text(self, element: etree._Element, text: str | None) -> None:
        """Give a leaf (or leaf-list entry) its value from the edit."""
        if element not in self._new:
            self.undo.setting_text(element)
        element.text = text

    def raise_errors(self) -> None:
        raise_collected(self.errors)

    def children(self, target: etree._Element, edit: etree._Element, spath: tuple[str, ...],
                 path: DataPath, op: EditOperation, *, prune: bool, skip: frozenset[str] = frozenset()) -> None:
        """Apply every child of ``edit`` to ``target`` (``skip``: key leaves, already in place)."""
        edits = list(_elements(edit))
        self.visited.add(target)
        if prune:
            self._prune(target, edits, spath)
        for child in edits:
            if child.tag in skip:
                continue
            try:
                self.node(target, child, spath, path, op)
            except NetconfError as exc:
                if not self.continue_on_error:
                    raise
                self.errors.append(exc)

    def node(self, parent: etree._Element, edit: etree._Element, spath: tuple[str, ...],
             path: DataPath, inherited: EditOperation) -> None:
        breathe()  # a bulk edit is walked in a worker thread: a chance for the loop to take the GIL
        qname = etree.QName(edit)
        namespace = qname.namespace or ""
        where = path if path.steps else None
        prefix = self.model.prefix(namespace)
        if prefix is None:
            raise NetconfError(ErrorTag.UNKNOWN_NAMESPACE,
                               f"Unknown namespace '{namespace}' of element '{qname.localname}'.",
                               path=str(where) if where else None, path_nsmap=path.nsmap,
                               info={"bad-element": qname.localname, "bad-namespace": namespace})
        spath = (*spath, str(edit.tag))
        info = self.model.node(spath)
        if info is None or not info.config:
            why = "is state data and cannot be configured" if info is not None else "is not defined"
            raise NetconfError(ErrorTag.UNKNOWN_ELEMENT,
                               f"Element '{qname.localname}' {'in ' + str(where) if where else 'at the top'} {why}.",
                               path=str(where) if where else None, path_nsmap=path.nsmap,
                               info={"bad-element": qname.localname})
        path = path.child(prefix, namespace, qname.localname)
        op = self._operation(edit, inherited, path)
        keys = self._keys(edit, info, path)
        if info.kind == "list":
            path = path.predicate("".join(f"[{self.model.prefix(etree.QName(k).namespace or '')}:"
                                          f"{etree.QName(k).localname}={quote(v)}]" for k, v in keys))
        elif info.kind == "leaf-list":
            path = path.predicate(f"[.={quote(edit.text or '')}]")
        current = self.siblings.find(parent, edit, info, keys)
        self._apply(op, parent, current, edit, info, keys, spath, path)

    def _apply(self, op: EditOperation, parent: etree._Element, current: etree._Element | None,
               edit: etree._Element, info: SchemaNodeInfo, keys: list[tuple[str, str]],
               spath: tuple[str, ...], path: DataPath) -> None:
        name = etree.QName(edit).localname
        if op is EditOperation.REMOVE or (op is EditOperation.DELETE and current is not None):
            if current is not None:
                self.siblings.remove(parent, current, info)
            return
        if op is EditOperation.DELETE:
            raise NetconfError(ErrorTag.DATA_MISSING, f"Cannot delete '{name}': {path} does not exist.",
                               path=str(path), path_nsmap=path.nsmap)
        if op is EditOperation.CREATE and current is not None:
            raise NetconfError(ErrorTag.DATA_EXISTS, f"Cannot create '{name}': {path} already exists.",
                               path=str(path), path_nsmap=path.nsmap)
        created = current is None
        if current is None:
            implicit = info.kind == "container" and not info.presence
            if op is EditOperation.NONE and not implicit:
                if _only_removes(edit):
                    return
                raise NetconfError(ErrorTag.DATA_MISSING,
                                   f"{path} does not exist (default-operation is none).",
                                   path=str(path), path_nsmap=path.nsmap)
            current = self.siblings.insert(parent, edit, info, keys)
        if info.kind in ("leaf", "leaf-list"):
            if op is not EditOperation.NONE:
                self.set_text(current, edit.text)
            return
        self.children(current, edit, spath, path, op,
                      prune=op is EditOperation.REPLACE and not created,
                      skip=frozenset(k for k, _ in keys))

    def _operation(self, edit: etree._Element, inherited: EditOperation, path: DataPath) -> EditOperation:
        value = edit.get(OPERATION_ATTR)
        if value is None:
            return inherited
        try:
            op = EditOperation(value)
        except ValueError:
            op = EditOperation.NONE
        if op is EditOperation.NONE:
            name = etree.QName(edit).localname
            raise NetconfError(ErrorTag.BAD_ATTRIBUTE,
                               f"Invalid operation '{value}' on '{name}': expected merge, replace, create, "
                               "delete or remove.", path=str(path), path_nsmap=path.nsmap,
                               info={"bad-attribute": "operation", "bad-element": name})
        return op

    def _keys(self, edit: etree._Element, info: SchemaNodeInfo, path: DataPath) -> list[tuple[str, str]]:
        keys: list[tuple[str, str]] = []
        for key in info.keys:
            element = edit.find(key)
            if element is None:
                local = etree.QName(key).localname
                raise NetconfError(ErrorTag.MISSING_ELEMENT,
                                   f"The entry of list '{etree.QName(edit).localname}' lacks its key '{local}'.",
                                   path=str(path), path_nsmap=path.nsmap, info={"bad-element": local})
            keys.append((key, (element.text or "").strip()))
        return keys

    def _prune(self, target: etree._Element, edits: list[etree._Element], spath: tuple[str, ...]) -> None:
        """For ``replace``: drop the children of ``target`` that no edit element stands for."""
        wanted = set()
        for edit in edits:
            info = self.model.node((*spath, str(edit.tag)))
            if info is not None:
                wanted.add(_identity(edit, info))
        for child in list(_elements(target)):
            info = self.model.node((*spath, str(child.tag)))
            if info is None:
                self.record_removal(child)
                target.remove(child)
            elif _identity(child, info) not in wanted:
                self.siblings.remove(target, child, info)


def _identity(element: etree._Element, info: SchemaNodeInfo) -> tuple[str, ...]:
    if info.kind == "list":
        return (str(element.tag), *key_values(element, info.keys))
    if info.kind == "leaf-list":
        return (str(element.tag), (element.text or "").strip())
    return (str(element.tag),)


class _SiblingIndex:
    """The list entries (or leaf-list values) of one tag under one parent, by identity, plus the last
    of them: finding an entry and inserting after the last are O(1), so an edit of n entries costs
    O(n) instead of the O(n^2) of a sibling scan per entry (3,000 tenants took 29 s that way)."""

    def __init__(self, parent: etree._Element, tag: str, identity: Callable[[etree._Element], tuple[str, ...]],
                 key: str | None = None) -> None:
        """``key``: the list's only key leaf, read here inline (the index of a list of thousands of entries is
        built for every edit that goes into it, twice with the catch-up: a few times cheaper than ``identity``)."""
        self._identity = identity
        self.entries: dict[tuple[str, ...], etree._Element] = {}
        self.last: etree._Element | None = None
        if key is None:
            for child in parent.iterchildren(tag):
                self.entries.setdefault(identity(child), child)
                self.last = child
            return
        entries = self.entries
        for child in parent.iterchildren(tag):
            leaf = child[0] if len(child) else None  # key leaves come first (see yangmodel.key_values)
            if leaf is None or leaf.tag != key:
                leaf = child.find(key)
            entries.setdefault((tag, (leaf.text or "").strip() if leaf is not None else ""), child)
            self.last = child

    def add(self, element: etree._Element, identity: tuple[str, ...]) -> None:
        self.entries[identity] = element
        self.last = element

    def discard(self, element: etree._Element) -> None:
        identity = self._identity(element)
        if self.entries.get(identity) is element:
            del self.entries[identity]
        if element is self.last:  # same-named siblings are contiguous: the previous one is next to it
            self.last = next(element.itersiblings(str(element.tag), preceding=True), None)


class _Siblings:
    """Lazily built :class:`_SiblingIndex` per (parent, tag) for one edit; the work tree is only
    changed through :meth:`insert` and :meth:`remove`, which keep the indexes true."""

    def __init__(self, inserted: Callable[[etree._Element, etree._Element], None],
                 removing: Callable[[etree._Element], None]) -> None:
        self._indexes: dict[tuple[etree._Element, str], _SiblingIndex] = {}
        self._inserted = inserted
        self._removing = removing

    def close(self) -> None:
        """Drop the indexes and the editor's callbacks once the walk is over. The editor holds this object
        and this object its bound methods: a cycle, which would leave every index (thousands of element
        proxies for a big list) to the garbage collector, and its collections then freed them in one pause
        of tens of milliseconds in whichever thread allocated next, the event loop's among them."""
        self._indexes.clear()
        self._inserted = _closed
        self._removing = _closed

    def _index(self, parent: etree._Element, tag: str, info: SchemaNodeInfo) -> _SiblingIndex:
        index = self._indexes.get((parent, tag))
        if index is None:
            index = _SiblingIndex(parent, tag, lambda element: _identity(element, info),
                                  info.keys[0] if info.kind == "list" and len(info.keys) == 1 else None)
            self._indexes[(parent, tag)] = index
        return index

    def find(self, parent: etree._Element, edit: etree._Element, info: SchemaNodeInfo,
             keys: list[tuple[str, str]]) -> etree._Element | None:
        """The data node an edit element stands for (RFC 6241: by keys for lists, by value for leaf-lists)."""
        tag = str(edit.tag)
        if info.kind == "list":
            return self._index(parent, tag, info).entries.get((tag, *(v for _, v in keys)))
        if info.kind == "leaf-list":
            return self._index(parent, tag, info).entries.get((tag, (edit.text or "").strip()))
        return next(parent.iterchildren(tag), None)

    def insert(self, parent: etree._Element, edit: etree._Element, info: SchemaNodeInfo,
               keys: list[tuple[str, str]]) -> etree._Element:
        """A new child, after its last same-named sibling (list entries stay together), declaring its
        namespace as the default one where it changes so that get-config output stays prefix-free."""
        tag = str(edit.tag)
        namespace = etree.QName(tag).namespace
        nsmap = None if parent.nsmap.get(None) == namespace else default_namespace(namespace)
        element = etree.Element(tag, nsmap=nsmap)
        for key, value in keys:
            etree.SubElement(element, key).text = value
        if info.kind in ("list", "leaf-list"):
            index = self._index(parent, tag, info)
            last = index.last
            identity = (tag, *(v for _, v in keys)) if info.kind == "list" else (tag, (edit.text or "").strip())
            index.add(element, identity)
        else:
            last = next(parent.iterchildren(tag), None)
        if last is not None:
            last.addnext(element)
        else:
            parent.append(element)
        self._inserted(element, parent)
        return element

    def remove(self, parent: etree._Element, element: etree._Element, info: SchemaNodeInfo) -> None:
        if info.kind in ("list", "leaf-list"):
            self._index(parent, str(element.tag), info).discard(element)
        self._removing(element)
        parent.remove(element)


def _closed(*_: object) -> None:
    raise RuntimeError("the edit's walk is over: its sibling indexes are closed")


def _only_removes(edit: etree._Element) -> bool:
    """Whether a subtree asks only to remove things (harmless where its ancestors are absent)."""
    ops = [e.get(OPERATION_ATTR) for e in edit.iter() if isinstance(e.tag, str) and e.get(OPERATION_ATTR)]
    return bool(ops) and all(op == EditOperation.REMOVE.value for op in ops)


def _drop_empty_containers(parent: etree._Element, spath: tuple[str, ...], model: YangModel,
                           only: set[etree._Element] | None,
                           removing: Callable[[etree._Element], None] | None) -> None:
    """Drop empty non-presence containers under ``parent``, looking only into ``only`` if given;
    ``removing`` hears of each before it goes."""
    breathe()
    for child in list(_elements(parent)):
        if only is not None and child not in only:
            continue
        cpath = (*spath, str(child.tag))
        info = model.node(cpath)
        if info is None or info.kind not in ("container", "list"):
            continue
        _drop_empty_containers(child, cpath, model, only, removing)
        if info.kind == "container" and not info.presence and next(_elements(child), None) is None:
            if removing is not None:
                removing(child)
            parent.remove(child)
