"""The running configuration datastore.

Theory of operation
-------------------
The running configuration is one lxml ``<data>`` tree (base:1.0 namespace) that is always valid
against the YANG model (RFC 7950 section 8.3.3: "the running configuration datastore MUST always
be valid"). Next to it the datastore keeps a **twin**: a second tree with the same content, which
nobody else sees and on which edits are made. An edit goes through five steps, and an error in any of
the first four leaves the datastore exactly as it was (byte for byte):

1. :func:`~esc_netconf.netconf.editconfig.edit_in_place` applies the edit to the twin, keeping an
   :class:`~esc_netconf.netconf.undo.UndoLog` that takes it back;
2. the model validates the result (for ``test-option`` ``set`` too: skipping validation would let the
   running configuration become invalid, which YANG forbids), incrementally: the entries of
   self-contained lists the edit did not touch are not validated again
   (:mod:`~esc_netconf.netconf.incremental`; same verdict as validating the whole tree, which start-up
   and ``<validate>`` still do);
3. the commit checkers run with ``(old, new)``: the running tree and the edited twin; the northbound
   uses them to refuse what the model cannot express (e.g. scaling a group above what the VIM allows)
   by raising :class:`NetconfError`;
4. the parts of the configuration the edit changed (:mod:`~esc_netconf.netconf.config_parts`: with
   the ESC model, the touched tenants and deployments) go to :meth:`ConfigStore.save_parts` in one
   transaction, which is durable when it returns (in a worker thread for :meth:`Datastore.edit_off_loop`:
   the transaction may wait for another thread's and for a disk flush, and the loop must not);
5. the two trees swap roles: the edited twin becomes the running tree, the tree it replaces becomes
   the twin, and the commit listeners run with ``(old, new)``. The same edit is applied to the new
   twin (the old running tree) when the next edit begins, so that it catches up.

A refused edit (steps 1 to 4, ``test-only``, or an edit that changes nothing) is taken back by its undo
log. What an edit costs follows what it touched, not how much is stored: no step copies or walks the
whole tree (the twin is copied once, when the configuration is loaded). The walk goes only where the
edit goes; step 2 validates the touched entries; step 4 serializes and writes the touched parts only.
:meth:`Datastore.touched` tells the hooks which elements of ``new`` the edit touched: anything else is
the same as its counterpart in ``old``, so they need not compare it.

``test-only`` stops after step 3; an edit that changes nothing stops after step 2. A listener that
raises is logged and does not undo the commit: the change is already durable, and the other
listeners must still hear about it. A listener may return an awaitable (work it goes on with in later
loop turns, so that no turn holds all of a bulk edit's): :meth:`Datastore.edit_off_loop` answers, and
lets the next edit begin, once it has ended, even if the editing task is cancelled meanwhile.

Threads: the datastore belongs to the asyncio loop thread and is only used from it (SSH threads
hand RPCs to the loop); the NETCONF ``<lock>`` is a session-level matter. Steps 1 and 2 and the
serialization of the changed parts work on the twin, which nobody else reads, and only read the
running tree and the part index: they may run in a worker thread (:meth:`Datastore.edit_off_loop`
does so for all but small edits); step 4 only reads the twin and the index, and always runs in a worker
thread there, while the loop serves others (readers see the previous running tree: the edit is not
committed until it is durable); steps 3 and 5 run on the loop; an asyncio lock keeps edits one at a time.
:meth:`Datastore.edit` runs all five steps on the calling thread: for callers without a loop (tools,
tests, benches). The running tree is never changed while it is the running
tree: a reference to it stays valid, showing the configuration as it was, until the next edit begins
(which turns it into the twin and brings it up to date).
Checkers and listeners receive the trees themselves, not copies, and must not modify them.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

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
    edit_in_place,
    drop_empty_containers,
    parse_option,
)
from esc_netconf.netconf.errors import BASE_NS, NetconfError
from esc_netconf.netconf.incremental import EditedTree
from esc_netconf.netconf.persistence import ConfigPart, ConfigStore
from esc_netconf.netconf.undo import UndoLog
from esc_netconf.netconf.yangmodel import YangModel
from esc_netconf.nsmap import default_namespace

log = logging.getLogger(__name__)

DATA_TAG = f"{{{BASE_NS}}}data"

_T = TypeVar("_T")

CommitHook = Callable[[etree._Element, etree._Element], None]
#: A commit listener: ``(old, new)``, and what it goes on with after it returned, if anything.
CommitListener = Callable[[etree._Element, etree._Element], "Awaitable[None] | None"]
PrepareHook = Callable[[etree._Element, etree._Element, frozenset[etree._Element]], None]


class StoredConfigError(EscError):
    """The configuration saved by a previous run cannot be loaded (not XML, not ``<data>``, or
    invalid against the current model). Starting anyway would silently drop deployments, so the
    server refuses to start and says why."""


@dataclass(frozen=True, slots=True)
class StoredTree:
    """The stored running configuration, read and built off the loop by :meth:`Datastore.read_stored`."""

    rows: frozenset[ConfigPart]
    running: etree._Element
    twin: etree._Element  # a copy of ``running``, made off the loop too
    parts: PartIndex
    resplit: bool


class Datastore:
    """The running datastore; see the module docstring."""

    def __init__(self, model: YangModel, store: ConfigStore) -> None:
        """Load the running configuration from ``store`` (empty on a fresh install).

        :raises StoredConfigError: when the stored configuration is unusable.
        """
        self._model = model
        self._store = store
        self._preparers: list[PrepareHook] = []
        self._checkers: list[CommitHook] = []
        self._listeners: list[CommitListener] = []
        self._edit_lock = asyncio.Lock()
        self._layout = PartLayout(model)
        self._touched: tuple[etree._Element, frozenset[etree._Element]] | None = None
        stored = self._store.load_parts()
        # validated at its last commit by this very model: not again (at 10,000 VMs that was half a restart)
        trusted = bool(stored) and self._store.validated_with() == model.schema_digest
        self._running, self._parts, self._resplit = self._load(stored, validate=not trusted)
        self._loaded: frozenset[ConfigPart] | None = frozenset(stored)  # the rows the running tree was read from
        self._twin = copy.deepcopy(self._running)
        self._behind: _Edit | None = None  # the last commit's edit, not yet applied to the twin
        self._editing = False  # an edit holds the twin (between steps 1 and 5 or its undo)
        self._generation = 0  # counts the trees that have been the running tree (see ``generation``)
        self._readers: dict[int, int] = {}  # id() of a tree read off the loop -> how many read it

    def _load(self, stored: list[ConfigPart], *, validate: bool = True) -> tuple[etree._Element, PartIndex, bool]:
        """The stored tree, the index of its parts, and whether the store must be rewritten split (it
        holds an earlier release's single document, or parts that do not match the layout). Changes
        nothing of the datastore (:meth:`read_stored` runs it in a worker thread)."""
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
            if validate:
                self._model.validate_config(root)
        except NetconfError as exc:
            raise StoredConfigError(f"the stored running configuration is invalid: {exc.message}") from exc
        index, complete = self._layout.index(root, {p.key: p.seq for p in stored if p.key != WHOLE_KEY})
        return root, index, not complete

    def reload(self) -> None:
        """Read the running configuration from the store again: for a server that does not write it
        itself (a standby of a group, whose active writes the shared database).

        Rows the same as last read: nothing to do.

        :raises StoredConfigError: when the stored configuration is unusable.
        """
        stored = self.read_stored()
        if stored is not None:
            self.install_stored(stored)

    def read_stored(self, *, validate: bool = True) -> StoredTree | None:
        """:meth:`reload`'s reading and building, which change nothing of the datastore: blocking, for a
        worker thread, so that a standby's loop goes on serving meanwhile (2,000 deployments: some 0.3 s,
        and seconds more to validate). None when the rows are those the running tree was read from.

        ``validate=False``: trust the stored configuration (a standby: the active validated each commit
        before it stored it; validating again would cost the whole tree's validation at every change).

        :raises StoredConfigError: when the stored configuration is unusable.
        """
        stored = self._store.load_parts()
        rows = frozenset(stored)
        if rows == self._loaded:
            return None
        running, parts, resplit = self._load(stored, validate=validate)
        return StoredTree(rows, running, copy.deepcopy(running), parts, resplit)

    def install_stored(self, stored: StoredTree) -> None:
        """Make a tree :meth:`read_stored` built the running tree, in one step, on the loop."""
        self._check_idle()
        self._loaded = stored.rows
        self._running, self._parts, self._resplit = stored.running, stored.parts, stored.resplit
        self._twin, self._behind, self._touched = stored.twin, None, None
        self._generation += 1

    def get_config(self) -> etree._Element:
        """A copy of the running ``<data>`` tree, free for the caller to filter or modify."""
        return copy.deepcopy(self._running)

    @property
    def running(self) -> etree._Element:
        """The running ``<data>`` tree itself, not a copy: read-only, like the trees hooks receive.
        A commit does not change it but puts another tree in its place, so a reference taken before an
        edit still shows the configuration as it was (the config-change notification compares the
        two), until the next edit begins: this tree is then brought up to date to be edited."""
        return self._running

    @property
    def generation(self) -> int:
        """Changes whenever another tree becomes the running tree (a commit, a reload), and only then.

        Why not the tree's identity: the running tree and its twin take turns, so the same object is the
        running tree again two commits later, with other content. Any thread may read it (an int)."""
        return self._generation

    @contextlib.contextmanager
    def reading(self) -> Iterator[etree._Element]:
        """The running tree, for a reader that goes on reading it off the loop (a worker thread that
        serializes it) while edits may begin: the next edit then copies the running tree into a new twin
        rather than bring this one up to date under the reader's feet. Enter and leave it on the loop."""
        tree = self._running
        key = id(tree)
        self._readers[key] = self._readers.get(key, 0) + 1
        try:
            yield tree
        finally:
            left = self._readers.pop(key) - 1
            if left:
                self._readers[key] = left

    def touched(self, tree: etree._Element) -> frozenset[etree._Element] | None:
        """The elements of ``tree`` that the edit which made it touched (applied something to; new
        ones included), when ``tree`` is the candidate being committed or the running tree an edit
        made; ``None`` when unknown (a tree loaded at start-up). Any element of ``tree`` outside the
        set is the same as its counterpart in the tree before the edit."""
        known = self._touched
        return known[1] if known is not None and known[0] is tree else None

    def add_commit_preparer(self, fn: PrepareHook) -> None:
        """Run ``fn(old, new, touched)`` for every edit that changes something, once the model has
        validated it and before the checkers, where the edit is prepared: in a worker thread for
        :meth:`edit_off_loop`. For the reading a checker or listener would otherwise do on the loop
        (``touched`` as :meth:`touched` tells it); it must only read, and a :class:`NetconfError` it
        raises refuses the edit."""
        self._preparers.append(fn)

    def add_commit_checker(self, fn: CommitHook) -> None:
        """Run ``fn(old, new)`` before every commit; a :class:`NetconfError` it raises refuses it."""
        self._checkers.append(fn)

    def add_commit_listener(self, fn: CommitListener) -> None:
        """Run ``fn(old, new)`` after every commit; :meth:`edit_off_loop` waits for the awaitable it may
        return (see the module's docstring)."""
        self._listeners.append(fn)

    def edit(
        self,
        config: etree._Element,
        *,
        default_operation: str = "merge",
        test_option: str = "test-then-set",
        error_option: str = "stop-on-error",
    ) -> EditResult:
        """Apply an ``<edit-config>``'s ``<config>`` element with RFC 6241 semantics, on this thread (which
        waits for the store write: not the loop's, see :meth:`edit_off_loop`).

        :raises NetconfError: ``invalid-value`` for a bad option; anything
            :func:`~esc_netconf.netconf.editconfig.edit_in_place`, the model or a commit checker
            raises. Nothing has changed when it raises.
        :raises RuntimeError: while :meth:`edit_off_loop` is editing (edits are one at a time).
        """
        self._check_idle()
        candidate = self._prepare(_Edit.of(config, default_operation, error_option), test_option)
        return self._commit(candidate)

    async def edit_off_loop(
        self,
        config: etree._Element,
        *,
        default_operation: str = "merge",
        test_option: str = "test-then-set",
        error_option: str = "stop-on-error",
    ) -> EditResult:
        """:meth:`edit`, as the server runs it: the loop keeps serving everyone else while the edit is
        prepared and saved.

        Steps 1 and 2 (the walk and the validation: 1.5 s for 10,000 list entries) and the preparers run in
        a worker thread, except for a small edit (at most :data:`INLINE_ELEMENTS` elements), whose few
        milliseconds cost less on the loop than two thread hops. The checkers (step 3) run on the loop; the
        save (step 4: a transaction that may wait for another thread's and for a disk flush) runs in a
        worker thread and is awaited; the swap and the listeners (step 5) run on the loop. Edits are
        serialized; until step 5 every reader sees the previous running tree, which is right: the edit is
        not committed before it is durable.

        Cancelling the awaiting task: before the save has begun, nothing changes; once it has begun, the
        edit finishes as the save does (committed if it was stored, taken back if not), a committed edit's
        listeners end their work, and the task is cancelled after that, so the running tree always matches
        the store and the next edit finds the listeners done with this one.
        """
        async with self._edit_lock:
            self._check_idle()
            self._editing = True
            try:
                request = _Edit.of(config, default_operation, error_option)
                if _small(config):
                    candidate = self._prepare(request, test_option)
                else:
                    candidate = await _finish_in_thread(
                        self._prepare, (request, test_option), lambda done: done.undo.undo())
                early = self._check(candidate)
                if early is not None:
                    return early
                try:
                    index = await _finish_in_thread(self._write, (candidate.edited.tree, candidate.delta),
                                                    lambda index: self._finish(candidate, index))
                except BaseException:
                    if not candidate.committed:  # the save failed (or was cancelled and failed)
                        self._take_back(candidate)
                    else:  # committed, then cancelled: the listeners' work still ends before the next edit
                        await _uncancelled(candidate.listening)
                    raise
                result = self._finish(candidate, index)
                await _uncancelled(candidate.listening)
                return result
            finally:
                self._editing = False

    def _check_idle(self) -> None:
        if self._editing:
            raise RuntimeError("an edit of the running datastore is in progress; edits are one at a time")

    def _prepare(self, request: _Edit, test_option: str) -> _Candidate:
        """Steps 1 and 2 and what step 4 will write, on the twin (brought up to date first); reads the
        running tree and the part index, changes nothing else. Takes its edit back when it raises."""
        test = parse_option(TestOption, test_option, "test-option")
        self._catch_up()
        edited, undo = edit_in_place(self._twin, request.config, self._model,
                                     default_operation=request.default_operation, error_option=request.error_option)
        try:
            delta = self._layout.delta(edited, self._parts)
            if delta:
                self._model.validate_edit(self._running, edited)
                for preparer in self._preparers:
                    preparer(self._running, edited.tree, edited.visited)
        except BaseException:
            undo.undo()
            raise
        return _Candidate(request, edited, undo, delta, test)

    def _catch_up(self) -> None:
        """Apply the last commit's edit to the twin, which is the tree that commit replaced: the same
        edit on the same content gives the same result. Should that ever fail, copy instead."""
        behind, self._behind = self._behind, None
        if behind is None:
            return
        if id(self._twin) in self._readers:  # a reader off the loop still reads the tree the commit replaced
            self._twin = copy.deepcopy(self._running)
            return
        try:
            edit_in_place(self._twin, behind.config, self._model, default_operation=behind.default_operation,
                          error_option=behind.error_option)
        except NetconfError:
            log.exception("re-applying the last edit to the working copy failed; copying the running tree")
            self._twin = copy.deepcopy(self._running)

    def _commit(self, candidate: _Candidate) -> EditResult:
        """Steps 3 to 5 (see the module docstring), all on this thread (:meth:`edit`)."""
        early = self._check(candidate)
        if early is not None:
            return early
        try:
            index = self._write(candidate.edited.tree, candidate.delta)
        except BaseException:
            self._take_back(candidate)
            raise
        return self._finish(candidate, index)

    def _check(self, candidate: _Candidate) -> EditResult | None:
        """Step 3: the result of an edit that stops here (it changes nothing, or ``test-only``, taken back
        then), or ``None`` when it is to be saved. Takes the edit back when a checker raises."""
        new, delta = candidate.edited.tree, candidate.delta
        if not delta:
            candidate.undo.undo()
            return EditResult.of((), self._model, committed=False)
        candidate.known = self._touched
        self._touched = (new, candidate.edited.visited)
        try:
            for checker in self._checkers:
                checker(self._running, new)
        except BaseException:
            self._take_back(candidate)
            raise
        if candidate.test is TestOption.TEST_ONLY:
            self._take_back(candidate)
            return EditResult.of(delta.changed_tops, self._model, committed=False)
        self._loaded = None  # the store is about to differ from what was loaded
        return None

    def _take_back(self, candidate: _Candidate) -> None:
        """The edit will not be committed: undo it on the twin, forget what it touched."""
        candidate.undo.undo()
        self._touched = candidate.known

    def _write(self, new: etree._Element, delta: PartDelta) -> PartIndex | None:
        """Step 4, in any thread (it reads the candidate and the part index, changes neither): the changed
        parts into the store, durable on return; the new index when the whole store was rewritten (the
        first commit after loading an earlier release's single document), else ``None``."""
        if self._resplit:
            index, _ = self._layout.index(new)
            self._store.save_parts(list(index.parts.values()), (), replace_all=True,
                                   validated_with=self._model.schema_digest)
            return index
        self._store.save_parts(delta.writes, delta.deletes, validated_with=self._model.schema_digest)
        return None

    def _finish(self, candidate: _Candidate, index: PartIndex | None) -> EditResult:
        """Step 5, once the store has the change: the index follows it, the trees swap, the listeners run."""
        old, new, delta = self._running, candidate.edited.tree, candidate.delta
        candidate.committed = True
        if index is not None:
            self._parts, self._resplit = index, False
        else:
            self._parts.apply(delta)
        self._running, self._twin, self._behind = new, old, candidate.request
        self._generation += 1
        for listener in self._listeners:
            try:
                going_on = listener(old, new)
            except Exception:  # a listener's bug must not hide the commit from the others
                log.exception("commit listener %r failed", listener)
            else:
                if going_on is not None:
                    candidate.listening.append(going_on)
        return EditResult.of(delta.changed_tops, self._model, committed=True, previous=old, current=new,
                             touched=candidate.edited.visited)


@dataclass(frozen=True, slots=True)
class _Edit:
    """An edit as asked (its options parsed): what step 1 applies, and the catch-up applies again."""

    config: etree._Element
    default_operation: DefaultOperation
    error_option: ErrorOption

    @classmethod
    def of(cls, config: etree._Element, default_operation: str, error_option: str) -> _Edit:
        """:raises NetconfError: ``invalid-value`` for a bad option."""
        return cls(config, parse_option(DefaultOperation, default_operation, "default-operation"),
                   parse_option(ErrorOption, error_option, "error-option"))


@dataclass(slots=True)
class _Candidate:
    """A prepared edit on the twin, and what :meth:`Datastore._check` must restore if it is taken back."""

    request: _Edit
    edited: EditedTree
    undo: UndoLog
    delta: PartDelta
    test: TestOption
    known: tuple[etree._Element, frozenset[etree._Element]] | None = None
    committed: bool = False
    #: what the commit listeners go on with after the commit (:data:`CommitListener`)
    listening: list[Awaitable[None]] = field(default_factory=list)


INLINE_ELEMENTS = 256
"""The size (elements of ``<config>``) up to which :meth:`Datastore.edit_off_loop` prepares an edit on the
loop: a few one-deployment edits, validated in a few milliseconds each."""


def _small(config: etree._Element) -> bool:
    return sum(1 for _ in itertools.islice(config.iter(), INLINE_ELEMENTS + 1)) <= INLINE_ELEMENTS


async def _finish_in_thread(fn: Callable[..., _T], args: tuple[object, ...],
                            settle: Callable[[_T], object]) -> _T:
    """``fn(*args)`` in a worker thread, awaited. If the awaiting task is cancelled meanwhile, the thread
    still goes on (it cannot be stopped): wait for it, however often cancelled, hand a result to
    ``settle`` (which makes the datastore consistent with what the thread did), then raise the
    cancellation. An error of ``fn`` is raised as is (its own clean-up is the caller's)."""
    worker = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(worker)
    except asyncio.CancelledError:
        while not worker.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([worker])
        if not worker.cancelled() and worker.exception() is None:
            settle(worker.result())
        raise


async def _uncancelled(pending: list[Awaitable[None]]) -> None:
    """Wait for every awaitable in ``pending``, however often the waiting task is cancelled meanwhile;
    then raise the cancellation, if any. A listener's error is logged (the commit stands)."""
    if not pending:
        return
    waiting = asyncio.gather(*pending, return_exceptions=True)
    cancelled = False
    while not waiting.done():
        try:
            await asyncio.shield(waiting)
        except asyncio.CancelledError:
            cancelled = True
    for outcome in waiting.result():
        if isinstance(outcome, BaseException):
            log.error("a commit listener's work after the commit failed: %r", outcome)
    if cancelled:
        raise asyncio.CancelledError


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
