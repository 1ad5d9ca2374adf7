"""Incremental validation of an edit: validate what the edit changed, not the whole configuration.

Theory of operation
-------------------
The running configuration is always valid (RFC 7950 section 8.3.3), so after an edit the only
constraints that can fail are the ones whose outcome depends on something the edit changed. Finding
those constraints in general is hard; this module finds, once per model, the list nodes for which it
is easy and provably safe, and drops their *unchanged* entries from the tree handed to the whole-tree
validator.

A list ``L`` is **self-contained** when all of these hold (checked on yangson's schema and its parsed
XPath, conservatively: anything not understood makes the list not self-contained):

* every ``must``, ``when`` and ``leafref`` path inside an ``L`` entry only reaches nodes inside that
  same entry (no absolute path, no ``ancestor`` axis, no ``deref()``, and no more ``..`` steps than
  the constraint's depth below the entry; ``when`` is counted one level higher, because its context
  may be the parent);
* no constraint outside ``L``'s entries names ``L`` or one of its descendants, or uses a wildcard or
  descendant step that could reach into them;
* ``L`` has no ``unique``, ``min-elements`` or ``max-elements`` (which look at all entries at once)
  and is not directly in a ``choice`` (removing every entry could empty a mandatory choice).

Then an entry of ``L`` whose canonical XML is identical before and after the edit was valid before and
is still valid, and nothing else's validity depends on it, so validating the tree without it gives
the same verdict as validating the tree with it. Entries that are new or changed stay, and are
validated with everything around them (ancestors, siblings that are not self-contained lists), in the
same document order as in the whole tree, so the first error reported is the one the whole-tree
validation reports. Whole-tree validation stays what ``<validate>`` and start-up use, and the
differential test (``tests/unit/test_incremental_validation.py``) compares both on random edits.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import cast

from lxml import etree
from yangson import datatype as yt
from yangson import schemanode as ys
from yangson import xpathast as xp
from yangson.enumerations import Axis

from esc_netconf.gilshare import breathe

_FAR = math.inf  # "reaches above any entry": an absolute path, an ancestor axis, deref()


@dataclass(frozen=True, slots=True)
class EditedTree:
    """An edit's new tree, and the elements of it the edit applied something to (new elements
    included): any element outside ``visited`` is an unchanged copy of the old tree's.

    ``created`` are the elements the edit inserted, in the order it inserted them; ``removed`` are the
    elements it took out, each with its ancestors as they were at that moment (itself first, the
    ``<data>`` root last), so that where it was can still be told after its parent went too.
    """

    tree: etree._Element
    visited: frozenset[etree._Element]
    created: tuple[etree._Element, ...] = ()
    removed: tuple[tuple[etree._Element, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class _Reach:
    """What an XPath expression may touch: how many levels above its context node it may climb,
    and the names of the steps it takes (``None`` in ``names`` stands for a wildcard or descendant step)."""

    climb: float
    names: frozenset[tuple[str, str] | None]


def _reach(expr: object) -> _Reach:
    """Conservative bound of ``expr``'s reach: the sum of every upward step anywhere in it bounds the
    height of any node it visits (predicates and ``current()`` start no higher than that)."""
    climb = 0.0
    names: set[tuple[str, str] | None] = set()
    for node in _ast_nodes(expr):
        if isinstance(node, (xp.Root, xp.FuncDeref)):
            climb = _FAR
        elif isinstance(node, xp.Step):
            if node.axis in (Axis.ancestor, Axis.ancestor_or_self):
                climb = _FAR
            elif node.axis in (Axis.parent, Axis.following_sibling, Axis.preceding_sibling):
                climb += 1
            if node.axis in (Axis.descendant, Axis.descendant_or_self) or not isinstance(node.qname, tuple):
                if not (node.axis in (Axis.parent, Axis.self) and node.qname is None):
                    names.add(None)
            else:
                names.add((str(node.qname[0]), str(node.qname[1])))
    return _Reach(climb, frozenset(names))


def _ast_nodes(expr: object) -> Iterator[object]:
    """Every node of a yangson XPath syntax tree (its attributes that are expressions or lists of them)."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        for value in vars(node).values() if hasattr(node, "__dict__") else ():
            if isinstance(value, xp.Expr):
                stack.append(value)
            elif isinstance(value, list):
                stack.extend(v for v in value if isinstance(v, xp.Expr))


@dataclass(frozen=True, slots=True)
class _Constraint:
    """One XPath constraint, where it sits (data depth and the chain of data nodes above it)."""

    reach: _Reach
    depth: int
    owners: tuple[ys.SchemaNode, ...]  # the data nodes from the top down to the constrained node


def _type_paths(dtype: yt.DataType) -> Iterator[object]:
    if isinstance(dtype, yt.LeafrefType):
        yield dtype.path
    elif isinstance(dtype, yt.UnionType):
        for member in dtype.types:
            yield from _type_paths(member)


def _constraints(node: ys.SchemaNode, chain: tuple[ys.SchemaNode, ...]) -> Iterator[_Constraint]:
    """The constraints of ``node`` and everything below it; ``chain`` holds the data nodes above."""
    is_data = isinstance(node, ys.DataNode)
    here = (*chain, node) if is_data else chain
    depth = len(here)
    for must in getattr(node, "must", ()):
        yield _Constraint(_reach(must.expression), depth, here)
    when = getattr(node, "when", None)
    if when is not None:
        reach = _reach(when)
        yield _Constraint(_Reach(reach.climb + 1, reach.names), depth, here)
    if isinstance(node, (ys.LeafNode, ys.LeafListNode)):
        for path in _type_paths(node.type):
            yield _Constraint(_reach(path), depth, here)
    if isinstance(node, ys.InternalNode):
        for child in node.children:
            yield from _constraints(child, here)


def _lists(node: ys.SchemaNode) -> Iterator[ys.ListNode]:
    if isinstance(node, ys.ListNode):
        yield node
    if isinstance(node, ys.InternalNode):
        for child in node.children:
            yield from _lists(child)


def _below(node: ys.SchemaNode, ancestor: ys.SchemaNode) -> bool:
    while node is not None:
        if node is ancestor:
            return True
        node = node.parent
    return False


def self_contained_lists(schema: ys.SchemaTreeNode) -> frozenset[ys.ListNode]:
    """The list nodes of ``schema`` whose unchanged entries an edit need not re-validate (see module)."""
    constraints = list(_constraints(schema, ()))
    found: set[ys.ListNode] = set()
    for lst in _lists(schema):
        if lst.unique or lst.min_elements or lst.max_elements is not None:
            continue
        if isinstance(lst.parent, (ys.CaseNode, ys.ChoiceNode)):
            continue
        subtree_names = {(n.name, n.ns) for n in _data_nodes(lst)}
        ok = True
        for c in constraints:
            inside = lst in c.owners
            if inside:
                below_entry = c.depth - (c.owners.index(lst) + 1)
                if c.reach.climb > below_entry:
                    ok = False
            elif None in c.reach.names or c.reach.names & subtree_names:
                ok = False
            if not ok:
                break
        if ok:
            found.add(lst)
    return frozenset(found)


def _data_nodes(node: ys.SchemaNode) -> Iterator[ys.SchemaNode]:
    if isinstance(node, ys.DataNode):
        yield node
    if isinstance(node, ys.InternalNode):
        for child in node.children:
            yield from _data_nodes(child)


NodeLookup = Callable[[tuple[str, ...]], "ys.SchemaNode | None"]


class ChangedOnly:
    """Builds the tree to validate after an edit: ``new`` without the unchanged entries of
    self-contained lists. ``node_of`` maps a Clark-name path to the yangson schema node."""

    def __init__(self, lists: frozenset[ys.ListNode], node_of: NodeLookup) -> None:
        self._lists = lists
        self._node_of = node_of

    def tree(self, old: etree._Element, new: etree._Element,
             visited: frozenset[etree._Element] | None = None) -> etree._Element:
        """A fresh ``<data>`` element holding what must be validated. ``visited``, if known, are the
        elements of ``new`` the edit applied something to: an entry outside it is an unchanged copy,
        dropped without comparing, and an entry inside it is kept without comparing either (a touched
        entry that ended up unchanged is valid, so validating it changes no verdict; comparing a tenant
        would serialize all its deployments)."""
        out = etree.Element(new.tag, nsmap=_nsmap(new))
        self._copy_children(old, new, out, (), visited)
        return out

    def _copy_children(self, old: etree._Element | None, new: etree._Element, out: etree._Element,
                       path: tuple[str, ...], visited: frozenset[etree._Element] | None) -> None:
        breathe()  # a bulk edit's tree is built in a worker thread: a chance for the loop to take the GIL
        out.text = new.text
        counterparts = _Counterparts(old)
        for child in new:
            if not isinstance(child.tag, str):
                continue
            cpath = (*path, child.tag)
            sn = self._node_of(cpath)
            if not isinstance(sn, ys.InternalNode):  # a leaf, leaf-list value, or unknown: as is
                out.append(_copy_terminal(child))
                continue
            before = None
            if visited is not None:  # the old tree is not needed: what the edit did not touch is known
                if sn in self._lists and child not in visited:
                    continue  # an entry the edit did not touch: valid before, valid now
            else:
                before = counterparts.find(child, sn)
                if sn in self._lists and before is not None and _same(before, child):
                    continue  # unchanged entry of a self-contained list: valid before, valid now
            copy = etree.SubElement(out, child.tag)
            self._copy_children(before, child, copy, cpath, visited)


class _Counterparts:
    """The elements of the old tree that correspond to those of the new tree: same tag, and for a
    list entry the same key values. Indexed per tag on first use, so a parent costs O(children)."""

    def __init__(self, old: etree._Element | None) -> None:
        self._old = old
        self._by_tag: dict[str, dict[tuple[str | None, ...], etree._Element]] = {}

    def find(self, element: etree._Element, sn: ys.InternalNode) -> etree._Element | None:
        if self._old is None:
            return None
        tag = str(element.tag)
        keys: tuple[str, ...] = ()
        if isinstance(sn, ys.ListNode):
            namespace = etree.QName(element).namespace
            keys = tuple(f"{{{namespace}}}{name}" for name, _ in sn.keys)
            if not keys:
                return None  # a keyless list has no identity to compare by
        index = self._by_tag.get(tag)
        if index is None:
            index = {}
            for child in self._old.iterchildren(tag):
                index.setdefault(tuple(child.findtext(k) for k in keys), child)
            self._by_tag[tag] = index
        return index.get(tuple(element.findtext(k) for k in keys))


def _same(a: etree._Element, b: etree._Element) -> bool:
    return bool(etree.tostring(a, method="c14n", with_tail=False)
                == etree.tostring(b, method="c14n", with_tail=False))


def _nsmap(element: etree._Element) -> dict[str, str]:
    """Every namespace in scope on ``element`` (lxml-stubs wrongly type the default one's None key)."""
    return cast("dict[str, str]", element.nsmap)


def _copy_terminal(element: etree._Element) -> etree._Element:
    """A copy of a leaf (or of an element the schema does not know) that keeps every namespace prefix
    in scope: an identityref's value names its module by a prefix declared on some ancestor."""
    out = etree.Element(element.tag, nsmap=_nsmap(element))
    out.text = element.text
    out.extend(copy.deepcopy(c) for c in element)
    return out
