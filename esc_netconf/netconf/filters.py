"""``<filter>`` for get, get-config and create-subscription: subtree (RFC 6241 section 6) and XPath.

Both kinds work in two steps. First they *select*: a set of data elements to return whole, and a
set of ancestors to keep as the path to them. Then one builder walks the data in document order
and copies exactly that, so both filters return a new ``<data>`` tree, in document order, without
duplicates, whatever order or overlap the filter had. A kept ancestor carries only its list keys
(and, for a subtree filter, the leaves its content match nodes tested), so a client can tell which
list entry it is looking at.

Subtree rules (RFC 6241 section 6.2), for a data node D matched by a filter node F
(same local name; same namespace unless F has none, which matches any, as ESC clients write
filters without ``xmlns``; an unqualified F that inherited the NETCONF base or notification
namespace from the enclosing ``<rpc>``/``<create-subscription>`` counts as having none, since those
namespaces hold no data; and every attribute of F present on D with the same value):

* F has no child elements: a *selection node*, D is returned whole (if F has text it is a content
  match node, tested one level up);
* otherwise F's children split into content match nodes (leaves with text), selection nodes (empty
  leaves) and containment nodes (with children). Every content match node must equal some child
  of D (text compared after stripping whitespace) or D is not returned at all. If F holds only
  content match nodes, D is returned whole. Else D is kept with its matching content leaves, the
  children named by selection nodes, and what containment nodes select below it. A containment
  node that selects nothing below it is dropped, so an empty filter selects nothing.

List keys: the protocol layer knows no schema, so the caller passes ``keys``, a function from the
path of a data node (Clark names from the top) to the Clark names of its list keys; the YANG model
provides it. Without it ancestors carry only what the filter itself matched.

XPath: ``select`` is XPath 1.0 with the prefixes in scope on ``<filter>``. ESC clients send
unprefixed relative paths (``esc_datamodel/opdata/tenants/tenant[name='x']``) although XPath 1.0
would read an unprefixed name as "no namespace" and select nothing. We resolve an unprefixed name
test by local name instead (it is rewritten to ``*[local-name()='name']``), and evaluate relative
paths from the ``<data>`` element, absolute ones as if the top-level data nodes were the document's
children (``/x`` is rewritten to ``$__data/x``). Prefixed names keep their exact namespace meaning.
The rewrite follows the lexical rules of XPath 1.0 section 3.7, so function names, axis names,
node types, operator names (``and``, ``div``...), literals and variables are left alone.
"""

from __future__ import annotations

import asyncio
import re
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from enum import Enum
from typing import cast

from lxml import etree

from esc_netconf.netconf.errors import ErrorTag, ErrorType, NetconfError
from esc_netconf.netconf.forked import ForkedFailure, ForkedTimeout, run_forked
from esc_netconf.netconf.messages import BASE_NS, NOTIFICATION_NS
from esc_netconf.nsmap import default_namespace

KeyLookup = Callable[[tuple[str, ...]], Sequence[str]]
"""Path of Clark names from the top of the data -> the Clark names of that list's keys (or ())."""


class FilterType(str, Enum):
    """The ``type`` attribute of ``<filter>``."""

    SUBTREE = "subtree"
    XPATH = "xpath"


@dataclass(frozen=True, slots=True)
class FilterSpec:
    """A parsed ``<filter>``: the subtree element, or the XPath with its namespace prefixes."""

    type: FilterType
    element: etree._Element | None = None
    select: str | None = None
    nsmap: Mapping[str, str] = field(default_factory=dict)


def parse_filter(filter_el: etree._Element | None) -> FilterSpec | None:
    """Read a ``<filter>`` element (of get, get-config or create-subscription); None passes through,
    so a handler can write ``parse_filter(op.find(...))`` for the optional parameter.

    :raises NetconfError: ``bad-attribute`` for an unknown type, ``missing-attribute`` for an
        xpath filter without ``select``.
    """
    if filter_el is None:
        return None
    name = etree.QName(filter_el).localname
    kind = _attribute(filter_el, "type") or FilterType.SUBTREE.value
    if kind == FilterType.SUBTREE.value:
        return FilterSpec(FilterType.SUBTREE, element=filter_el)
    if kind != FilterType.XPATH.value:
        raise NetconfError(
            ErrorTag.BAD_ATTRIBUTE,
            f"Unknown filter type {kind!r}: expected subtree or xpath.",
            type=ErrorType.PROTOCOL,
            info={"bad-attribute": "type", "bad-element": name},
        )
    select = _attribute(filter_el, "select")
    if select is None:
        raise NetconfError(
            ErrorTag.MISSING_ATTRIBUTE,
            "An xpath filter needs a select attribute.",
            type=ErrorType.PROTOCOL,
            info={"bad-attribute": "select", "bad-element": name},
        )
    nsmap = {prefix: ns for prefix, ns in filter_el.nsmap.items() if prefix}
    return FilterSpec(FilterType.XPATH, select=select, nsmap=nsmap)


def _attribute(element: etree._Element, name: str) -> str | None:
    value = element.get(name)
    return value if value is not None else element.get(f"{{{BASE_NS}}}{name}")


def apply_filter(data: etree._Element, spec: FilterSpec, keys: KeyLookup | None = None) -> etree._Element:
    """Apply a parsed filter to a ``<data>`` tree and return the new, filtered ``<data>`` tree."""
    if spec.type is FilterType.XPATH:
        assert spec.select is not None
        return xpath_filter(data, spec.select, spec.nsmap, keys=keys)
    assert spec.element is not None
    return subtree_filter(data, spec.element, keys=keys)


class _Selection:
    """Data elements to return whole (``selected``) and ancestors to keep as a path (``kept``)."""

    def __init__(self, max_comparisons: int | None = None) -> None:
        self.selected: set[etree._Element] = set()
        self.kept: set[etree._Element] = set()
        self._left = max_comparisons

    def charge(self, comparisons: int) -> None:
        """Count filter-node x data-node comparisons against the budget (a subtree filter with many
        siblings against a long list is quadratic: 100,000 x 100,000 would run for hours)."""
        if self._left is None:
            return
        self._left -= comparisons
        if self._left < 0:
            raise NetconfError(
                ErrorTag.TOO_BIG,
                "The subtree filter exceeded its budget of node comparisons and was stopped; "
                "select fewer sibling nodes at one level.",
                type=ErrorType.APPLICATION,
                info={"bad-element": "filter"},
            )

    def select(self, element: etree._Element) -> None:
        self.selected.add(element)

    def keep_path(self, element: etree._Element, root: etree._Element) -> None:
        node: etree._Element | None = element.getparent()
        while node is not None and node is not root and node not in self.kept:
            self.kept.add(node)
            node = node.getparent()


def subtree_filter(
    data: etree._Element,
    filter_: etree._Element,
    *,
    keys: KeyLookup | None = None,
    max_comparisons: int | None = None,
) -> etree._Element:
    """RFC 6241 section 6 subtree filtering of ``data`` (a ``<data>`` element) by ``<filter>``.

    :raises NetconfError: ``too-big`` after ``max_comparisons`` filter-node x data-node comparisons.
    """
    selection = _Selection(max_comparisons)
    _match_children(data, list(filter_.iterchildren(tag=etree.Element)), selection, top=True)
    return _build(data, selection, keys)


def _children(element: etree._Element) -> list[etree._Element]:
    return list(element.iterchildren(tag=etree.Element))


# Filter nodes in these namespaces match data in any namespace: an unqualified node inside
# <rpc xmlns="...base:1.0"> or <create-subscription xmlns="...notification:1.0"> inherits one of
# them, and neither namespace defines any data node, so the client cannot have meant them.
_ANY_NAMESPACE = frozenset({None, BASE_NS, NOTIFICATION_NS})


def _names_match(filter_node: etree._Element, data_node: etree._Element) -> bool:
    f, d = etree.QName(filter_node), etree.QName(data_node)
    return f.localname == d.localname and (f.namespace in _ANY_NAMESPACE or f.namespace == d.namespace)


def _attributes_match(filter_node: etree._Element, data_node: etree._Element) -> bool:
    return all(data_node.get(name) == value for name, value in filter_node.attrib.items())


def _matches(filter_node: etree._Element, data_node: etree._Element) -> bool:
    return _names_match(filter_node, data_node) and _attributes_match(filter_node, data_node)


def _text(element: etree._Element) -> str:
    return (element.text or "").strip()


def _match_children(
    data_node: etree._Element,
    filter_nodes: list[etree._Element],
    selection: _Selection,
    *,
    top: bool = False,
) -> bool:
    """Apply one sibling set of filter nodes to the children of ``data_node``; True if any selected."""
    content = [f for f in filter_nodes if not len(f) and _text(f)]
    selectors = [f for f in filter_nodes if not len(f) and not _text(f)]
    containers = [f for f in filter_nodes if len(f)]
    children = _children(data_node)
    selection.charge(len(filter_nodes) * max(1, len(children)))
    matched_content: list[etree._Element] = []
    for f in content:
        hits = [d for d in children if _matches(f, d) and _text(d) == _text(f)]
        if not hits and not top:
            return False
        matched_content.extend(hits)
    if not top and not selectors and not containers:
        selection.select(data_node)
        return True
    found = bool(matched_content) and not top
    for hit in matched_content:
        selection.select(hit)
        found = True
    for f in selectors:
        for d in children:
            if _matches(f, d):
                selection.select(d)
                found = True
    for f in containers:
        for d in children:
            if _matches(f, d) and _match_children(d, _children(f), selection):
                found = True
    if found and not top:
        selection.kept.add(data_node)
    return found


def xpath_filter(
    data: etree._Element, select: str, nsmap: Mapping[str, str], *, keys: KeyLookup | None = None
) -> etree._Element:
    """Select with an XPath 1.0 expression and return the nodes with their ancestors in ``<data>``.

    This evaluates in the calling thread without a time limit: use it for small documents (one
    notification); :func:`filter_data` is the bounded way for a datastore.

    :raises NetconfError: ``invalid-value`` when the expression is not valid XPath, calls a function
        outside the XPath 1.0 core library, uses an unknown prefix, or does not evaluate to a node-set.
    """
    compiled = _compile(plan_xpath(select), nsmap, select)
    return _build_from(data, _select(compiled, data, select), keys)


def _compile(plan: XPathPlan, nsmap: Mapping[str, str], select: str) -> etree.XPath:
    namespaces = {prefix: ns for prefix, ns in nsmap.items() if prefix}
    try:
        # regexp=False: no EXSLT regular expressions, whatever prefix the client binds to them.
        return etree.XPath(plan.expression, namespaces=namespaces, regexp=False)
    except (etree.XPathError, ValueError) as exc:
        raise _invalid_xpath(select, str(exc)) from exc


def _select(compiled: etree.XPath, data: etree._Element, select: str) -> list[etree._Element]:
    """The elements the expression selects (text and attribute results stand for their element)."""
    try:
        # lxml-stubs: an element is a valid XPath variable (a node-set of one), as well as a list.
        result = compiled(data, **{_DATA_VARIABLE: data})  # type: ignore[arg-type]
    except (etree.XPathError, ValueError) as exc:
        raise _invalid_xpath(select, str(exc)) from exc
    if not isinstance(result, list):
        raise _invalid_xpath(select, "it does not select nodes")
    return list(_elements(result))


def _build_from(data: etree._Element, nodes: Iterable[etree._Element], keys: KeyLookup | None) -> etree._Element:
    selection = _Selection()
    for node in nodes:
        if node is data:
            for child in _children(data):
                selection.select(child)
        elif _is_below(node, data):
            selection.select(node)
    return _build(data, selection, keys)


@dataclass(frozen=True, slots=True)
class FilterLimits:
    """The work one filter may cause (README "Limits")."""

    xpath_seconds: float = 3.0
    subtree_comparisons: int = 5_000_000


async def filter_data(
    data: etree._Element, spec: FilterSpec, *, keys: KeyLookup | None = None, limits: FilterLimits = FilterLimits()
) -> etree._Element:
    """Apply a filter to a datastore-sized ``<data>`` tree (owned by the caller) without holding the loop.

    A subtree filter runs in a worker thread and counts its node comparisons; an XPath whose cost its
    shape bounds (see :class:`XPathPlan`) runs in a worker thread (both on the loop for a small tree and
    filter: :data:`INLINE_WORK`); any other XPath runs in a forked
    child under ``limits.xpath_seconds`` (:mod:`esc_netconf.netconf.forked`), which a cancelled task
    (the client left) kills at once.

    :raises NetconfError: the filter's own errors; ``too-big`` when it exceeds its budget.
    """
    inline = _small_enough_inline(data, spec)
    if spec.type is FilterType.SUBTREE:
        assert spec.element is not None
        if inline:
            return subtree_filter(data, spec.element, keys=keys, max_comparisons=limits.subtree_comparisons)
        return await asyncio.to_thread(
            subtree_filter, data, spec.element, keys=keys, max_comparisons=limits.subtree_comparisons
        )
    assert spec.select is not None
    select = spec.select
    plan = plan_xpath(select)
    compiled = _compile(plan, spec.nsmap, select)
    if plan.bounded:
        nodes = _select(compiled, data, select) if inline else await asyncio.to_thread(_select, compiled, data, select)
    else:
        nodes = await _select_forked(compiled, data, select, limits.xpath_seconds)
    return _build_from(data, nodes, keys) if inline else await asyncio.to_thread(_build_from, data, nodes, keys)


INLINE_NODES = 1000
"""A ``<data>`` tree of at most this many nodes (a ``get`` of one deployment's opdata) may be filtered on the
loop: a small filter of it takes well under a millisecond, less than the hops to a worker thread and back."""

INLINE_WORK = 20_000
"""...when its nodes times the filter's (its nodes, or the characters of an XPath) are at most this many: what
a filter compares grows with both (a subtree filter with many siblings is quadratic)."""

_LARGER_THAN_INLINE = etree.XPath(f"boolean(descendant::node()[{INLINE_NODES + 1}])")
"""libxml2 stops at that node: asking costs little even of a datastore-sized tree."""

_NODES = etree.XPath("count(descendant-or-self::node())")


def _small_enough_inline(data: etree._Element, spec: FilterSpec) -> bool:
    if _LARGER_THAN_INLINE(data):
        return False
    size = len(spec.select or "") if spec.element is None else cast(float, _NODES(spec.element))
    return cast(float, _NODES(data)) * size <= INLINE_WORK


async def _select_forked(
    compiled: etree.XPath, data: etree._Element, select: str, seconds: float
) -> list[etree._Element]:
    def compute() -> bytes:
        chosen = _select(compiled, data, select)
        position = {element: i for i, element in enumerate(data.iter(etree.Element))}
        return array("I", sorted({position[e] for e in chosen if e in position})).tobytes()

    try:
        payload = await run_forked(compute, seconds)
    except ForkedTimeout:
        raise NetconfError(
            ErrorTag.TOO_BIG,
            f"The XPath filter {select[:200]!r} exceeded its budget of {seconds:g} s of evaluation and was "
            "stopped; a predicate that scans the document (// or count(//...)) inside another costs N^k.",
            type=ErrorType.APPLICATION,
            info={"bad-attribute": "select", "bad-element": "filter"},
        ) from None
    except ForkedFailure as exc:
        message = str(exc)
        if message.startswith("NetconfError: "):  # _select's invalid-value, raised in the child
            raise NetconfError(ErrorTag.INVALID_VALUE, message.removeprefix("NetconfError: "),
                               type=ErrorType.PROTOCOL,
                               info={"bad-attribute": "select", "bad-element": "filter"}) from None
        raise NetconfError(
            ErrorTag.OPERATION_FAILED, f"The XPath filter could not be evaluated: {message}",
            type=ErrorType.APPLICATION,
        ) from None
    indices = array("I")
    indices.frombytes(payload)
    elements = list(data.iter(etree.Element))
    return [elements[i] for i in indices]


def _invalid_xpath(select: str, why: str) -> NetconfError:
    return NetconfError(
        ErrorTag.INVALID_VALUE,
        f"Invalid XPath expression {select!r}: {why}",
        type=ErrorType.PROTOCOL,
        info={"bad-attribute": "select", "bad-element": "filter"},
    )


def _is_below(node: etree._Element, ancestor: etree._Element) -> bool:
    parent = node.getparent()
    while parent is not None:
        if parent is ancestor:
            return True
        parent = parent.getparent()
    return False


_DATA_VARIABLE = "__data"
_NCNAME = r"[^\W\d][\w.\-]*"
_TOKEN = re.compile(
    rf"""(?P<ws>\s+)
    |(?P<literal>"[^"]*"|'[^']*')
    |(?P<number>\d+(?:\.\d*)?|\.\d+)
    |(?P<variable>\${_NCNAME}(?::{_NCNAME})?)
    |(?P<name>{_NCNAME}(?::(?:{_NCNAME}|\*))?)
    |(?P<op>//|::|\.\.|!=|<=|>=|[/|+=<>()\[\],@.*-])""",
    re.VERBOSE,
)
_OPERATORS = frozenset({"/", "//", "|", "+", "-", "=", "!=", "<", "<=", ">", ">="})
_OPENERS = frozenset({"@", "::", "(", "[", ","})
_ENDS_PATH = frozenset({")", "]", ",", "|", "+", "-", "=", "!=", "<", "<=", ">", ">="})


XPATH_CORE_FUNCTIONS = frozenset({
    "last", "position", "count", "id", "local-name", "namespace-uri", "name",
    "string", "concat", "starts-with", "contains", "substring-before", "substring-after", "substring",
    "string-length", "normalize-space", "translate",
    "boolean", "not", "true", "false", "lang",
    "number", "sum", "floor", "ceiling", "round",
})
"""The XPath 1.0 core function library (XPath 1.0 section 4): the only functions a filter may call.

lxml would also offer EXSLT (``re:test`` runs a backtracking regular expression: 33 s for 28
characters) and its own extensions; none of them is XPath 1.0, which is what ``:xpath:1.0`` announces.
"""
_NODE_TYPES = frozenset({"node", "text", "comment", "processing-instruction"})
_SCANNING_AXES = frozenset({
    "descendant", "descendant-or-self", "ancestor", "ancestor-or-self",
    "following", "following-sibling", "preceding", "preceding-sibling",
})
MAX_XPATH_LENGTH = 16 * 1024


@dataclass(frozen=True, slots=True)
class XPathPlan:
    """A checked XPath filter: the rewritten expression, and whether its cost is bounded by its shape.

    ``bounded`` is True when no predicate holds a path that scans the document (``//``, an absolute
    path, a variable, or an axis other than child/self/parent/attribute/namespace). Such an
    expression costs at most (number of steps) x N^2 node visits for N nodes, whatever its nesting; one
    that scans inside a predicate multiplies N by itself once per level (nested ``count(//*)``: N^k),
    so it is only evaluated under a time limit.
    """

    expression: str
    bounded: bool


def _tokenize(select: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(select):
        match = _TOKEN.match(select, pos)
        if match is None:
            raise ValueError(f"unexpected character {select[pos]!r} at offset {pos}")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append((kind, match.group()))
        pos = match.end()
    return tokens


def plan_xpath(select: str) -> XPathPlan:
    """Check an XPath filter and rewrite it (see :func:`rewrite_xpath`).

    :raises NetconfError: ``invalid-value`` for a function outside the XPath 1.0 core library (the
        message names it), an expression longer than ``MAX_XPATH_LENGTH``, or bad syntax.
    """
    if len(select) > MAX_XPATH_LENGTH:
        raise _invalid_xpath(select[:80] + "...", f"it is longer than {MAX_XPATH_LENGTH} characters")
    try:
        tokens = _tokenize(select)
    except ValueError as exc:
        raise _invalid_xpath(select, str(exc)) from exc
    bounded = True
    brackets: list[str] = []
    prev_is_operand_start = True
    for index, (kind, value) in enumerate(tokens):
        following = tokens[index + 1][1] if index + 1 < len(tokens) else None
        in_predicate = "[" in brackets
        if kind == "name" and prev_is_operand_start and following == "(" and value not in _NODE_TYPES:
            if value not in XPATH_CORE_FUNCTIONS:
                raise NetconfError(
                    ErrorTag.INVALID_VALUE,
                    f"The XPath function '{value}' is not allowed in a filter: only the XPath 1.0 core "
                    "function library is (no EXSLT, no extensions).",
                    type=ErrorType.PROTOCOL,
                    info={"bad-attribute": "select", "bad-element": "filter"},
                )
        if in_predicate and (
            value == "//"
            or kind == "variable"
            or (value == "/" and prev_is_operand_start)
            or (kind == "name" and following == "::" and value in _SCANNING_AXES)
        ):
            bounded = False
        if value in ("[", "("):
            brackets.append(value)
        elif value in ("]", ")") and brackets:
            brackets.pop()
        prev_is_operand_start = _starts_operand(kind, value, prev_is_operand_start)
    return XPathPlan(_rewrite(tokens), bounded)


def _starts_operand(kind: str, value: str, prev_is_operand_start: bool) -> bool:
    """XPath 1.0 section 3.7: whether the token after this one starts an operand (vs an operator)."""
    if kind == "name":
        return not prev_is_operand_start
    if value == "*":
        return not prev_is_operand_start
    return kind == "op" and (value in _OPERATORS or value in _OPENERS)


def rewrite_xpath(select: str) -> str:
    """Rewrite unprefixed name tests to match by local name, and anchor absolute paths at ``<data>``.

    :raises ValueError: on a character that cannot start any XPath token.
    """
    return _rewrite(_tokenize(select))


def _rewrite(tokens: list[tuple[str, str]]) -> str:
    out: list[str] = []
    prev_is_operand_start = True  # XPath 3.7: no previous token counts as an operator
    for index, (kind, value) in enumerate(tokens):
        following = tokens[index + 1][1] if index + 1 < len(tokens) else None
        text = value
        if kind == "name":
            is_operator_name = not prev_is_operand_start
            if not (is_operator_name or following in ("(", "::") or ":" in value):
                text = f"*[local-name()='{value}']"
            prev_is_operand_start = is_operator_name
        elif value == "*":
            is_multiply = not prev_is_operand_start
            prev_is_operand_start = is_multiply
        elif value in ("/", "//") and prev_is_operand_start:
            lone_root = value == "/" and (following is None or following in _ENDS_PATH)
            text = f"${_DATA_VARIABLE}" + ("" if lone_root else value)
            prev_is_operand_start = not lone_root
        else:
            prev_is_operand_start = kind == "op" and (value in _OPERATORS or value in _OPENERS)
        out.append(text)
    return " ".join(out)


def _elements(result: Iterable[object]) -> Iterable[etree._Element]:
    """Elements of an XPath result; a text or attribute result stands for its parent element."""
    for item in result:
        if isinstance(item, etree._Element):
            if isinstance(item.tag, str):
                yield item
            elif item.getparent() is not None:
                yield item.getparent()
        else:
            parent = getattr(item, "getparent", None)
            owner = parent() if parent is not None else None
            if isinstance(owner, etree._Element):
                yield owner


def _build(data: etree._Element, selection: _Selection, keys: KeyLookup | None) -> etree._Element:
    """Copy the selected subtrees with the paths to them, in document order."""
    for element in list(selection.selected):
        selection.keep_path(element, data)
    root_ns = etree.QName(data).namespace
    out = etree.Element(data.tag, nsmap=default_namespace(root_ns) if root_ns else None)
    _copy_children(data, out, selection, keys, (), root_ns)
    return out


def _copy_children(
    source: etree._Element,
    target: etree._Element,
    selection: _Selection,
    keys: KeyLookup | None,
    path: tuple[str, ...],
    default_ns: str | None,
) -> None:
    key_names = frozenset(keys(path)) if keys is not None and path else frozenset()
    for child in source.iterchildren(tag=etree.Element):
        if child in selection.selected:
            target.append(deepcopy(child))
        elif child in selection.kept:
            ns = etree.QName(child).namespace
            nsmap = default_namespace(ns) if ns and ns != default_ns else None
            # lxml-stubs: attribute names and values are str here, never bytes.
            attrib = dict(child.attrib)  # type: ignore[misc]
            copy = etree.SubElement(target, child.tag, attrib=attrib, nsmap=nsmap)
            _copy_children(child, copy, selection, keys, (*path, child.tag), ns or default_ns)
        elif child.tag in key_names:
            target.append(deepcopy(child))


# ---- scope: which list entries a filter can reach, so a state provider builds only those ---------------


@dataclass(frozen=True, slots=True)
class ListLevel:
    """A list whose entries a state provider builds one by one, keyed by one leaf.

    ``path``: Clark names from the entry of the previous level (from the top of the data for the first
    level) down to this list's entry element; ``key``: the Clark name of the key leaf in the entry.
    """

    path: tuple[str, ...]
    key: str


@dataclass(frozen=True, slots=True)
class ListScope:
    """The entries of one list a filter may select something in or below (see :func:`list_scope`).

    Each pick pairs a key value (None: any entry) with the scope of the next level inside the entries it
    picks (None: everything in them). No picks at all: the filter reaches no entry of this list.
    The scope is a superset: an entry outside it can neither be selected nor change what else is
    selected, so building the data without it and filtering gives exactly the filter's result.
    """

    picks: tuple[tuple[str | None, ListScope | None], ...] = ()

    def wants(self, key: str) -> bool:
        """Whether the entry keyed ``key`` may matter to the filter."""
        key = key.strip()
        return any(value is None or value == key for value, _ in self.picks)

    def keys(self) -> frozenset[str] | None:
        """The key values the filter names, or None when it may reach any entry."""
        if any(value is None for value, _ in self.picks):
            return None
        return frozenset(value for value, _ in self.picks if value is not None)

    def inner(self, key: str) -> ListScope | None:
        """The scope of the next level inside the entry keyed ``key`` (None: all of it)."""
        key = key.strip()
        picks: list[tuple[str | None, ListScope | None]] = []
        for value, scope in self.picks:
            if value is None or value == key:
                if scope is None:
                    return None
                picks.extend(scope.picks)
        return ListScope(tuple(picks))


def list_scope(spec: FilterSpec | None, levels: Sequence[ListLevel]) -> ListScope | None:
    """The entries of the first of ``levels`` (and, nested, of the next ones) that ``spec`` may reach;
    None when any entry may be reached (no filter, or one whose reach this cannot tell).

    Subtree filters are read node by node (content match nodes on the key leaf name the entries). XPath
    filters are read when each ``|`` branch is a plain path of child steps whose only predicates before the
    last level's entry are ``[key='value']`` on the list entries, and nothing looks outside the entry it is
    in (no ``..``, axes, variables or absolute paths in predicates); any other expression reaches all.
    """
    if spec is None or not levels:
        return None
    if spec.type is FilterType.SUBTREE:
        assert spec.element is not None
        return _subtree_scope(_children(spec.element), levels)
    assert spec.select is not None
    return _xpath_scope(spec.select, spec.nsmap, levels)


def _filter_names(filter_node: etree._Element, clark: str) -> bool:
    f, d = etree.QName(filter_node), etree.QName(clark)
    return f.localname == d.localname and (f.namespace in _ANY_NAMESPACE or f.namespace == d.namespace)


def _is_content_match(node: etree._Element) -> bool:
    return not len(node) and bool(_text(node))


def _subtree_scope(siblings: list[etree._Element], levels: Sequence[ListLevel]) -> ListScope | None:
    picks = _subtree_picks(siblings, levels[0].path, levels)
    return None if picks is None else ListScope(tuple(picks))


def _subtree_picks(
    siblings: list[etree._Element], path: tuple[str, ...], levels: Sequence[ListLevel]
) -> list[tuple[str | None, ListScope | None]] | None:
    """The picks of the filter nodes ``siblings`` for the list at ``path`` below them; None: all entries."""
    picks: list[tuple[str | None, ListScope | None]] = []
    for node in siblings:
        if not _filter_names(node, path[0]):
            continue
        children = _children(node)
        whole = not children or all(_is_content_match(c) for c in children)
        if len(path) > 1:
            if whole:
                return None  # a selection node, or one returned whole when its content matches: all below it
            below = _subtree_picks(children, path[1:], levels)
            if below is None:
                return None
            picks.extend(below)
            continue
        keys = {_text(c) for c in children if _is_content_match(c) and _filter_names(c, levels[0].key)}
        if len(keys) > 1:
            continue  # two different keys: no entry can match both
        inner = _subtree_scope(children, levels[1:]) if len(levels) > 1 and not whole else None
        picks.append((keys.pop() if keys else None, inner))
    return picks


def _xpath_scope(select: str, nsmap: Mapping[str, str], levels: Sequence[ListLevel]) -> ListScope | None:
    try:
        tokens = _tokenize(select)
    except ValueError:
        return None  # the filter itself reports the error
    if any(value in ("..", "::") or kind == "variable" for kind, value in tokens):
        return None
    picks: list[tuple[str | None, ListScope | None]] = []
    for branch in _union_branches(tokens):
        steps = _location_steps(branch)
        if steps is None:
            return None
        branch_picks = _xpath_picks(steps, nsmap, levels)
        if branch_picks is None:
            return None
        picks.extend(branch_picks)
    return ListScope(tuple(picks))


_Token = tuple[str, str]


def _union_branches(tokens: list[_Token]) -> list[list[_Token]]:
    branches: list[list[_Token]] = [[]]
    depth = 0
    for kind, value in tokens:
        if value in ("[", "("):
            depth += 1
        elif value in ("]", ")"):
            depth -= 1
        if value == "|" and depth == 0:
            branches.append([])
        else:
            branches[-1].append((kind, value))
    return branches


@dataclass(frozen=True, slots=True)
class _Step:
    name: str
    predicates: tuple[tuple[_Token, ...], ...]


def _location_steps(tokens: list[_Token]) -> list[_Step] | None:
    """A relative or ``/``-rooted path of named child steps with predicates, or None for anything else.

    Predicates may not hold an absolute path (``/`` or ``//`` where an operand starts): it would look
    outside the entry.
    """
    if tokens and tokens[0][1] == "/":
        tokens = tokens[1:]
    steps: list[_Step] = []
    index = 0
    while index < len(tokens):
        kind, value = tokens[index]
        if kind != "name":
            return None
        index += 1
        if index < len(tokens) and tokens[index][1] == "(":
            if value not in _NODE_TYPES or index + 1 == len(tokens) or tokens[index + 1][1] != ")":
                return None  # a function call, not a step
            value, index = f"{value}()", index + 2
        predicates: list[tuple[_Token, ...]] = []
        while index < len(tokens) and tokens[index][1] == "[":
            depth, start = 0, index
            while index < len(tokens):
                if tokens[index][1] == "[":
                    depth += 1
                elif tokens[index][1] == "]":
                    depth -= 1
                    if depth == 0:
                        break
                index += 1
            if index >= len(tokens):
                return None
            predicate = tuple(tokens[start + 1:index])
            if _has_absolute_path(predicate):
                return None
            predicates.append(predicate)
            index += 1
        steps.append(_Step(value, tuple(predicates)))
        if index < len(tokens):
            if tokens[index][1] != "/" or index + 1 == len(tokens):
                return None
            index += 1
    return steps or None


def _has_absolute_path(tokens: tuple[_Token, ...]) -> bool:
    operand_start = True
    for kind, value in tokens:
        if value in ("/", "//") and operand_start:
            return True
        operand_start = _starts_operand(kind, value, operand_start)
    return False


def _step_names(step: _Step, clark: str, nsmap: Mapping[str, str]) -> bool | None:
    """Whether the step's name test matches the node ``clark``; None when it cannot tell (unknown prefix)."""
    prefix, _, local = step.name.rpartition(":")
    wanted = etree.QName(clark)
    if local == "*" or local.endswith("()"):
        return None
    if local != wanted.localname:
        return False
    if not prefix:
        return True  # unprefixed names match by local name (module docstring)
    namespace = nsmap.get(prefix)
    return None if namespace is None else namespace == wanted.namespace


def _key_predicate(predicate: tuple[_Token, ...], key: str) -> str | None:
    """The value of a ``[key='value']`` (or ``['value'=key]``) predicate, else None."""
    if len(predicate) != 3 or predicate[1][1] != "=":
        return None
    (k1, v1), _, (k2, v2) = predicate
    if k1 == "name" and k2 == "literal":
        name, literal = v1, v2
    elif k1 == "literal" and k2 == "name":
        name, literal = v2, v1
    else:
        return None
    return literal[1:-1] if name.rpartition(":")[2] == etree.QName(key).localname else None


def _xpath_picks(
    steps: list[_Step], nsmap: Mapping[str, str], levels: Sequence[ListLevel]
) -> list[tuple[str | None, ListScope | None]] | None:
    level = levels[0]
    for position, clark in enumerate(level.path):
        if position == len(steps):
            return None  # the path stops above the entries: it selects all of them
        step = steps[position]
        names = _step_names(step, clark, nsmap)
        if names is None:
            return None
        if not names:
            return []  # it goes elsewhere: no entry of this list
        if position < len(level.path) - 1 and step.predicates:
            return None  # a predicate above the entries could test any of them
    entry = steps[len(level.path) - 1]
    keys: set[str] = set()
    for predicate in entry.predicates:
        value = _key_predicate(predicate, level.key)
        if value is None:
            return None
        keys.add(value)
    if len(keys) > 1:
        return []
    rest = steps[len(level.path):]
    inner: ListScope | None = None
    if len(levels) > 1 and rest:
        below = _xpath_picks(rest, nsmap, levels[1:])
        inner = None if below is None else ListScope(tuple(below))
    return [(keys.pop() if keys else None, inner)]


def selects_entries_whole(spec: FilterSpec | None, levels: Sequence[ListLevel]) -> bool:
    """Whether ``spec`` returns each entry of the last of ``levels`` either whole or not at all, telling which
    by nothing inside the entry but its key leaf; False when it cannot tell.

    Then a state provider may put a stand-in for each such entry in the ``<data>`` it builds (the entry element
    with its key leaf only, and a marker for the rest: ``netconf.placeholders``): the filter selects or drops a
    stand-in as it would the entry, and copies it whole when it copies the entry, so the reply is the same
    once the markers are replaced by the entries' content. Subtree filters: no filter node below an entry but
    content match nodes on its key, no attributes on the filter nodes on the way. XPath: each ``|`` branch a
    plain path of child steps that ends at or above the entries or goes elsewhere, with ``[key='value']``
    predicates on the list entries only.
    """
    if spec is None:
        return True
    path: tuple[str, ...] = ()
    keys: dict[int, str] = {}  # the key leaf of each list entry on the path, by its position
    for level in levels:
        path += level.path
        keys[len(path) - 1] = level.key
    if spec.type is FilterType.SUBTREE:
        assert spec.element is not None
        return _subtree_whole(_children(spec.element), path, keys[len(path) - 1])
    assert spec.select is not None
    try:
        tokens = _tokenize(spec.select)
    except ValueError:
        return False  # the filter itself reports the error
    if any(value in ("..", "::") or kind == "variable" for kind, value in tokens):
        return False
    for branch in _union_branches(tokens):
        steps = _location_steps(branch)
        if steps is None or not _xpath_whole(steps, spec.nsmap, path, keys):
            return False
    return True


def _subtree_whole(siblings: list[etree._Element], path: tuple[str, ...], key: str) -> bool:
    """:func:`selects_entries_whole` for the filter nodes ``siblings`` and the entries at ``path`` below them."""
    for node in siblings:
        if not _filter_names(node, path[0]):
            continue  # it goes elsewhere (or is a content match node one level up, on data the provider builds)
        if node.attrib:
            return False
        children = _children(node)
        if len(path) == 1:  # an entry: selected whole when it has no children or only content matches on the key
            if not all(_is_content_match(c) and _filter_names(c, key) for c in children):
                return False
        elif children and not all(_is_content_match(c) for c in children):
            if not _subtree_whole(children, path[1:], key):
                return False
    return True


def _xpath_whole(steps: list[_Step], nsmap: Mapping[str, str], path: tuple[str, ...], keys: Mapping[int, str]) -> bool:
    """:func:`selects_entries_whole` for one branch's ``steps``; ``keys``: the key leaf of each list entry on
    ``path``, by position."""
    for position, step in enumerate(steps):
        if position == len(path):
            return False  # below an entry
        names = _step_names(step, path[position], nsmap)
        if names is None:
            return False
        if not names:
            return True  # it goes elsewhere
        key = keys.get(position)
        if step.predicates and (key is None or any(_key_predicate(p, key) is None for p in step.predicates)):
            return False
    return True


# ---- reach: which top-level subtrees of the datastore a filter can look into ----------------------------

Reach = Mapping[str, "frozenset[str] | None"]
"""Local names of the top-level data nodes a filter can reach, each with the local names of the children it
can reach below them (None: any). A name not in it is out of the filter's reach."""


def top_reach(spec: FilterSpec | None) -> Reach | None:
    """The top two levels of the data ``spec`` can select or test anything in; None: any (no filter, or one
    whose reach this cannot tell). Names are compared by local name only, which can only widen the reach."""
    if spec is None:
        return None
    if spec.type is FilterType.SUBTREE:
        assert spec.element is not None
        return _subtree_reach(_children(spec.element))
    assert spec.select is not None
    return _xpath_reach(spec.select)


def _subtree_reach(top: list[etree._Element]) -> Reach:
    reach: dict[str, frozenset[str] | None] = {}
    for node in top:
        name = etree.QName(node).localname
        children = _children(node)
        if not children or all(_is_content_match(c) for c in children) or reach.get(name, ()) is None:
            reach[name] = None
            continue
        below = frozenset(etree.QName(c).localname for c in children)
        reach[name] = below | (reach.get(name) or frozenset())
    return reach


def _xpath_reach(select: str) -> Reach | None:
    try:
        tokens = _tokenize(select)
    except ValueError:
        return None
    if any(value in ("..", "::") or kind == "variable" for kind, value in tokens):
        return None
    reach: dict[str, frozenset[str] | None] = {}
    for branch in _union_branches(tokens):
        steps = _location_steps(branch)
        if steps is None or steps[0].predicates:
            return None
        name = steps[0].name.rpartition(":")[2]
        if name == "*" or name.endswith("()"):
            return None
        if len(steps) == 1 or reach.get(name, ()) is None:
            reach[name] = None
            continue
        child = steps[1].name.rpartition(":")[2]
        if child == "*" or child.endswith("()"):
            reach[name] = None
            continue
        reach[name] = frozenset({child}) | (reach.get(name) or frozenset())
    return reach


def reaches(reach: Reach | None, name: str) -> bool:
    """Whether a top-level data node called ``name`` (local name) is within ``reach``."""
    return reach is None or name in reach


def copy_within_reach(data: etree._Element, reach: Reach | None) -> etree._Element:
    """A copy of ``data`` (a ``<data>`` tree) without what ``reach`` leaves out: top-level nodes it does not
    name, and below those it names with children, the non-leaf children it does not name (leaves stay: a
    subtree filter tests them as content, and list keys are copied with the path to what is selected)."""
    if reach is None:
        return deepcopy(data)
    out = _shallow_copy(data, None)
    for top in data.iterchildren(tag=etree.Element):
        name = etree.QName(top).localname
        if name not in reach:
            continue
        below = reach[name]
        if below is None:
            out.append(deepcopy(top))
            continue
        copy = _shallow_copy(top, out)
        for child in top.iterchildren(tag=etree.Element):
            if etree.QName(child).localname in below or not len(child):
                copy.append(deepcopy(child))
    return out


def _shallow_copy(element: etree._Element, parent: etree._Element | None) -> etree._Element:
    """The element with its attributes, namespace declarations and text, without its children."""
    # lxml-stubs: attribute names and values are str here, never bytes.
    attrib = dict(element.attrib)  # type: ignore[misc]
    # lxml-stubs 0.5.1 is wrong here: the default namespace's key is None (see ``nsmap.default_namespace``).
    nsmap = cast("dict[str, str]", dict(element.nsmap))
    copy = (etree.Element(element.tag, attrib=attrib, nsmap=nsmap) if parent is None
            else etree.SubElement(parent, element.tag, attrib=attrib, nsmap=nsmap))
    copy.text = element.text
    return copy
