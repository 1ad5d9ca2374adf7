"""Domain events (``escEvent``) and the bus that carries them to the adapters.

The core publishes a frozen ``EscEvent`` for every step an operator is told about; the northbound renders
it to an ``escEvent`` notification and REST to a JSON callback (docs/INTERFACES.md section 6).  The bus
calls subscribers synchronously on the core's loop, in subscription order; a subscriber that raises is
logged and the others still get the event, so one broken adapter cannot silence the rest.

An event is delivered only once the writes made before it are durable (``gate``, see
``core.groupcommit``): until then it is held, in order, and ``release`` delivers it after the commit; a
long backlog is delivered a slice at a time so that rendering and storing notifications never holds the
loop for long.

Exactly once across ``kill -9`` (``journal``): each event gets an ``event_id`` and is written to the core's
event journal as one of the writes it follows, so it is durable in the same transaction as the state it
reports.  After every subscriber has taken it (the callback outbox stores it before it returns; the replay
log stores it on its own thread and returns an awaitable that ends once it is stored), the bus tells the
journal to forget it, in a later commit.  At a stop the bus is drained (``drain``: what was committed is
delivered and stored) and closed before the store closes; what it still holds stays journaled.  At start-up ``redeliver`` hands
the events still journaled to the subscribers again, in order and before any new event; a subscriber that
stores events skips an ``event_id`` it already holds (the replay log's unique ``event_id``), which covers
a crash between its store and the journal's delete.

A publisher that keeps its records in a store of its own (the snapshot manager) cannot let the core's
group commit carry its event: its step would be durable before its event.  It asks the bus for the
event's journal row (``journal_entry``), commits that row in its own transaction with the step, and hands
the event over with ``publish_committed``: delivered in order, forgotten once delivered, redelivered at
start-up like every journaled event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Any, Awaitable, Callable, Mapping, Protocol

from esc_netconf.core.ids import new_id
from esc_netconf.core.serial import rebuild, to_plain

log = logging.getLogger(__name__)


class EventType(str, Enum):
    """``event/type`` values: ESC's own and no others (CONTRACT section 3).

    The two ``VM_VOLUME_*`` types go to REST callbacks only (``EscEvent.callback_only``), never to NETCONF.
    """

    CREATE_TENANT = "CREATE_TENANT"
    DELETE_TENANT = "DELETE_TENANT"
    VM_DEPLOYED = "VM_DEPLOYED"
    VM_ALIVE = "VM_ALIVE"
    SERVICE_ALIVE = "SERVICE_ALIVE"
    VM_UNDEPLOYED = "VM_UNDEPLOYED"
    SERVICE_UNDEPLOYED = "SERVICE_UNDEPLOYED"
    SERVICE_UPDATED = "SERVICE_UPDATED"
    VM_UPDATED = "VM_UPDATED"
    VM_STOPPED = "VM_STOPPED"
    SERVICE_STOPPED = "SERVICE_STOPPED"
    VM_STARTED = "VM_STARTED"
    VM_REBOOTED = "VM_REBOOTED"
    VM_MONITOR_SET = "VM_MONITOR_SET"
    VM_MONITOR_UNSET = "VM_MONITOR_UNSET"
    SERVICE_MONITOR_UNSET = "SERVICE_MONITOR_UNSET"
    VM_RECOVERY_INIT = "VM_RECOVERY_INIT"
    VM_RECOVERY_REBOOT = "VM_RECOVERY_REBOOT"
    VM_RECOVERY_UNDEPLOYED = "VM_RECOVERY_UNDEPLOYED"
    VM_RECOVERY_DEPLOYED = "VM_RECOVERY_DEPLOYED"
    VM_RECOVERY_COMPLETE = "VM_RECOVERY_COMPLETE"
    VM_RECOVERY_CANCELLED = "VM_RECOVERY_CANCELLED"
    VM_SCALE_OUT_INIT = "VM_SCALE_OUT_INIT"
    VM_SCALE_OUT_DEPLOYED = "VM_SCALE_OUT_DEPLOYED"
    VM_SCALE_OUT_COMPLETE = "VM_SCALE_OUT_COMPLETE"
    VM_SCALE_IN_INIT = "VM_SCALE_IN_INIT"
    VM_SCALE_IN_COMPLETE = "VM_SCALE_IN_COMPLETE"
    ESC_IN_SERVICE = "ESC_IN_SERVICE"
    ESC_OUT_OF_SERVICE = "ESC_OUT_OF_SERVICE"
    VM_BACKUP_INIT = "VM_BACKUP_INIT"
    VM_BACKUP_CREATED = "VM_BACKUP_CREATED"
    VM_BACKUP_COMPLETE = "VM_BACKUP_COMPLETE"
    VM_SNAPSHOT_DELETING = "VM_SNAPSHOT_DELETING"
    VM_SNAPSHOT_DELETED = "VM_SNAPSHOT_DELETED"
    VM_VOLUME_ACCEPTED_EVENT = "VM_VOLUME_ACCEPTED_EVENT"
    VM_VOLUME_CREATED_EVENT = "VM_VOLUME_CREATED_EVENT"


class EventStatus(str, Enum):
    """``status``: failures always carry FAILURE with ``status_code`` 500."""

    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"


@dataclass(frozen=True, slots=True)
class EventInterface:
    """``interfaces/interface[nicid]`` of ``vm_source``/``vm_target``: a NIC as the VIM built it.

    ``network`` and ``subnet`` are the VIM's ids (the configured network name while the id is unknown);
    ``netmask`` and ``gateway`` come from the subnet.  A subscriber learns a new VM's management address here.
    """

    nicid: int
    type: str = "virtual"
    port_id: str | None = None
    network: str | None = None
    subnet: str | None = None
    ip_address: str | None = None
    mac_address: str | None = None
    netmask: str | None = None
    gateway: str | None = None


@dataclass(frozen=True, slots=True)
class VmSource:
    """``vm_source``: the VM an event is about (before a recovery replaced it, for recovery events).

    ``vmid`` is the VIM's server id (absent before the VIM made one); the generated name stays across a
    redeploy while ``vmid`` changes.
    """

    vmid: str | None = None
    vmname: str | None = None
    generated_vmname: str | None = None
    vim_id: str | None = None
    vim_project: str | None = None
    vim_project_id: str | None = None
    hostid: str | None = None
    hostname: str | None = None
    interfaces: tuple[EventInterface, ...] = ()


@dataclass(frozen=True, slots=True)
class VmTarget:
    """``vm_target``: the VM after a recovery (or an update) that replaced the one in ``vm_source``."""

    vmid: str | None = None
    hostid: str | None = None
    hostname: str | None = None
    interfaces: tuple[EventInterface, ...] = ()


@dataclass(frozen=True, slots=True)
class EscEvent:
    """One ``escEvent`` (CONTRACT section 3) plus what REST callbacks need."""

    event_type: EventType
    status: EventStatus
    status_code: int
    status_message: str
    depname: str | None
    tenant: str | None
    tenant_id: str | None
    depid: str | None
    vm_group: str | None
    vm_source: VmSource | None
    event_time: datetime
    vm_target: VmTarget | None = None
    transaction_id: str | None = None
    callback_only: bool = False
    parameters: Mapping[str, str | None] = field(default_factory=dict)
    #: Unique per event, given by the bus at publication and kept across a redelivery (the key of its
    #: journal row, of its replay-log row and its callbacks' ``id``).
    event_id: str | None = None


#: A journal row: the event id and ``to_plain`` of the event.
JournalEntry = tuple[str, dict[str, Any]]

Subscriber = Callable[[EscEvent], None]
#: May return an awaitable: the subscriber stores the events off the loop, and they count as taken (the
#: journal forgets them) once it ends well.
BatchSubscriber = Callable[[list[EscEvent]], "Awaitable[None] | None"]

#: Seconds of delivery of held events per loop turn, before the rest waits for the next turn.
RELEASE_SLICE = 0.005
#: Held events handed to a batch subscriber at once, at most.
RELEASE_BATCH = 32


class EventJournal(Protocol):
    """Where the bus keeps the events it has not yet delivered (``core.groupcommit.GroupCommit``)."""

    def journal(self, event_id: str, data: Callable[[], dict[str, Any]]) -> None:
        """Write the event after the writes made so far, in their commit; ``data()`` gives its row
        (``to_plain`` of it), called when the commit is made (off the loop: the event is frozen)."""
        ...

    def forget(self, event_ids: list[str]) -> None:
        """The events were delivered: delete them from the journal (in a later commit)."""
        ...


def event_from_journal(data: dict[str, Any]) -> EscEvent:
    """The event a journal row holds, as it was published (its ``event_time`` and ``event_id`` too)."""
    return rebuild(EscEvent, data)


class EventBus:
    """Publish/subscribe for ``EscEvent``; call it only from the core's event loop."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._batch_subscribers: list[BatchSubscriber] = []
        self._held: deque[tuple[int, EscEvent]] = deque()
        self._stamp: Callable[[], int] = lambda: 0
        self._durable: Callable[[], int] = lambda: 0
        self._next_slice: asyncio.Handle | None = None
        self._journal: EventJournal | None = None
        self._closed = False
        #: Batches a subscriber is still storing (``BatchSubscriber`` returning an awaitable).
        self._storing: set[asyncio.Future[list[Any]]] = set()

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Call ``fn`` for every event published from now on; returns the function that stops it."""
        self._subscribers.append(fn)

        def unsubscribe() -> None:
            if fn in self._subscribers:
                self._subscribers.remove(fn)

        return unsubscribe

    def subscribe_many(self, fn: BatchSubscriber) -> None:
        """Like ``subscribe``, but ``fn`` gets the events released together as one list, in order (a
        subscriber that stores each event, such as the replay log, commits them at once)."""
        self._batch_subscribers.append(fn)

    def gate(self, stamp: Callable[[], int], durable: Callable[[], int], journal: EventJournal | None = None) -> None:
        """Hold back each event until ``durable()`` reaches the ``stamp()`` it was published with (the
        sequence numbers of the core's writes: last made, last committed); with a ``journal``, each event
        is first written there (so it is committed with those writes) and forgotten once delivered."""
        self._stamp, self._durable, self._journal = stamp, durable, journal

    def publish(self, event: EscEvent) -> None:
        """Hand ``event`` to every subscriber (after those held before it); one that raises is logged and
        skipped."""
        if self._journal is not None:
            if event.event_id is None:
                event = replace(event, event_id=new_id())
            assert event.event_id is not None
            published = event
            self._journal.journal(event.event_id, lambda: to_plain(published))
        stamp = self._stamp()
        if self._held or stamp > self._durable() or self._closed:
            self._held.append((stamp, event))
            return
        self._deliver(event)

    def journal_entry(self, event: EscEvent) -> tuple[EscEvent, JournalEntry | None]:
        """``event`` with its ``event_id``, and the journal row a publisher with a store of its own must
        commit in the transaction of the step it reports (``None`` when this bus keeps no journal); then
        ``publish_committed`` the event."""
        if self._journal is None:
            return event, None
        if event.event_id is None:
            event = replace(event, event_id=new_id())
        assert event.event_id is not None
        return event, (event.event_id, to_plain(event))

    def publish_committed(self, event: EscEvent) -> None:
        """Deliver an event whose journal row (``journal_entry``) the publisher has committed itself: it is
        durable already, so it waits only behind the events held before it; it is forgotten once delivered."""
        if self._held:
            self._held.append((0, event))
            return
        self._deliver(event)

    def redeliver(self, events: list[EscEvent]) -> None:
        """Deliver again events journaled before a restart (they are durable already), ahead of every
        event published from now on; each is forgotten once delivered."""
        self._held.extendleft((0, event) for event in reversed(events))
        self.release()

    async def drain(self) -> None:
        """Deliver now every held event whose writes are durable, and wait until the subscribers have
        stored what they were given (the core is stopping: what it committed reaches them while the
        store is still open)."""
        if self._next_slice is not None:
            self._next_slice.cancel()
        self._release(False)
        while self._storing:
            await asyncio.gather(*self._storing, return_exceptions=True)

    def close(self) -> None:
        """Deliver nothing more (the store behind the subscribers is about to close).  Events published
        from now on, and those still held, stay in the journal: the next start delivers them."""
        self._closed = True
        if self._next_slice is not None:
            self._next_slice.cancel()
            self._next_slice = None

    def release(self) -> None:
        """Deliver the held events whose writes are durable, oldest first; after ``RELEASE_SLICE``
        seconds the rest is left for the next loop turn.  Nothing while a slice waits for that turn: it
        delivers them, and a turn is given one slice, not one per commit that ended in it (each commit
        calls this, and a turn held several slices of delivery, 20 ms of the loop's CPU, at 2,000
        deployments)."""
        if self._next_slice is None:
            self._release(True)

    def _release(self, slice_: bool) -> None:
        self._next_slice = None
        if self._closed:
            return
        deadline = time.monotonic() + RELEASE_SLICE
        durable = self._durable()
        batch: list[EscEvent] = []
        while self._held and self._held[0][0] <= durable:
            event = self._held.popleft()[1]
            self._each(event)
            batch.append(event)
            if self._held and (len(batch) >= RELEASE_BATCH or slice_ and time.monotonic() > deadline):
                self._all(batch)
                batch = []
                if not slice_ or time.monotonic() <= deadline:
                    continue
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:
                    continue  # no loop to come back on: deliver everything now
                if self._next_slice is None:
                    self._next_slice = loop.call_soon(self._release, True)
                return
        self._all(batch)

    def _deliver(self, event: EscEvent) -> None:
        self._each(event)
        self._all([event])

    def _all(self, events: list[EscEvent]) -> None:
        """The batch subscribers, then the journal forgets the events, unless a subscriber failed on
        them: they stay journaled and are delivered again at the next start (never stored twice)."""
        if not events:
            return
        failed = False
        storing: list[Awaitable[None]] = []
        for many in list(self._batch_subscribers):
            try:
                result = many(events)
            except Exception:
                failed = True
                log.exception("event subscriber %r failed on %d events; they stay in the journal", many,
                              len(events))
                continue
            if result is not None:
                storing.append(result)
        if not storing:
            if not failed:
                self._forget(events)
            return
        stored = asyncio.gather(*storing, return_exceptions=True)
        self._storing.add(stored)

        def taken(done: asyncio.Future[list[Any]]) -> None:
            self._storing.discard(done)
            errors = [] if done.cancelled() else [r for r in done.result() if isinstance(r, BaseException)]
            for error in errors:
                log.error("an event subscriber failed to store %d events (they stay in the journal): %s",
                          len(events), error, exc_info=error)
            if not failed and not errors and not done.cancelled():
                self._forget(events)

        stored.add_done_callback(taken)

    def _forget(self, events: list[EscEvent]) -> None:
        if self._journal is not None:
            self._journal.forget([e.event_id for e in events if e.event_id is not None])

    def _each(self, event: EscEvent) -> None:
        for fn in list(self._subscribers):
            try:
                fn(event)
            except Exception:
                log.exception("event subscriber %r failed on %s", fn, event.event_type.value)
