"""The NETCONF stream's own events (RFC 6470, module ietf-netconf-notifications): session start and end,
and ``netconf-config-change`` with one ``<edit>`` per changed subtree, naming the node and the edit
operation that changed it.

Theory of operation
-------------------
What changed is found by comparing the running configuration before and after the commit, not by
trusting the request: a merge that writes a leaf's current value changes nothing and is not reported,
and a ``replace`` reports the nodes it dropped although the request never named them. The walk
(:func:`changes`) descends both trees together, matching children as edit-config does (list entries
by their keys, leaf-list entries by value, everything else by name), and stops at the topmost node
that differs: a node only in the new tree was created, one only in the old tree was deleted, a leaf
with another value was modified. A container or list entry whose content differs only in order is
reported itself. A non-presence container is never reported as created or deleted: YANG treats it as
always there, so the walk goes on inside it and reports what its content gained or lost.

The operation of each change is the request's own (RFC 6470: "the NETCONF edit operation performed"):
the effective ``operation`` attribute of the deepest element of the ``<config>`` on the path to the
changed node, inherited down from ``default-operation`` as in RFC 6241 section 7.2. A node dropped by
a ``replace`` that did not name it gets that ``replace``. The target is the node's
instance-identifier with module prefixes (``/esc:esc_datamodel/esc:tenants/esc:tenant[esc:name='t1']``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum

from lxml import etree

from esc_netconf.netconf.context import SessionContext, TerminationReason
from esc_netconf.netconf.errors import BASE_NS
from esc_netconf.netconf.yangmodel import DataPath, SchemaNodeInfo, YangModel, key_values, quote
from esc_netconf.nsmap import default_namespace

NC_NOTIFICATIONS_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
OPERATION_ATTR = f"{{{BASE_NS}}}operation"

_REPORTABLE = frozenset({"merge", "replace", "create", "delete", "remove"})
"""The values of ietf-netconf's ``edit-operation-type``, which ``<operation>`` holds."""


class ChangeKind(str, Enum):
    CREATED = "created"
    DELETED = "deleted"
    MODIFIED = "modified"


@dataclass(frozen=True, slots=True)
class Step:
    """One node on the path from the top: its tag and what tells it from its siblings."""

    tag: str
    keys: tuple[tuple[str, str], ...] = ()
    value: str | None = None  # a leaf-list entry's value


@dataclass(frozen=True, slots=True)
class Change:
    """A changed subtree: where it is (``steps`` and the instance-identifier ``path``) and how."""

    steps: tuple[Step, ...]
    path: DataPath
    kind: ChangeKind


@dataclass(frozen=True, slots=True)
class Edit:
    """One ``<edit>`` of the notification."""

    target: DataPath
    operation: str


def changes(old: etree._Element, new: etree._Element, model: YangModel,
            touched: frozenset[etree._Element] | None = None) -> list[Change]:
    """The topmost nodes that differ between two ``<data>`` trees, in document order. ``touched``, when
    ``new`` was made from ``old`` by an edit, are the elements of ``new`` it touched
    (``EditResult.touched``): the walk then skips every other container and list entry, which are
    unchanged copies, so it costs what the edit touched, not the size of the trees."""
    return list(_diff(old, new, (), (), DataPath(), model, touched))


def config_edits(old: etree._Element, new: etree._Element, config: etree._Element,
                 default_operation: str, model: YangModel,
                 touched: frozenset[etree._Element] | None = None, *,
                 found: Sequence[Change] | None = None) -> list[Edit]:
    """The ``<edit>`` entries for a committed ``<edit-config>`` of ``config`` (see the module docstring);
    ``touched`` as :func:`changes` takes it; ``found``: what :func:`changes` gave for these trees (computed
    earlier, off the loop), else it is called now."""
    request = _RequestIndex(config, model)
    found = changes(old, new, model, touched) if found is None else found
    return [Edit(c.path, _operation(c, request, default_operation)) for c in found]


def config_change_event(ctx: SessionContext, edits: list[Edit], datastore: str = "running") -> etree._Element:
    """The ``netconf-config-change`` notification for edits made by the session ``ctx``."""
    ns = NC_NOTIFICATIONS_NS
    event = etree.Element(f"{{{ns}}}netconf-config-change", nsmap=default_namespace(ns))
    changed_by = etree.SubElement(event, f"{{{ns}}}changed-by")
    etree.SubElement(changed_by, f"{{{ns}}}username").text = ctx.username
    etree.SubElement(changed_by, f"{{{ns}}}session-id").text = str(ctx.session_id)
    etree.SubElement(changed_by, f"{{{ns}}}source-host").text = ctx.source_host
    etree.SubElement(event, f"{{{ns}}}datastore").text = datastore
    for edit in edits:
        entry = etree.SubElement(event, f"{{{ns}}}edit")
        etree.SubElement(entry, f"{{{ns}}}target", nsmap=edit.target.nsmap or None).text = str(edit.target)
        etree.SubElement(entry, f"{{{ns}}}operation").text = edit.operation
    return event


def session_event(name: str, ctx: SessionContext, reason: TerminationReason | None = None) -> etree._Element:
    """``netconf-session-start`` or, with the ``reason``, ``netconf-session-end`` for the session ``ctx``."""
    ns = NC_NOTIFICATIONS_NS
    event = etree.Element(f"{{{ns}}}{name}", nsmap=default_namespace(ns))
    etree.SubElement(event, f"{{{ns}}}username").text = ctx.username
    etree.SubElement(event, f"{{{ns}}}session-id").text = str(ctx.session_id)
    etree.SubElement(event, f"{{{ns}}}source-host").text = ctx.source_host
    if reason is not None:
        if ctx.killed_by is not None:
            etree.SubElement(event, f"{{{ns}}}killed-by").text = str(ctx.killed_by)
        etree.SubElement(event, f"{{{ns}}}termination-reason").text = reason.value
    return event


# ---------------------------------------------------------------------------------------- the diff

def _diff(old: etree._Element, new: etree._Element, spath: tuple[str, ...], steps: tuple[Step, ...],
          path: DataPath, model: YangModel, touched: frozenset[etree._Element] | None) -> Iterator[Change]:
    after, untouched = _children(new, spath, model, touched)
    if untouched:
        before = _counterparts(old, after, untouched, new, spath, model)
    else:
        before, _ = _children(old, spath, model, None)
    for identity in [*after, *(i for i in before if i not in after)]:
        previous, current = before.get(identity), after.get(identity)
        pair = current if current is not None else previous
        assert pair is not None  # every identity comes from one side or the other
        element, info = pair
        inner = info is not None and info.kind in ("container", "list")
        if previous is not None and current is not None:
            if touched is not None and inner and current[0] not in touched:
                continue  # an untouched copy: the same as before, without serializing it
            if (touched is None or not inner) and _same(previous[0], current[0]):
                continue
        step = _step(element, info)
        child_path = _child_path(path, step, info, model)
        here = (*steps, step)
        if info is not None and info.kind == "container" and not info.presence:
            # YANG treats a non-presence container as always there: what changed is inside it
            empty = etree.Element(step.tag)
            below = list(_diff(previous[0] if previous else empty, current[0] if current else empty,
                               (*spath, step.tag), here, child_path, model, touched))
            if below or _differ(previous, current):
                yield from below or [Change(here, child_path, ChangeKind.MODIFIED)]
        elif previous is None:
            yield Change(here, child_path, ChangeKind.CREATED)
        elif current is None:
            yield Change(here, child_path, ChangeKind.DELETED)
        elif info is None or info.kind in ("leaf", "leaf-list"):
            yield Change(here, child_path, ChangeKind.MODIFIED)
        else:
            below = list(_diff(previous[0], current[0], (*spath, step.tag), here, child_path, model, touched))
            if below or _differ(previous, current):
                yield from below or [Change(here, child_path, ChangeKind.MODIFIED)]


def _differ(previous: tuple[etree._Element, SchemaNodeInfo | None] | None,
            current: tuple[etree._Element, SchemaNodeInfo | None] | None) -> bool:
    """Whether a node whose children show no difference still differs (only in order, or it is new or
    gone): serialized only then, and only where an edit touched it."""
    return previous is None or current is None or not _same(previous[0], current[0])


_Identity = tuple[str, ...]


_Children = dict[_Identity, tuple[etree._Element, SchemaNodeInfo | None]]


def _children(parent: etree._Element, spath: tuple[str, ...], model: YangModel,
              touched: frozenset[etree._Element] | None,
              skip: Collection[str] = ()) -> tuple[_Children, dict[str, int]]:
    """The children of ``parent`` by identity (tag, then key values or the leaf-list value), and how many
    containers and list entries of each tag were left out for being outside ``touched`` (unchanged, so
    their identity is not even read: a list may hold thousands of them). A step is made later, only for
    those that turn out to differ."""
    out: _Children = {}
    untouched: dict[str, int] = {}
    infos: dict[str, tuple[SchemaNodeInfo | None, str, Sequence[str]]] = {}
    for child in parent:
        tag = child.tag
        if not isinstance(tag, str) or tag in skip:
            continue
        known = infos.get(tag)
        if known is None:
            info = model.node((*spath, tag))
            kind = info.kind if info is not None else ""
            known = infos[tag] = (info, kind, info.keys if info is not None else ())
        info, kind, keys = known
        if touched is not None and kind in ("container", "list") and child not in touched:
            untouched[tag] = untouched.get(tag, 0) + 1
            continue
        if kind == "list":
            identity: _Identity = (tag, *key_values(child, keys))
        elif kind == "leaf-list":
            identity = (tag, (child.text or "").strip())
        else:
            identity = (tag,)
        if identity not in out:
            out[identity] = (child, info)
    return out, untouched


def _counterparts(old: etree._Element, after: _Children, untouched: dict[str, int], new: etree._Element,
                  spath: tuple[str, ...], model: YangModel) -> _Children:
    """The children of ``old`` that can differ from those of ``new``, when ``new`` has untouched list entries
    (``untouched``, by tag): at a cost that follows the touched ones, not the siblings. Each untouched entry
    of ``new`` has its counterpart in ``old`` (unchanged, so left out). For a list whose entries in ``old``
    are exactly those counterparts plus the counterparts of its touched entries (by count: nothing was
    deleted), only the latter are looked up, by place (checked by key: :func:`_by_place`); any other tag (a deletion, a bulk edit, not a list) is
    read whole and its untouched counterparts dropped (:func:`_drop_untouched`)."""
    wanted: dict[str, list[_Identity]] = {}
    for identity in after:
        if identity[0] in untouched:
            wanted.setdefault(identity[0], []).append(identity)
    held: dict[str, int] = {}
    for child in old:
        tag = child.tag
        if isinstance(tag, str) and tag in untouched:
            held[tag] = held.get(tag, 0) + 1
    out: _Children = {}
    looked_up: set[str] = set()
    for tag, identities in wanted.items():
        info = model.node((*spath, tag))
        if info is None or info.kind != "list" or not info.keys:
            continue
        found: _Children = {}
        for identity, match in _by_place(old, new, tag, {after[i][0]: i for i in identities}).items():
            if key_values(match, info.keys) == identity[1:]:
                found[identity] = (match, info)
        if held.get(tag, 0) == untouched[tag] + len(found):
            out.update(found)
            looked_up.add(tag)
    rest, _ = _children(old, spath, model, None, skip=looked_up)
    spare = {tag: count for tag, count in untouched.items() if tag not in looked_up}
    if spare:
        _drop_untouched(rest, after, spare, new, spath, model)
    rest.update(out)
    return rest


def _by_place(old: etree._Element, new: etree._Element, tag: str,
              entries: dict[etree._Element, _Identity]) -> dict[_Identity, etree._Element]:
    """For each of ``entries`` (children ``tag`` of ``new``), the child ``tag`` of ``old`` at the same place:
    its counterpart, unless the edit deleted or moved entries before it (the caller checks the keys, and the
    count). An edit adds list entries after the last one, so the entries that were there keep their places.
    One pass over each side's siblings, however many entries are looked up."""
    places: dict[_Identity, int] = {}
    for place, child in enumerate(new.iterchildren(tag)):
        identity = entries.get(child)
        if identity is not None:
            places[identity] = place
    olds = list(old.iterchildren(tag))
    return {identity: olds[place] for identity, place in places.items() if place < len(olds)}


def _drop_untouched(before: _Children, after: _Children, untouched: dict[str, int], new: etree._Element,
                    spath: tuple[str, ...], model: YangModel) -> None:
    """Take out of ``before`` the counterparts of the children of ``new`` that :func:`_children` left out.
    Each has one, not matched by a touched child; so when a tag has exactly as many unmatched old entries
    as it has left-out new ones, those are them; more means some were deleted, and only then are the new
    entries of that tag read to tell which."""
    for tag, count in untouched.items():
        spare = [i for i in before if i[0] == tag and i not in after]
        if len(spare) != count:
            present, _ = _children(new, spath, model, None)
            spare = [i for i in spare if i in present]
        for identity in spare:
            del before[identity]


def _step(element: etree._Element, info: SchemaNodeInfo | None) -> Step:
    tag = str(element.tag)
    if info is not None and info.kind == "list":
        return Step(tag, keys=tuple(zip(info.keys, key_values(element, info.keys))))
    if info is not None and info.kind == "leaf-list":
        return Step(tag, value=(element.text or "").strip())
    return Step(tag)


def _same(a: etree._Element, b: etree._Element) -> bool:
    return etree.tostring(a, method="c14n") == etree.tostring(b, method="c14n")


def _child_path(path: DataPath, step: Step, info: SchemaNodeInfo | None, model: YangModel) -> DataPath:
    qname = etree.QName(step.tag)
    namespace = qname.namespace or ""
    child = path.child(model.prefix(namespace) or "ns", namespace, qname.localname)
    if step.keys:
        predicate = ""
        for key, value in step.keys:
            key_q = etree.QName(key)
            predicate += f"[{model.prefix(key_q.namespace or '') or 'ns'}:{key_q.localname}={quote(value)}]"
        return child.predicate(predicate)
    if step.value is not None:
        return child.predicate(f"[.={quote(step.value)}]")
    return child


# ---------------------------------------------------------------------------------------- the operation

class _RequestIndex:
    """The ``<config>`` of the request, its elements found by step through one dict per parent and tag,
    built on first use: an edit of n list entries changes n subtrees, and finding each among its n
    siblings by a scan would make the notification quadratic (3,000 tenants: seconds of a frozen loop)."""

    def __init__(self, config: etree._Element, model: YangModel) -> None:
        self.config = config
        self._model = model
        self._by_parent: dict[tuple[int, str], dict[Step, etree._Element]] = {}

    def child(self, parent: etree._Element, spath: tuple[str, ...], step: Step) -> etree._Element | None:
        index = self._by_parent.get((id(parent), step.tag))
        if index is None:
            info = self._model.node(spath)
            index = {}
            for element in parent.iterchildren(step.tag):
                index.setdefault(_step(element, info), element)  # the first one, as a scan would find
            self._by_parent[(id(parent), step.tag)] = index
        return index.get(step)


def _operation(change: Change, request: _RequestIndex, default_operation: str) -> str:
    """The effective operation of the deepest ``<config>`` element on the way to the changed node."""
    operation = default_operation
    level = request.config
    spath: tuple[str, ...] = ()
    for step in change.steps:
        spath = (*spath, step.tag)
        match = request.child(level, spath, step)
        if match is None:
            break
        operation = match.get(OPERATION_ATTR, operation)
        level = match
    if operation in _REPORTABLE:
        return operation
    return "delete" if change.kind is ChangeKind.DELETED else "merge"
