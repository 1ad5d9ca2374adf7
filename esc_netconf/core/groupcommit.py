"""Group commit: the core's writes go to the store in batches, one transaction each, off the event loop.

Why: a commit costs a disk flush (``synchronous=FULL``).  When thousands of VMs move at once (a batch of
deployments, the poller waking every server that became ACTIVE), one commit per VM step on the loop kept
it busy for seconds.  ``GroupCommit`` is the ``Store`` the core writes through: each save or delete is
serialized at once (later changes of the record do not leak into it) and kept in order; the first write
of a loop turn schedules a commit of everything pending, which one writer thread carries out
(``Store.apply``, one transaction) while the loop goes on; writes made meanwhile form the next batch.

The durability rules do not weaken, because nothing outside the process learns of a write before it is
durable:

* events: the ``EventBus`` journals each event as a write of its own (``journal``), so it is committed
  in the transaction of the writes made before it, holds it until then (``EventBus.gate``), delivers it
  in the order published, and the journal forgets it in a later batch; start-up delivers again what is
  still journaled (``EscCore.start``);
* the VIM: ``durable()`` waits until every write the calling task made (or its parent had made when it
  started the task) is committed; the core's driver calls it before every call that changes the VIM
  (``gated_driver``), so an intent is stored before the server it announces is requested;
* replies: the RPC entry points (``EscCore.service_action`` ...) call ``flush()`` before they return, so
  an accepted request survives a crash.  A config change needs none: start-up reconciles the running
  configuration with the core's records.

A failed commit (database locked past its timeout, disk full) keeps the writes pending and tries again
a second later; the tasks waiting in ``durable()`` fail with the store's error, events stay held.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import inspect
import itertools
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any, cast

from esc_netconf.core.pacing import Pacer
from esc_netconf.core.model import CoreState, DeploymentRecord, OperationRecord, TenantRecord, VmRecord
from esc_netconf.errors import EscError
from esc_netconf.gilshare import breathe
from esc_netconf.core.store import RecordKind, Store, Write
from esc_netconf.vim.base import VimDriver

log = logging.getLogger(__name__)

#: Seconds between attempts after a failed commit.
RETRY_AFTER = 1.0

#: ``(instance, sequence number)`` of the last write made in the current task (a task started later inherits
#: it); the instance number tells apart the ``GroupCommit`` of a core started again in the same process.
_last_write: ContextVar[tuple[int, int]] = ContextVar("esc_core_last_write", default=(0, 0))
_instances = itertools.count(1)


class CommitCancelled(EscError):
    """The writer thread dropped a batch (the process is stopping)."""


class _Deferred:
    """A save whose row is made on the writer thread, from an object that cannot change meanwhile (a
    frozen event, a copy of a deployment record, whose fields are all immutable): serializing a
    deployment's spec costs about 0.3 ms, and a bulk edit saves hundreds of them in one loop turn."""

    __slots__ = ("kind", "key", "make")

    def __init__(self, kind: RecordKind, key: str, make: Callable[[], dict[str, Any]]) -> None:
        self.kind = kind
        self.key = key
        self.make = make

    def write(self) -> Write:
        return Write(self.kind, self.key, self.make())


_Pending = Write | _Deferred

_RECORD_KINDS = frozenset({RecordKind.TENANT, RecordKind.DEPLOYMENT, RecordKind.VM})

#: Keys of the last record writes kept for :meth:`GroupCommit.records_written_since` (a reader of all opdata
#: in slices asks which records changed while it read: a deploy burst writes some thousands a second).
RECENT_RECORDS = 20_000


#: Writes made into rows (serialized) between two chances for the loop to take the GIL (``gilshare``).
_BREATHE_WRITES = 16


def _writes(items: list[_Pending]) -> list[Write]:
    """The rows of ``items``, on the writer thread (a burst's deployments are 0.3 ms each to serialize)."""
    writes: list[Write] = []
    for number, item in enumerate(items):
        if number % _BREATHE_WRITES == 0:
            breathe()
        writes.append(item.write() if isinstance(item, _Deferred) else item)
    return writes


class GroupCommit:
    """A ``Store`` that commits the writes of each loop turn together (see the module docstring)."""

    def __init__(self, store: Store, *, on_durable: Callable[[], None] = lambda: None,
                 pacer: Pacer | None = None) -> None:
        """``on_durable``: called on the loop after each commit (the core releases the events held
        meanwhile); ``pacer``: the tasks a commit lets go wait there for their turn (a commit may free
        hundreds)."""
        self._store = store
        self._on_durable = on_durable
        self._pacer = pacer
        self._instance = next(_instances)
        self._pending: dict[tuple[RecordKind, str], _Pending] = {}
        self._written = 0  # sequence number of the last write accepted
        self._records_written = 0  # writes of tenants, deployments and VMs among them (what opdata shows)
        self._recent_records: deque[tuple[RecordKind, str]] = deque(maxlen=RECENT_RECORDS)  # their keys
        self._durable = 0  # sequence number of the last write committed
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._scheduled: asyncio.Handle | asyncio.TimerHandle | None = None
        self._inflight: asyncio.Future[None] | None = None
        # One thread, so batches commit in the order they were taken; the loop waits for none of them.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="esc-core-commit")
        self._closed = False

    @property
    def written(self) -> int:
        """Sequence number of the last write accepted (an event published now follows it)."""
        return self._written

    @property
    def records_written(self) -> int:
        """How many of the writes accepted were of tenants, deployments or VMs (not operations, not events)."""
        return self._records_written

    def records_written_since(self, mark: int) -> set[tuple[RecordKind, str]] | None:
        """The (kind, key) of the tenants, deployments and VMs written since :attr:`records_written` was
        ``mark``; None when they were more than the last :data:`RECENT_RECORDS` (too many to tell)."""
        count = self._records_written - mark
        if count > len(self._recent_records):
            return None
        return set(itertools.islice(reversed(self._recent_records), count))

    @property
    def durable_upto(self) -> int:
        """Sequence number of the last write committed."""
        return self._durable

    # ---- the Store protocol -----------------------------------------------------------------

    def load(self) -> CoreState:
        self.flush()
        return self._store.load()

    def save_tenant(self, tenant: TenantRecord) -> None:
        self._put(Write(RecordKind.TENANT, tenant.name, tenant.to_dict()))

    def delete_tenant(self, name: str) -> None:
        self._put(Write(RecordKind.TENANT, name, None))

    def save_deployment(self, deployment: DeploymentRecord) -> None:
        # every field is immutable (the spec is frozen): a shallow copy keeps the record as it is now
        self._put(_Deferred(RecordKind.DEPLOYMENT, deployment.dep_id, copy.copy(deployment).to_dict))

    def delete_deployment(self, dep_id: str) -> None:
        self._put(Write(RecordKind.DEPLOYMENT, dep_id, None))

    def save_vm(self, vm: VmRecord) -> None:
        self._put(Write(RecordKind.VM, vm.vm_id, vm.to_dict()))

    def delete_vm(self, vm_id: str) -> None:
        self._put(Write(RecordKind.VM, vm_id, None))

    def save_operation(self, operation: OperationRecord) -> None:
        self._put(Write(RecordKind.OPERATION, operation.op_id, operation.to_dict()))

    def finish_operation(self, op_id: str) -> None:
        self._put(Write(RecordKind.OPERATION, op_id, None))

    def apply(self, writes: list[Write]) -> None:
        for write in writes:
            self._put(write)

    def pending_events(self) -> list[tuple[str, dict[str, Any]]]:
        self.flush()
        return self._store.pending_events()

    # ---- the event journal (core.events.EventJournal) ---------------------------------------

    def journal(self, event_id: str, data: Callable[[], dict[str, Any]]) -> None:
        """The event goes into the batch of the writes made before it: durable in their transaction
        (``data()`` gives its row, made on the writer thread)."""
        self._put(_Deferred(RecordKind.EVENT, event_id, data))

    def forget(self, event_ids: list[str]) -> None:
        """Delivered events leave the journal with the next batch. In one pass rather than a ``_put`` each: the
        escEvents of a bulk deploy are stored, then forgotten, tens of thousands at a time, and the task
        bookkeeping of each ``_put`` (its sequence number in the context, a commit to schedule) made that one
        loop callback of tens of milliseconds. The events are no record, so nothing else ``_put`` does applies."""
        if not event_ids:
            return
        for event_id in event_ids:
            self._keep((RecordKind.EVENT, event_id), Write(RecordKind.EVENT, event_id, None))
        self._written += len(event_ids)
        _last_write.set((self._instance, self._written))
        self._schedule(0.0)

    # ---- committing -------------------------------------------------------------------------

    def _keep(self, key: tuple[RecordKind, str], write: _Pending) -> None:
        # the last write of a record wins, at the place of that last write: applied in this order, the
        # batch leaves the store as the writes one by one would (a deployment's delete keeps its place
        # after the writes of its VMs)
        self._pending.pop(key, None)
        self._pending[key] = write

    def _put(self, write: _Pending) -> None:
        key = (write.kind, write.key)
        self._keep(key, write)
        self._written += 1
        if write.kind in _RECORD_KINDS:
            self._records_written += 1
            self._recent_records.append(key)
        _last_write.set((self._instance, self._written))
        self._schedule(0.0)

    def _schedule(self, delay: float) -> None:
        if self._closed:  # the core has stopped: a late write is committed at once, in the caller's thread
            if delay <= 0:
                self.flush()
            return
        if self._scheduled is not None or self._inflight is not None:
            return  # a commit is due, or running and will look for more when it ends
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a tool, a test): commit at once, as a plain store would
            self.flush()
            return
        self._scheduled = loop.call_soon(self._begin) if delay <= 0 else loop.call_later(delay, self._begin)

    def _take(self) -> tuple[list[_Pending], int]:
        writes, upto = list(self._pending.values()), self._written
        self._pending = {}
        return writes, upto

    def _give_back(self, writes: list[_Pending]) -> None:
        """A commit failed: its writes are pending again, before those made since (unless superseded)."""
        again = {(w.kind, w.key): w for w in writes if (w.kind, w.key) not in self._pending}
        again.update(self._pending)
        self._pending = again

    def _begin(self) -> None:
        """Hand the pending writes to the writer thread (one batch at a time)."""
        self._scheduled = None
        if self._inflight is not None:
            return
        if not self._pending:
            self._done(self._durable)
            return
        writes, upto = self._take()
        loop = asyncio.get_running_loop()
        self._inflight = asyncio.wrap_future(self._submit(writes), loop=loop)
        self._inflight.add_done_callback(lambda f: self._ended(f, writes, upto))

    def _ended(self, future: asyncio.Future[None], writes: list[_Pending], upto: int) -> None:
        self._inflight = None
        error = future.exception() if not future.cancelled() else None
        if future.cancelled() or error is not None:
            log.error("committing %d core record(s) failed (%s); trying again in %g s", len(writes), error,
                      RETRY_AFTER)
            self._give_back(writes)
            self._fail_waiters(error or CommitCancelled("the commit was cancelled"))
            self._schedule(RETRY_AFTER)
            return
        self._done(upto)
        if self._pending:
            self._schedule(0.0)

    def _done(self, upto: int) -> None:
        self._durable = max(self._durable, upto)
        still: list[tuple[int, asyncio.Future[None]]] = []
        for need, future in self._waiters:
            if need <= self._durable:
                if not future.done():
                    future.set_result(None)
            else:
                still.append((need, future))
        self._waiters = still
        self._on_durable()

    def _fail_waiters(self, error: BaseException) -> None:
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(error)
        self._waiters.clear()

    def flush(self) -> None:
        """Commit every pending write now, blocking until it is durable (after any batch already on its
        way, in order); then wake the tasks waiting for it and run ``on_durable``.

        For the few places that must answer only once their writes are durable (an RPC's reply, shutdown).

        :raises StoreError: the commit failed; the writes stay pending (and waiting tasks fail with it).
        """
        writes, upto = self._take()
        try:
            self._submit(writes).result()
        except Exception as exc:
            self._give_back(writes)
            self._fail_waiters(exc)
            raise
        self._done(upto)

    def _submit(self, writes: list[_Pending]) -> Future[None]:
        """The commit of ``writes`` on the writer thread (in this thread once closed)."""
        if not self._closed:
            return self._writer.submit(self._apply, writes)
        done: Future[None] = Future()
        try:
            self._apply(writes)
            done.set_result(None)
        except Exception as exc:
            done.set_exception(exc)
        return done

    def _apply(self, writes: list[_Pending]) -> None:
        self._store.apply(_writes(writes))
        # Committed: let go of the writes here, one at a time. Freed all at once they were one C call (the
        # records' plain trees) holding the GIL, on the loop when its callback's handle went: up to 30 ms.
        while writes:
            writes.pop()

    def close(self) -> None:
        """Commit what is pending and stop the writer thread (the core is stopping); later writes, if
        any, are committed in the caller's thread."""
        try:
            self.flush()
            if self._pending:  # the journal's deletes of the events that commit released
                self.flush()
        finally:
            self._closed = True
            if self._scheduled is not None:
                self._scheduled.cancel()
                self._scheduled = None
            self._writer.shutdown(wait=True)

    async def durable(self) -> None:
        """Return once every write made by the calling task (and by its parent before starting it) is
        committed.

        :raises StoreError: the commit failed.
        """
        instance, need = _last_write.get()
        if instance != self._instance or need <= self._durable:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((need, future))
        self._schedule(0.0)
        await future
        await self.paced()

    async def paced(self) -> None:
        """Wait for the calling task's turn in the pacer (at once without one): a task woken by something
        that wakes many at once (a commit, the VIM's answers) goes on a slice of them per loop turn."""
        if self._pacer is not None:
            await self._pacer.turn()


def gated_driver(driver: VimDriver, commit: GroupCommit) -> VimDriver:
    """``driver`` with ``commit.durable()`` awaited before every call that changes the VIM, and every
    answer paced (``commit.paced()``): the VIM answers calls while the loop is busy, and the tasks of the
    answers that came in meanwhile would otherwise all go on in one loop turn."""
    return cast(VimDriver, _GatedDriver(driver, commit))


#: Driver methods that only read (or hand out a stream): they need nothing committed first.
_READS = ("get_", "list_", "download_", "close")


class _GatedDriver:
    """Reads and plain attributes (e.g. the sim's ``calls`` counter) go straight through; ``close`` is not
    paced (the core is stopping)."""

    def __init__(self, driver: VimDriver, commit: GroupCommit) -> None:
        self._driver = driver
        self._commit = commit

    def __getattr__(self, name: str) -> Any:
        member = getattr(self._driver, name)
        if name == "close" or not inspect.iscoroutinefunction(member):
            return member
        commit = self._commit
        changes = not name.startswith(_READS)

        @functools.wraps(member)
        async def call(*args: Any, **kwargs: Any) -> Any:
            if changes:
                await commit.durable()
            result = await member(*args, **kwargs)
            await commit.paced()
            return result

        return call
