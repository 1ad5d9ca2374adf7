"""The running configuration as stored parts, so that an edit writes what it changed and nothing else.

Theory of operation
-------------------
The datastore keeps the running configuration as one lxml tree in memory, but stores it in pieces
(:class:`~esc_netconf.netconf.persistence.ConfigPart`): every top-level node, and every entry of a list
with at most ``list_depth`` lists on its schema path (itself included) is a **part**; with the ESC
model and the default depth of 2 that is ``esc_datamodel``, each tenant and each deployment. A part is
stored with its own parts cut out (a tenant's row holds its name and leaves, not its deployments), inside
the chain of containers between it and its parent part (``<deployments><deployment>...``), so that
putting the pieces back together needs no model (:func:`assemble`). Its key is the JSON list of the
steps from the top (tag, then key values for a list entry), its ``seq`` orders it among the parts of
the same parent (document order: a new entry always goes after its last sibling, so it gets the next
number).

An edit reports what it touched (:class:`~esc_netconf.netconf.incremental.EditedTree`: the elements it
applied something to, the ones it created and the ones it removed). Any change lies in a touched
element, and every ancestor of a touched element is touched too, so the parts to rewrite are the
touched parts whose serialized piece differs from the stored one, and the parts to delete are the
removed ones with everything stored below them (:meth:`PartLayout.delta`). An edit of one deployment
among 2,000 thus serializes and writes three small pieces (``esc_datamodel``'s skeleton, the tenant's
and the deployment's), and a change nobody can see (a merge of the values already there) writes nothing.

A store written by an earlier release holds one part, the whole ``<data>`` document, under the key
``[]`` (:data:`WHOLE_KEY`); it loads the same way, and the datastore rewrites it split at its next commit.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import cast

from lxml import etree

from esc_netconf.netconf.errors import BASE_NS
from esc_netconf.netconf.incremental import EditedTree
from esc_netconf.netconf.persistence import ConfigPart
from esc_netconf.netconf.xmlsafe import parse_xml
from esc_netconf.netconf.yangmodel import YangModel, key_values
from esc_netconf.nsmap import default_namespace

ROOT_KEY = ""
"""The parent key of the top-level parts (the ``<data>`` element itself is no part)."""
WHOLE_KEY = "[]"
"""The key of a whole ``<data>`` document stored as one part (an earlier release's layout)."""
DATA_TAG = f"{{{BASE_NS}}}data"

Step = list[str]  # [tag] or [tag, key value, ...]


class StoredPartsError(ValueError):
    """The stored parts do not fit together (a part whose parent is missing, or unparseable XML)."""


@dataclass(slots=True)
class PartIndex:
    """What is stored, part by part: the datastore's memory of the store, to compare a new piece with
    and to number new entries. Changed only by :meth:`apply`, after the store has the change."""

    parts: dict[str, ConfigPart] = field(default_factory=dict)
    children: dict[str, set[str]] = field(default_factory=dict)
    max_seq: dict[str, int] = field(default_factory=dict)

    def add(self, part: ConfigPart) -> None:
        old = self.parts.get(part.key)
        if old is not None and old.parent != part.parent:
            self.children[old.parent].discard(part.key)
        self.parts[part.key] = part
        self.children.setdefault(part.parent, set()).add(part.key)
        self.max_seq[part.parent] = max(self.max_seq.get(part.parent, -1), part.seq)

    def discard(self, key: str) -> None:
        part = self.parts.pop(key, None)
        if part is not None:
            self.children[part.parent].discard(key)

    def below(self, key: str) -> Iterator[str]:
        """``key``'s stored parts, all the way down (not ``key`` itself)."""
        stack = list(self.children.get(key, ()))
        while stack:
            child = stack.pop()
            yield child
            stack.extend(self.children.get(child, ()))

    def apply(self, delta: PartDelta) -> None:
        for key in delta.deletes:
            self.discard(key)
        for part in delta.writes:
            self.add(part)


@dataclass(frozen=True, slots=True)
class PartDelta:
    """One edit's change to the stored parts; ``changed_tops`` are the Clark names of the top-level
    nodes it changed (what ``EditResult.changed_subtrees`` reports)."""

    writes: tuple[ConfigPart, ...]
    deletes: frozenset[str]
    changed_tops: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.writes or self.deletes)


class PartLayout:
    """Which nodes of a model's data are parts (see the module docstring), and the pieces themselves."""

    def __init__(self, model: YangModel, *, list_depth: int = 2) -> None:
        self._model = model
        self._depth = list_depth
        self._lists: dict[tuple[str, ...], tuple[int, str | None, tuple[str, ...]]] = {}

    def _info(self, spath: tuple[str, ...]) -> tuple[int, str | None, tuple[str, ...]]:
        """(lists on the path including the node, the node's kind, its keys), cached per schema path."""
        known = self._lists.get(spath)
        if known is None:
            above = self._info(spath[:-1])[0] if len(spath) > 1 else 0
            node = self._model.node(spath)
            kind = node.kind if node is not None else None
            known = (above + (kind == "list"), kind, node.keys if node is not None else ())
            self._lists[spath] = known
        return known

    def is_part(self, spath: tuple[str, ...]) -> bool:
        lists, kind, _ = self._info(spath)
        return len(spath) == 1 or (kind == "list" and lists <= self._depth)

    def holds_parts(self, spath: tuple[str, ...]) -> bool:
        """Whether parts may lie below a node of this path (conservative: a container that could)."""
        lists, kind, _ = self._info(spath)
        return kind in ("container", "list") and lists < self._depth

    def _step(self, element: etree._Element, spath: tuple[str, ...]) -> Step:
        _, kind, keys = self._info(spath)
        if kind == "list":
            return [str(element.tag), *key_values(element, keys)]
        return [str(element.tag)]

    # ------------------------------------------------------------------------------ the pieces

    def _skeleton(self, element: etree._Element, spath: tuple[str, ...],
                  nsmap: dict[str, str] | None) -> etree._Element:
        """A copy of ``element`` without the parts below it (the containers leading to them stay)."""
        out = etree.Element(element.tag, nsmap=nsmap)
        for name, value in element.attrib.items():
            out.set(name, value)
        out.text = element.text
        parts: dict[str, bool] = {}  # by tag: a part (left out) or not; a list of parts has thousands of entries
        for child in element:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            part = parts.get(tag)
            if part is None:
                part = parts[tag] = self.is_part((*spath, tag))
            if part:
                continue
            cpath = (*spath, tag)
            if self.holds_parts(cpath):
                out.append(self._skeleton(child, cpath, None))
            else:
                out.append(_detached_copy(child))
        return out

    def _piece(self, part: etree._Element, spath: tuple[str, ...], wrappers: Sequence[etree._Element]) -> bytes:
        nsmap = cast("dict[str, str]", dict(part.nsmap))  # lxml-stubs mistype the default's None key
        outer: etree._Element | None = None
        inner: etree._Element | None = None
        for wrapper in wrappers:
            element = etree.Element(wrapper.tag, nsmap=nsmap if outer is None else None)
            if inner is None:
                outer = element
            else:
                inner.append(element)
            inner = element
        skeleton = self._skeleton(part, spath, nsmap if outer is None else None)
        if inner is None:
            return etree.tostring(skeleton, method="c14n")
        inner.append(skeleton)
        assert outer is not None
        return etree.tostring(outer, method="c14n")

    # ------------------------------------------------------------------------------ whole trees

    def split(self, data: etree._Element) -> Iterator[tuple[str, str, bytes]]:
        """Every part of a ``<data>`` tree as (key, parent key, piece), parents first, siblings in
        document order."""
        Pending = tuple[etree._Element, tuple[str, ...], list[Step], str, tuple[etree._Element, ...]]
        stack: list[Pending] = [(data, (), [], ROOT_KEY, ())]
        while stack:
            element, spath, steps, parent_key, wrappers = stack.pop()
            below: list[Pending] = []
            for child in element:
                if not isinstance(child.tag, str):
                    continue
                cpath = (*spath, str(child.tag))
                csteps = [*steps, self._step(child, cpath)]
                if self.is_part(cpath):
                    key = _key(csteps)
                    yield key, parent_key, self._piece(child, cpath, wrappers)
                    below.append((child, cpath, csteps, key, ()))
                elif self.holds_parts(cpath):
                    below.append((child, cpath, csteps, parent_key, (*wrappers, child)))
            stack.extend(reversed(below))

    def index(self, data: etree._Element, seqs: dict[str, int] | None = None) -> tuple[PartIndex, bool]:
        """The index of every part of ``data``, numbered with the stored ``seqs`` where given; and
        whether that numbering is complete (False: some part is not stored as such, rewrite all)."""
        index = PartIndex()
        complete = seqs is not None
        counters: dict[str, int] = {}
        for key, parent, xml in self.split(data):
            seq = None if seqs is None else seqs.get(key)
            if seq is None:
                complete = False
                seq = counters.get(parent, 0)
            counters[parent] = seq + 1
            index.add(ConfigPart(key, parent, seq, xml))
        if complete and seqs is not None and len(seqs) != len(index.parts):
            complete = False
        return index, complete

    # ------------------------------------------------------------------------------ one edit

    def _locate(self, chain: Sequence[etree._Element]) -> tuple[tuple[str, ...], list[Step], int]:
        """For an element's chain (itself first, the root last): its schema path, its steps from the top,
        and the position in the top-down path of its nearest ancestor part (-1: none, under the root)."""
        spath: tuple[str, ...] = ()
        steps: list[Step] = []
        parent = -1
        top_down = list(reversed(chain[:-1]))
        for i, element in enumerate(top_down):
            spath = (*spath, str(element.tag))
            steps.append(self._step(element, spath))
            if i < len(top_down) - 1 and self.is_part(spath):
                parent = i
        return spath, steps, parent

    def delta(self, edited: EditedTree, index: PartIndex) -> PartDelta:
        """What to write and delete after ``edited`` (see the module docstring); reads ``index`` only."""
        root = edited.tree
        gone: set[str] = set()
        for chain in edited.removed:
            if chain[-1] is not root:
                continue  # inside something removed before it: that removal covers it
            spath, steps, parent = self._locate(chain)
            if self.is_part(spath):
                gone.add(_key(steps))
            elif self.holds_parts(spath):
                parent_key = _key(steps[:parent + 1]) if parent >= 0 else ROOT_KEY
                prefix = json.loads(_key(steps))
                gone.update(k for k in index.children.get(parent_key, ()) if json.loads(k)[:len(prefix)] == prefix)
        for key in list(gone):
            gone.update(index.below(key))
        gone &= index.parts.keys()  # made and dropped by this edit (an implicit container): never stored
        created = set(edited.created)
        writes: dict[str, ConfigPart] = {}
        next_seq: dict[str, int] = {}
        seen: set[str] = set()
        fresh: set[tuple[str, str]] = set()  # (steps above, tag) of the lists that got a new entry
        reorder: set[etree._Element] = set()
        for element in [*edited.created, *edited.visited]:
            if element is root:
                continue
            chain = (element, *element.iterancestors())
            if chain[-1] is not root:
                continue  # created, then removed again by the same edit
            spath, steps, parent = self._locate(chain)
            if not self.is_part(spath):
                continue
            key = _key(steps)
            if key in seen:
                continue
            seen.add(key)
            parent_key = _key(steps[:parent + 1]) if parent >= 0 else ROOT_KEY
            top_down = list(reversed(chain[:-1]))
            xml = self._piece(element, spath, top_down[parent + 1:-1])
            stored = index.parts.get(key)
            same_list = (_key(steps[:-1]), steps[-1][0])
            if element in created or stored is None or key in gone:
                if (stored is not None and key in gone and stored.xml == xml and same_list not in fresh
                        and _last_remaining(stored, index, gone)):
                    gone.discard(key)  # deleted and made again as it was, in the same place: no change
                    continue
                seq = next_seq.get(parent_key, index.max_seq.get(parent_key, -1) + 1)
                next_seq[parent_key] = seq + 1
                fresh.add(same_list)
                gone.discard(key)
                if not _last_of_its_kind(element, created):
                    reorder.add(top_down[parent] if parent >= 0 else root)
            elif stored.xml == xml:
                continue
            else:
                seq = stored.seq
            writes[key] = ConfigPart(key, parent_key, seq, xml)
        for parent_element in reorder:
            self._renumber(parent_element, root, writes, index)
        changed = {json.loads(k)[0][0] for k in (*writes, *gone)}
        return PartDelta(tuple(writes.values()), frozenset(gone), tuple(sorted(changed)))

    def _renumber(self, parent: etree._Element, root: etree._Element, writes: dict[str, ConfigPart],
                  index: PartIndex) -> None:
        """Number every part directly below ``parent`` again in document order (a new entry that did
        not land last: not something the editor does today, but the order must survive a restart)."""
        if parent is root:
            spath: tuple[str, ...] = ()
            steps: list[Step] = []
            parent_key = ROOT_KEY
        else:
            spath, steps, _ = self._locate((parent, *parent.iterancestors()))
            parent_key = _key(steps)
        seq = max([index.max_seq.get(parent_key, -1), *(w.seq for w in writes.values())]) + 1
        for key, xml in self._direct_parts(parent, spath, steps, ()):
            writes[key] = ConfigPart(key, parent_key, seq, xml)
            seq += 1

    def _direct_parts(self, element: etree._Element, spath: tuple[str, ...], steps: list[Step],
                      wrappers: tuple[etree._Element, ...]) -> Iterator[tuple[str, bytes]]:
        """The parts directly below ``element`` (through containers) as (key, piece), in document order."""
        for child in element:
            if not isinstance(child.tag, str):
                continue
            cpath = (*spath, str(child.tag))
            csteps = [*steps, self._step(child, cpath)]
            if self.is_part(cpath):
                yield _key(csteps), self._piece(child, cpath, wrappers)
            elif self.holds_parts(cpath):
                yield from self._direct_parts(child, cpath, csteps, (*wrappers, child))


def _last_remaining(stored: ConfigPart, index: PartIndex, gone: set[str]) -> bool:
    """Whether no stored sibling of the same list that stays comes after ``stored`` (then an entry made
    again in its place lands where it was). Looked at only for an entry deleted and made again."""
    steps = json.loads(stored.key)
    for key in index.children.get(stored.parent, ()):
        if key in gone or key == stored.key:
            continue
        other = json.loads(key)
        if other[:-1] == steps[:-1] and other[-1][0] == steps[-1][0] and index.parts[key].seq > stored.seq:
            return False
    return True


def _last_of_its_kind(element: etree._Element, created: set[etree._Element]) -> bool:
    """Whether every later sibling of the same name is new too (then numbering on keeps the order)."""
    return all(s in created for s in element.itersiblings(str(element.tag)))


def _key(steps: list[Step]) -> str:
    """The JSON of the steps, each tag in Clark notation only where its namespace changes (keys stay
    short; the compression of a prefix is a prefix of the compression)."""
    out: list[Step] = []
    namespace = None
    for tag, *values in steps:
        qname = etree.QName(tag)
        out.append([tag if qname.namespace != namespace else qname.localname, *values])
        namespace = qname.namespace
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False)


def _detached_copy(element: etree._Element) -> etree._Element:
    """A copy of ``element`` without its tail (its namespace declarations in scope come along)."""
    out = copy.deepcopy(element)
    out.tail = None
    return out


def assemble(parts: Iterable[ConfigPart]) -> etree._Element | None:
    """The ``<data>`` tree the parts make up, or ``None`` when there are none.

    :raises StoredPartsError: a part that cannot be parsed or placed.
    """
    by_parent: dict[str, list[ConfigPart]] = {}
    whole: ConfigPart | None = None
    count = 0
    for part in parts:
        count += 1
        if part.key == WHOLE_KEY:
            whole = part
        else:
            by_parent.setdefault(part.parent, []).append(part)
    if count == 0:
        return None
    root = _parse(whole) if whole is not None else etree.Element(DATA_TAG, nsmap=default_namespace(BASE_NS))
    placed = 1 if whole is not None else 0
    stack: list[tuple[str, etree._Element, int]] = [(ROOT_KEY, root, 0)]
    while stack:
        parent_key, parent, depth = stack.pop()
        for part in sorted(by_parent.pop(parent_key, ()), key=lambda p: p.seq):
            steps = len(json.loads(part.key))
            entry = _attach(parent, _parse(part), steps - depth - 1)
            placed += 1
            stack.append((part.key, entry, steps))
    if by_parent:
        orphan = next(iter(by_parent.values()))[0]
        raise StoredPartsError(f"the stored part {orphan.key} has no parent part {orphan.parent}")
    return root


def _parse(part: ConfigPart) -> etree._Element:
    try:
        return parse_xml(part.xml)
    except Exception as exc:  # NetconfError for bad XML: say which part
        raise StoredPartsError(f"the stored part {part.key or '[]'} is not XML: {exc}") from exc


def _attach(parent: etree._Element, piece: etree._Element, wrappers: int) -> etree._Element:
    """Put ``piece`` (the part inside ``wrappers`` containers) into ``parent``; return the part."""
    if wrappers < 0:
        raise StoredPartsError(f"the stored part <{piece.tag}> is above its parent")
    entry = piece
    for _ in range(wrappers):
        entry = next((c for c in entry if isinstance(c.tag, str)), entry)
    node, target = piece, parent
    for _ in range(wrappers):
        existing = next(target.iterchildren(str(node.tag)), None)
        if existing is None:
            target.append(node)
            return entry
        target = existing
        node = next(c for c in node if isinstance(c.tag, str))
    target.append(node)
    return entry
