"""The running configuration datastore.

Theory of operation
-------------------
The running configuration is one lxml ``<data>`` tree (base:1.0 namespace) that is always valid
against the YANG model (RFC 7950 section 8.3.3: "the running configuration datastore MUST always
be valid"). It is never modified in place. An edit goes through five steps, and an error in any
of the first four leaves the datastore exactly as it was (byte for byte):

1. :func:`~esc_netconf.netconf.editconfig.apply_edit` builds a candidate tree from a copy;
2. the model validates the candidate (for ``test-option`` ``set`` too: skipping validation
   would let the running configuration become invalid, which YANG forbids), incrementally: the
   entries of self-contained lists the edit did not touch are not validated again
   (:mod:`~esc_netconf.netconf.incremental`; same verdict as validating the whole candidate, which
   start-up still does);
3. the commit checkers run with ``(old, new)``; the northbound uses them to refuse what the
   model cannot express (e.g. scaling a group above what the VIM allows) by raising
   :class:`NetconfError`;
4. the parts of the configuration the edit changed (:mod:`~esc_netconf.netconf.config_parts`: with
   the ESC model, the touched tenants and deployments) go to :meth:`ConfigStore.save_parts` in one
   transaction, which is durable when it returns;
5. the candidate becomes the running tree and the commit listeners run with ``(old, new)``.

What an edit costs follows what it touched, not how much is stored, with one exception: step 1 copies
the whole tree (lxml's copy, in C: about 1 ms per 1,000 deployments of 5 VMs on a quiet machine), so
that the old tree stays intact for a failed edit, the hooks and the config-change notification. The
walk goes only where the edit goes; step 2 validates the touched entries; step 4 serializes and writes
the touched parts only. :meth:`Datastore.touched` tells the hooks which elements of ``new`` the edit
touched: anything else is an unchanged copy, so they need not compare it.

``test-only`` stops after step 3; an edit that changes nothing stops after step 1. A listener that
raises is logged and does not undo the commit: the change is already durable, and the other
listeners must still hear about it.

Threads: the datastore belongs to the asyncio loop thread and is only used from it (SSH threads
hand RPCs to the loop); the NETCONF ``<lock>`` is a session-level matter. Only steps 1 and 2 and the
serialization of the changed parts, which read the running tree and the part index and build new
ones, may run in a worker thread (:meth:`Datastore.edit_off_loop`); an asyncio lock keeps edits one
at a time.
Checkers and listeners receive the trees themselves, not copies, and must not modify them.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from esc_netconf.errors import EscError
from esc_netconf.netconf.config_parts import (
    WHOLE_KEY,
    PartDelta,
    PartIndex,
    PartLayout,
    StoredPartsError,
    assemble,
)
from esc_netconf.netconf.editconfig import (
    DefaultOperation,
    EditResult,
    ErrorOption,
    TestOption,
    edit_tree,
    drop_empty_containers,
    parse_option,
)
from esc_netconf.netconf.errors import BASE_NS, NetconfError
from esc_netconf.netconf.incremental import EditedTree
from esc_netconf.netconf.persistence import ConfigPart, ConfigStore
from esc_netconf.netconf.yangmodel import YangModel
from esc_netconf.nsmap import default_namespace

log = logging.getLogger(__name__)

DATA_TAG = f"{{{BASE_NS}}}data"

CommitHook = Callable[[etree._Element, etree._Element], None]


class StoredConfigError(EscError):
    """The configuration saved by a previous run cannot be loaded (not XML, not ``<data>``, or
    invalid against the current model). Starting anyway would silently drop deployments, so the
    server refuses to start and says why."""


class Datastore:
    """The running datastore; see the module docstring."""

    def __init__(self, model: YangModel, store: ConfigStore) -> None:
        """Load the running configuration from ``store`` (empty on a fresh install).

        :raises StoredConfigError: when the stored configuration is unusable.
        """
        self._model = model
        self._store = store
        self._checkers: list[CommitHook] = []
        self._listeners: list[CommitHook] = []
        self._edit_lock = asyncio.Lock()
        self._layout = PartLayout(model)
        self._touched: tuple[etree._Element, frozenset[etree._Element]] | None = None
        self._loaded: frozenset[ConfigPart] | None = None  # the rows the running tree was read from
        self._running, self._parts, self._resplit = self._load(self._store.load_parts())

    def _load(self, stored: list[ConfigPart]) -> tuple[etree._Element, PartIndex, bool]:
        """The stored tree, the index of its parts, and whether the store must be rewritten split (it
        holds an earlier release's single document, or parts that do not match the layout)."""
        self._loaded = frozenset(stored)
        try:
            root = assemble(stored)
        except StoredPartsError as exc:
            raise StoredConfigError(f"the stored running configuration is unusable: {exc}") from exc
        if root is None:
            return etree.Element(DATA_TAG, nsmap=default_namespace(BASE_NS)), PartIndex(), False
        if root.tag != DATA_TAG:
            raise StoredConfigError(f"the stored running configuration is <{root.tag}>, not <data>")
        _strip_layout(root)
        drop_empty_containers(root, self._model)  # an edit only tidies where it edits
        try:
            self._model.validate_config(root)
        except NetconfError as exc:
            raise StoredConfigError(f"the stored running configuration is invalid: {exc.message}") from exc
        index, complete = self._layout.index(root, {p.key: p.seq for p in stored if p.key != WHOLE_KEY})
        return root, index, not complete

    def reload(self) -> None:
        """Read the running configuration from the store again: for a server that does not write it
        itself (a standby of a group, whose active writes the shared database).

        Rows the same as last read: nothing to do (a standby reloads before every read).

        :raises StoredConfigError: when the stored configuration is unusable.
        """
        stored = self._store.load_parts()
        if self._loaded is not None and frozenset(stored) == self._loaded:
            return
        self._running, self._parts, self._resplit = self._load(stored)

    def get_config(self) -> etree._Element:
        """A copy of the running ``<data>`` tree, free for the caller to filter or modify."""
        return copy.deepcopy(self._running)

    @property
    def running(self) -> etree._Element:
        """The running ``<data>`` tree itself, not a copy: read-only, like the trees hooks receive.
        A commit replaces the tree rather than changing it, so a reference taken before an edit
        still shows the configuration as it was (the config-change notification compares the two)."""
        return self._running

    def touched(self, tree: etree._Element) -> frozenset[etree._Element] | None:
        """The elements of ``tree`` that the edit which made it touched (applied something to; new
        ones included), when ``tree`` is the candidate being committed or the running tree an edit
        made; ``None`` when unknown (a tree loaded at start-up). Any element of ``tree`` outside the
        set is an unchanged copy of its counterpart in the tree before the edit."""
        known = self._touched
        return known[1] if known is not None and known[0] is tree else None

    def add_commit_checker(self, fn: CommitHook) -> None:
        """Run ``fn(old, new)`` before every commit; a :class:`NetconfError` it raises refuses it."""
        self._checkers.append(fn)

    def add_commit_listener(self, fn: CommitHook) -> None:
        """Run ``fn(old, new)`` after every commit."""
        self._listeners.append(fn)

    def edit(
        self,
        config: etree._Element,
        *,
        default_operation: str = "merge",
        test_option: str = "test-then-set",
        error_option: str = "stop-on-error",
    ) -> EditResult:
        """Apply an ``<edit-config>``'s ``<config>`` element with RFC 6241 semantics, on this thread.

        :raises NetconfError: ``invalid-value`` for a bad option; anything
            :func:`~esc_netconf.netconf.editconfig.apply_edit`, the model or a commit checker
            raises. Nothing has changed when it raises.
        """
        candidate = self._prepare(self._running, config, default_operation, test_option, error_option)
        return self._commit(candidate)

    async def edit_off_loop(
        self,
        config: etree._Element,
        *,
        default_operation: str = "merge",
        test_option: str = "test-then-set",
        error_option: str = "stop-on-error",
    ) -> EditResult:
        """:meth:`edit`, with the CPU-heavy part (apply the edit to a copy, validate the copy against
        the model: 1.5 s for 10,000 list entries) in a worker thread, so the loop keeps serving
        everyone else. Edits are serialized; the commit (checkers, save, listeners) runs on the loop.
        If the awaiting task is cancelled before the commit, nothing changes.
        """
        async with self._edit_lock:
            old = self._running
            candidate = await asyncio.to_thread(
                self._prepare, old, config, default_operation, test_option, error_option
            )
            if self._running is not old:  # a synchronous edit() slipped in: start again on its result
                candidate = self._prepare(self._running, config, default_operation, test_option, error_option)
            return self._commit(candidate)

    def _prepare(
        self, old: etree._Element, config: etree._Element, default_operation: str, test_option: str,
        error_option: str,
    ) -> _Candidate:
        """Steps 1 and 2 and what step 4 will write: pure (reads ``old`` and the part index, touches
        nothing shared)."""
        default_op = parse_option(DefaultOperation, default_operation, "default-operation")
        test = parse_option(TestOption, test_option, "test-option")
        on_error = parse_option(ErrorOption, error_option, "error-option")
        edited = edit_tree(old, config, self._model, default_operation=default_op, error_option=on_error)
        delta = self._layout.delta(edited, self._parts)
        if delta:
            self._model.validate_edit(old, edited)
        return _Candidate(old, edited, delta, test)

    def _commit(self, candidate: _Candidate) -> EditResult:
        """Steps 3 to 5 (see the module docstring)."""
        old, new, delta = candidate.old, candidate.edited.tree, candidate.delta
        if not delta:
            return EditResult.of((), self._model, committed=False)
        self._touched = (new, candidate.edited.visited)
        for checker in self._checkers:
            checker(old, new)
        if candidate.test is TestOption.TEST_ONLY:
            return EditResult.of(delta.changed_tops, self._model, committed=False)
        self._save(new, delta)
        self._running = new
        for listener in self._listeners:
            try:
                listener(old, new)
            except Exception:  # a listener's bug must not hide the commit from the others
                log.exception("commit listener %r failed", listener)
        return EditResult.of(delta.changed_tops, self._model, committed=True, previous=old, current=new,
                             touched=candidate.edited.visited)

    def _save(self, new: etree._Element, delta: PartDelta) -> None:
        """Step 4; the index follows the store only once the store has the change."""
        self._loaded = None
        if self._resplit:  # the first commit after loading an earlier release's single document
            index, _ = self._layout.index(new)
            self._store.save_parts(list(index.parts.values()), (), replace_all=True)
            self._parts, self._resplit = index, False
            return
        self._store.save_parts(delta.writes, delta.deletes)
        self._parts.apply(delta)


@dataclass(frozen=True, slots=True)
class _Candidate:
    old: etree._Element
    edited: EditedTree
    delta: PartDelta
    test: TestOption


def _strip_layout(root: etree._Element) -> None:
    """Drop the indentation of a hand-edited or pretty-printed file: whitespace between elements is
    not data, and keeping it would make identical configurations compare different."""
    for element in root.iter():
        if len(element):
            if element.text is not None and not element.text.strip():
                element.text = None
            for child in element:
                if child.tail is not None and not child.tail.strip():
                    child.tail = None
