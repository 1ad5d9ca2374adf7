"""Event streams and ``create-subscription`` (RFC 5277), with replay from a persistent log.

Theory of operation
-------------------
One :class:`NotificationHub` lives on the asyncio loop thread and is only ever called there, so it
needs no locks: ``publish()`` and ``subscribe()`` never interleave, and a replay is finished before
the next live event is looked at. Its one writer thread only stores bursts of events (the loop never
waits for the replay log's transaction) and hands each back to the loop, which then offers it; a replay
reads the log only up to what was offered and hears the bursts in flight live. A subscription therefore
sees, in this order and with no gap and no duplicate:

1. when ``startTime`` was given, the stored events of its stream from ``startTime`` (up to
   ``stopTime``), read from the :class:`ReplayLog`, then ``<replayComplete>``;
2. the live events published after it was created (an event published before it and still on its way
   to the log is not one of them, unless the subscription replays);
3. when ``stopTime`` was given, ``<notificationComplete>`` once ``stopTime`` has passed, then
   ``complete()`` is called and nothing more is delivered. A loop timer ends the subscription at
   ``stopTime`` even if no event ever arrives; an event dated after ``stopTime`` ends it at once.

``Subscription.cancel()`` (the session ended) stops everything silently.

The request is checked against RFC 5277 section 2.1.1: an unknown stream is
``invalid-value``; ``stopTime`` without ``startTime`` is ``missing-element``; ``startTime`` in the
future or ``stopTime`` earlier than ``startTime`` is ``bad-element``; replay on a stream without
replay support is ``operation-failed``; a filter that cannot be applied is refused up front
(``invalid-value``). Refusing a second subscription on one session is the server's job.

Filters select *which* events a subscriber gets: the filter is applied to the event as if the
payload element were the only top-level node, and an event is delivered, whole, when the filter
selects anything in it (the RFC 5277 filter "indicates which subset of all possible events is of
interest": it picks events, it does not trim them).

The callbacks (``deliver(event_time, payload)``, ``complete()``) must not block; the server's
``deliver`` only enqueues bytes on the session's writer. Each subscriber gets its own copy of a
live payload, so one session's framing never moves a node another session still needs.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from lxml import etree

from esc_netconf.gilshare import breathe
from esc_netconf.netconf.errors import ErrorTag, ErrorType, LocalProtocolError, NetconfError
from esc_netconf.netconf.filters import FilterSpec, FilterType, apply_filter, parse_filter, plan_xpath
from esc_netconf.netconf.messages import NOTIFICATION_NS, format_event_time, parse_event_time
from esc_netconf.netconf.persistence import ReplayLog
from esc_netconf.netconf.xmlsafe import parse_xml
from esc_netconf.nsmap import default_namespace

log = logging.getLogger("esc_netconf.netconf.subscriptions")

NETMOD_NOTIFICATION_NS = "urn:ietf:params:xml:ns:netmod:notification"
DEFAULT_STREAM = "NETCONF"
REPLAY_PAGE = 200  # replayed events delivered between two yields to the loop
MAX_CONCURRENT_REPLAYS = 2  # replays past their first page run a few at a time, the others wait
MAX_EVENT_FILTER_NODES = 1_000
GROUP_COMMIT_SECONDS = 0.02
"""How long a published event may wait to share its replay-log transaction with the next ones: a
session's start and end events cost one disk flush instead of two (and a flush costs more CPU than the
rest of a session's set-up on the server), for at most this much notification latency."""
#: Seconds of one loop turn spent offering stored bursts; the rest wait for the next turn (see ``_settle``).
SETTLE_SLICE = 0.005

Deliver = Callable[[datetime, etree._Element], None]
Complete = Callable[[], None]
#: A notification's payload, or a function that builds it. :meth:`NotificationHub.publish_stored` builds it on
#: the hub's writer thread, off the loop: at the end of a deploy of 10,000 VMs, building the escEvents was
#: most of what the loop did in its longest turns (``bench/deploy_scale.py --stall-stacks``: 72% of the stack
#: samples taken while the loop was late, 20,000 events of about 60 us each).
Payload = etree._Element | Callable[[], etree._Element]


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """One event stream as RFC 5277 lists it under ``/netconf/streams``."""

    name: str
    description: str
    replay_support: bool


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    """The parameters of one ``<create-subscription>``."""

    stream: str = DEFAULT_STREAM
    filter: FilterSpec | None = None
    start_time: datetime | None = None
    stop_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class _Burst:
    """Events of one stream, in order, for the writer thread; ``done`` (a future of the loop) ends once they
    are stored and offered to the live subscribers, or fails with the log's error; ``number``: the bursts
    handed over before it (a subscription's ``first_burst``). ``timed`` is built in place on the writer thread
    (:func:`_build`) and read on the loop only once stored."""

    stream: str
    timed: list[tuple[Payload, datetime]]
    event_ids: Sequence[str | None] | None
    done: asyncio.Future[None]
    number: int


def _build(timed: list[tuple[Payload, datetime]]) -> list[tuple[etree._Element, datetime]]:
    """Every payload of ``timed`` built, in place (a thread that is not the loop pauses for it between two:
    ``gilshare``); ``timed`` itself, now holding elements only."""
    for index, (payload, moment) in enumerate(timed):
        if not isinstance(payload, etree._Element):
            breathe()
            timed[index] = (payload(), moment)
    return cast(list[tuple[etree._Element, datetime]], timed)


def _log_failure(done: asyncio.Future[None]) -> None:
    if not done.cancelled() and done.exception() is not None:
        log.error("could not store notifications for replay; they were not delivered", exc_info=done.exception())


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _bad(tag: ErrorTag, element: str, message: str, type_: ErrorType = ErrorType.PROTOCOL) -> NetconfError:
    return NetconfError(tag, message, type=type_, info={"bad-element": element})


def _marker(name: str) -> etree._Element:
    return etree.Element(f"{{{NETMOD_NOTIFICATION_NS}}}{name}", nsmap=default_namespace(NETMOD_NOTIFICATION_NS))


class Subscription:
    """One live subscription; created by :meth:`NotificationHub.subscribe`."""

    def __init__(
        self, hub: NotificationHub, request: SubscriptionRequest, deliver: Deliver, complete: Complete
    ) -> None:
        self.request = request
        self._hub = hub
        self._deliver = deliver
        self._complete = complete
        self._timer: asyncio.TimerHandle | None = None
        self._replay: asyncio.Task[None] | None = None
        self._backlog: list[tuple[datetime, etree._Element]] | None = None  # live events during a replay
        #: The first burst (see ``NotificationHub._bursts``) this subscription hears live: those handed to the
        #: writer before it was created were published before it, and a subscription without replay does not
        #: get them; one with replay does (its replay read the log only up to what was offered, ``upto``).
        self.first_burst = hub._bursts if request.start_time is None else 0
        self.active = True

    def cancel(self) -> None:
        """Stop delivering, without ``notificationComplete`` (the session is going away)."""
        self._stop()

    def _stop(self) -> None:
        self.active = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._replay is not None and self._replay is not asyncio.current_task():
            self._replay.cancel()
        self._replay = None
        self._hub._forget(self)

    def _offer(self, event_time: datetime, payload: etree._Element, burst: int | None = None) -> None:
        """A live event (of the stored ``burst``, if it was stored): deliver it if it passes the filter;
        end the subscription past stopTime."""
        if not self.active or (burst is not None and burst < self.first_burst):
            return
        if self._backlog is not None:  # replaying: live events wait for the replay to end
            self._backlog.append((event_time, deepcopy(payload)))
            return
        stop = self.request.stop_time
        if stop is not None and event_time > stop:
            self._finish()
            return
        if self._hub._passes(self.request.filter, payload):
            self._deliver(event_time, deepcopy(payload))

    def _finish(self) -> None:
        """stopTime has passed: ``notificationComplete``, then ``complete()``."""
        if not self.active:
            return
        self._stop()
        self._deliver(self._hub._now(), _marker("notificationComplete"))
        self._complete()


class NotificationHub:
    """All event streams of the server: publish events, serve subscriptions, list the streams."""

    def __init__(
        self,
        replay_log: ReplayLog,
        streams: Sequence[StreamInfo],
        now: Callable[[], datetime],
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        live: Callable[[], bool] | None = None,
    ) -> None:
        """``live``: whether events may be offered to live subscribers now (None: always). A group member
        that lost its lease while stopped offers none of the events it had stored before: they are in the
        shared log, and the new active's subscribers get them; its own subscribers would see them late."""
        self._live = live
        self._withheld = False  # an offer was refused (``live``): said once in the log
        self._log = replay_log
        self._streams = {stream.name: stream for stream in streams}
        self._now_fn = now
        self._loop = loop
        self._created = self._now()
        self._subscriptions: dict[str, list[Subscription]] = {name: [] for name in self._streams}
        self._replay_slots: asyncio.Semaphore | None = None
        #: Stores the bursts (``publish_stored``'s, and each group commit of ``publish``), one thread: in the
        #: order they were published; the loop offers each once stored, in that order.
        self._writer: ThreadPoolExecutor | None = None
        self._queue_lock = threading.Lock()
        self._queued: list[_Burst] = []  # handed to the writer thread, not yet taken by it
        self._draining = False  # the writer thread has a drain to do (or is at it)
        self._bursts = 0  # bursts handed to the writer so far (a subscription's ``first_burst``)
        self._in_flight: set[asyncio.Future[None]] = set()  # the ``done`` of each burst not yet offered
        #: stored (or failed) bursts, in order, waiting on the loop for their offer: (burst, seq, error)
        self._settling: deque[tuple[_Burst, int | None, BaseException | None]] = deque()
        self._settle_handle: asyncio.Handle | None = None
        #: Per stream, while bursts are being stored (``_storing``), the highest
        #: replay-log sequence id whose events were all offered live: a new subscription's replay reads
        #: no further (what is stored but not yet offered comes live).  With nothing being stored the
        #: whole log was offered (or written by another server of the group), and a replay reads it all.
        self._offered: dict[str, int] = {}
        self._storing: dict[str, int] = {}
        #: The log's highest sequence id as last known (read once, then from each burst's result): only this
        #: hub appends to the log of the server that writes (a standby appends nothing).
        self._known_seq: int | None = None
        self._waiting: list[tuple[str, datetime, etree._Element]] = []  # published, not stored yet
        self._flush_timer: asyncio.TimerHandle | None = None

    @property
    def streams(self) -> tuple[StreamInfo, ...]:
        """The streams, in the order given."""
        return tuple(self._streams.values())

    def _now(self) -> datetime:
        return _utc(self._now_fn())

    def _forget(self, subscription: Subscription) -> None:
        subscribers = self._subscriptions.get(subscription.request.stream, [])
        if subscription in subscribers:
            subscribers.remove(subscription)

    def _passes(self, spec: FilterSpec | None, payload: etree._Element) -> bool:
        if spec is None:
            return True
        wrapper = etree.Element(f"{{{NOTIFICATION_NS}}}notification")
        wrapper.append(deepcopy(payload))
        return len(apply_filter(wrapper, spec)) > 0

    def _check_filter(self, spec: FilterSpec) -> None:
        """Refuse an event filter whose cost is not bounded by its shape: it runs on the loop, inline,
        once per event (a datastore filter runs under a time limit instead, see ``filters.filter_data``)."""
        if spec.type is FilterType.XPATH and spec.select is not None and not plan_xpath(spec.select).bounded:
            raise _bad(ErrorTag.INVALID_VALUE, "filter",
                       "An event filter may not scan the document inside a predicate (// or an absolute "
                       "path or a reverse or sibling axis within [...]); select by child paths instead.")
        if spec.element is not None and sum(1 for _ in spec.element.iter()) > MAX_EVENT_FILTER_NODES:
            raise _bad(ErrorTag.TOO_BIG, "filter",
                       f"An event filter may hold at most {MAX_EVENT_FILTER_NODES} elements.")

    def publish(self, stream: str, payload: etree._Element, event_time: datetime | None = None) -> None:
        """Store the event for replay (if the stream keeps a log) and deliver it to its subscribers.

        On the loop, an event of a stream with a log waits up to ``GROUP_COMMIT_SECONDS`` so that the
        events of that moment (a session's start and end, a burst of edits) are stored in one
        transaction (one disk flush), on the hub's writer thread; it is delivered only once stored, so a
        subscriber never sees an event a replay after a crash would miss. Events stay in publication
        order: a burst (:meth:`publish_stored`) and a subscription hand the waiting ones to the writer
        first. Without a running loop the event is stored and delivered before this returns.

        :raises LocalProtocolError: for a stream the hub was not configured with (a bug here).
        """
        info = self._streams.get(stream)
        if info is None:
            raise LocalProtocolError(f"publish on unknown stream {stream!r}")
        moment = _utc(event_time) if event_time is not None else self._now()
        if not info.replay_support:
            self._offer(stream, moment, payload)
            return
        self._waiting.append((stream, moment, payload))
        if self._flush_timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._flush_timer = loop.call_later(GROUP_COMMIT_SECONDS, self._hand_over)

    def flush(self) -> None:
        """Store the events :meth:`publish` holds, on this thread (one transaction per run of one stream),
        then deliver them: for a hub used without a loop (a tool, a test). On the loop use :meth:`drain`.

        :raises Exception: what the replay log raises; the events are then dropped, undelivered.
        """
        waiting = self._take_waiting()
        for stream, run in itertools.groupby(waiting, key=lambda event: event[0]):
            self._store(stream, [(moment, etree.tostring(payload, encoding="UTF-8")) for _, moment, payload in run])
        for stream, moment, payload in waiting:
            self._offer(stream, moment, payload)

    def _take_waiting(self) -> list[tuple[str, datetime, etree._Element]]:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        waiting, self._waiting = self._waiting, []
        return waiting

    def _hand_over(self) -> None:
        """On the loop: the events :meth:`publish` holds go to the writer thread, one burst per run of one
        stream, and are offered once stored. A burst that cannot be stored is logged and dropped, undelivered
        (there is nobody to raise to)."""
        waiting = self._take_waiting()
        for stream, run in itertools.groupby(waiting, key=lambda event: event[0]):
            stored = self._store_later(stream, [(payload, moment) for _, moment, payload in run], None)
            stored.add_done_callback(_log_failure)

    async def drain(self) -> None:
        """On the loop: hand over what :meth:`publish` holds and wait until every burst handed to the writer
        so far is stored and offered (or failed)."""
        self._hand_over()
        while self._in_flight:
            await asyncio.wait(list(self._in_flight))

    def _store(self, stream: str, rows: Sequence[tuple[datetime, bytes]],
               event_ids: Sequence[str | None] | None = None) -> int | None:
        """``rows`` into the replay log, in one transaction when the log has ``append_many``; the log's
        highest sequence id after (None if the log cannot tell)."""
        append_many = getattr(self._log, "append_many", None)
        if append_many is None:
            return max((self._log.append(stream, moment, xml) for moment, xml in rows), default=None)
        seq: int | None = append_many(stream, rows, event_ids=event_ids) if event_ids is not None else \
            append_many(stream, rows)
        return seq

    def _offer(self, stream: str, moment: datetime, payload: etree._Element, burst: int | None = None) -> None:
        if self._live is not None and not self._live():
            if not self._withheld:
                log.warning("events are no longer offered to live subscribers: this server lost its lease")
            self._withheld = True
            return
        for subscription in list(self._subscriptions[stream]):
            subscription._offer(moment, payload, burst)

    def publish_many(self, stream: str, events: Sequence[tuple[Payload, datetime | None]],
                     event_ids: Sequence[str | None] | None = None) -> None:
        """``publish`` each ``(payload, event_time)`` in order (a payload given as a function is built here);
        a replay log with ``append_many`` stores them in one transaction (one disk flush for a burst of events
        rather than one each).

        ``event_ids`` (one per event, from the producer): the log stores an id it already holds only once
        (an event delivered again after a crash); live subscribers get every event offered.

        :raises LocalProtocolError: for a stream the hub was not configured with (a bug here).
        """
        info = self._streams.get(stream)
        if info is None:
            raise LocalProtocolError(f"publish on unknown stream {stream!r}")
        if not events:
            return
        self.flush()  # the events published before these go first, into the log and to subscribers
        timed = _build([(payload, _utc(t) if t is not None else self._now()) for payload, t in events])
        if info.replay_support:
            self._store(stream, [(moment, etree.tostring(payload, encoding="UTF-8")) for payload, moment in timed],
                        event_ids)
        self._offer_all(stream, timed)

    def publish_stored(self, stream: str, events: Sequence[tuple[Payload, datetime | None]],
                       event_ids: Sequence[str | None] | None = None) -> asyncio.Future[None]:
        """``publish_many`` with the replay log's write (a transaction and a disk flush), and the building of
        payloads given as functions, on the hub's writer thread instead of the loop; live subscribers are
        offered the events once they are stored, bursts in the order they were published (the events
        :meth:`publish` holds go first).  The returned future ends then, or fails with the log's error, or
        with what building one of its payloads raised (that burst alone: the events were offered to nobody,
        the caller keeps them to publish again).

        Why: a burst of a bulk deploy's events is stored every few milliseconds, and each write held the
        loop for its flush and for the database's write lock (shared with the core's own commits).

        A subscription created while a burst is being stored must see it once: its replay reads only up
        to the sequence id last offered live (``_offered``), and the burst reaches it live.  Call it on
        the loop.

        :raises LocalProtocolError: for a stream the hub was not configured with (a bug here).
        """
        info = self._streams.get(stream)
        if info is None:
            raise LocalProtocolError(f"publish on unknown stream {stream!r}")
        loop = asyncio.get_running_loop()
        self._hand_over()  # the events published before these go first, into the log and to subscribers
        timed: list[tuple[Payload, datetime]] = [(payload, _utc(t) if t is not None else self._now())
                                                 for payload, t in events]
        if not timed or not info.replay_support:
            self._offer_all(stream, _build(timed))
            done: asyncio.Future[None] = loop.create_future()
            done.set_result(None)
            return done
        return self._store_later(stream, timed, event_ids)

    def _store_later(self, stream: str, timed: list[tuple[Payload, datetime]],
                     event_ids: Sequence[str | None] | None) -> asyncio.Future[None]:
        """One burst: stored on the writer thread, then offered to the live subscribers (bursts in the order
        they were handed over: one writer thread, whose results reach the loop in that order). The future
        ends once offered, or fails with the log's error (offered to nobody)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        if not self._storing.get(stream):  # nothing being stored: what the log holds now was offered
            self._offered.pop(stream, None)
            known = self._known_seq
            if known is None:  # once: read from the log; then each burst's transaction tells it
                last_seq = getattr(self._log, "last_seq", None)
                known = self._known_seq = None if last_seq is None else int(last_seq())
            if known is not None:
                self._offered[stream] = known
        self._storing[stream] = self._storing.get(stream, 0) + 1
        self._in_flight.add(done)
        self._queue(_Burst(stream, timed, event_ids, done, self._bursts), loop)
        self._bursts += 1
        return done

    def _settle(self, batch: list[_Burst], seq: int | None, error: BaseException | None,
                unbuilt: dict[int, BaseException]) -> None:
        """On the loop, for each transaction of the writer thread: its bursts are offered, in order, behind
        those still waiting.

        Why not one callback per burst: the writer stores the bursts that queued up meanwhile in one
        transaction (hundreds, after a deploy of thousands of VMs), so their callbacks all became ready in
        the same loop turn, which then offered every event of them and freed them (lxml documents, about
        0.2 ms per burst of 32 events): up to 90 ms in which nothing else ran on the loop."""
        self._settling.extend((burst, seq, error or unbuilt.get(burst.number)) for burst in batch)
        # the deque holds the bursts alone now: each is freed in the slice that offers it, not all at once
        # when this callback's handle (which holds ``batch``) goes
        batch.clear()
        if self._settle_handle is None:
            self._settle_some()

    def _settle_some(self) -> None:
        """Offer stored bursts for up to ``SETTLE_SLICE`` seconds; the rest in the next turn (new bursts
        queue behind them, so the order stays the writer's)."""
        self._settle_handle = None
        deadline = time.perf_counter() + SETTLE_SLICE
        while self._settling:
            self._settle_one(*self._settling.popleft())  # the burst's events are freed here, in the slice
            if time.perf_counter() >= deadline:
                break
        if self._settling:
            self._settle_handle = asyncio.get_running_loop().call_soon(self._settle_some)

    def _settle_one(self, burst: _Burst, seq: int | None, error: BaseException | None) -> None:
        self._in_flight.discard(burst.done)
        self._storing[burst.stream] -= 1
        if error is not None:
            if not burst.done.done():
                burst.done.set_exception(error)
            return
        if seq is not None and self._known_seq is not None:
            self._known_seq = max(self._known_seq, seq)
        if seq is not None and burst.stream in self._offered:
            self._offered[burst.stream] = max(self._offered[burst.stream], seq)
        self._offer_all(burst.stream, _build(burst.timed), burst.number)
        if not burst.done.done():
            burst.done.set_result(None)

    def _queue(self, burst: _Burst, loop: asyncio.AbstractEventLoop) -> None:
        """Hand ``burst`` to the writer thread; start it draining the queue unless it is at it."""
        with self._queue_lock:
            self._queued.append(burst)
            if self._draining:
                return
            self._draining = True
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-log")
        self._writer.submit(self._drain, loop)

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the writer thread: store what is queued, all of it in one transaction when the log has
        ``append_bursts`` (the bursts that queued up while the last transaction waited for the database's
        writer lock or its flush share the next one: fewer flushes and less time holding the lock that the
        datastore's and the core's writers wait for), until the queue is empty; then one loop callback per
        transaction (``_settle``) with the log's highest sequence id after, or the error (every burst of a
        failed transaction gets it), and the error of each burst whose payloads could not be built (left out
        of the transaction)."""
        while True:
            with self._queue_lock:
                batch, self._queued = self._queued, []
                if not batch:
                    self._draining = False
                    return
            seq: int | None = None
            error: BaseException | None = None
            unbuilt: dict[int, BaseException] = {}
            try:
                seq = self._store_bursts(batch, unbuilt)
            except BaseException as exc:  # noqa: BLE001 - handed to the loop, which raises it to the publisher
                error = exc
            try:
                loop.call_soon_threadsafe(self._settle, batch, seq, error, unbuilt)
            except RuntimeError:  # the loop is closed (the process is stopping): nobody waits for it
                pass

    def _store_bursts(self, batch: Sequence[_Burst], unbuilt: dict[int, BaseException]) -> int | None:
        """Built and serialized here too: lxml lets go of the GIL while it serializes, and on the loop each
        event then waited for the GIL to come back (up to the switch interval, 5 ms, on a busy process).
        Nothing changes the payloads meanwhile: the loop offers them (copies) once they are stored. A burst
        one of whose payloads cannot be built is left out, its error in ``unbuilt`` (by burst number)."""
        rows = []
        for burst in batch:
            breathe()  # between bursts the loop may take the GIL (``esc_netconf.gilshare``)
            try:
                timed = _build(burst.timed)
            except Exception as exc:  # noqa: BLE001 - that burst's publisher gets it
                unbuilt[burst.number] = exc
                continue
            rows.append((burst.stream, [(moment, etree.tostring(payload, encoding="UTF-8"))
                                        for payload, moment in timed], burst.event_ids))
        append_bursts = getattr(self._log, "append_bursts", None)
        if append_bursts is not None:
            seq: int | None = append_bursts(rows)
            return seq
        seqs = [self._store(stream, events, event_ids) for stream, events, event_ids in rows]
        return max((s for s in seqs if s is not None), default=None)

    def _offer_all(self, stream: str, timed: Sequence[tuple[etree._Element, datetime]],
                   burst: int | None = None) -> None:
        if not self._subscriptions[stream]:  # nobody listens: a burst of thousands costs nothing
            return
        for payload, moment in timed:
            self._offer(stream, moment, payload, burst)

    def close(self) -> None:
        """Store what :meth:`publish` holds, and stop the writer thread (after the bursts handed to it
        are stored: on the loop, this waits for them; they are offered if the loop runs on)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
        else:
            self._hand_over()
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None

    def parse_request(self, op: etree._Element) -> SubscriptionRequest:
        """Read ``<create-subscription>`` (children in the RFC 5277 namespace, or unqualified).

        :raises NetconfError: ``invalid-value`` for a bad time, ``unknown-element`` for an unknown
            parameter, and the filter's own errors.
        """
        stream = DEFAULT_STREAM
        spec: FilterSpec | None = None
        times: dict[str, datetime] = {}
        for child in op.iterchildren(tag=etree.Element):
            qname = etree.QName(child)
            if qname.namespace not in (NOTIFICATION_NS, None):
                raise _bad(ErrorTag.UNKNOWN_ELEMENT, qname.localname, f"Unknown parameter {child.tag}.")
            name = qname.localname
            if name == "stream":
                stream = (child.text or "").strip()
            elif name == "filter":
                spec = parse_filter(child)
            elif name in ("startTime", "stopTime"):
                try:
                    times[name] = parse_event_time(child.text or "")
                except ValueError as exc:
                    raise _bad(
                        ErrorTag.INVALID_VALUE, name, f"{name} is not an RFC 3339 date-and-time: {exc}"
                    ) from exc
            else:
                raise _bad(ErrorTag.UNKNOWN_ELEMENT, name, f"Unknown create-subscription parameter {name}.")
        return SubscriptionRequest(stream, spec, times.get("startTime"), times.get("stopTime"))

    def _check(self, request: SubscriptionRequest) -> StreamInfo:
        info = self._streams.get(request.stream)
        if info is None:
            raise _bad(
                ErrorTag.INVALID_VALUE, "stream", f"Unknown stream {request.stream!r}.", ErrorType.APPLICATION
            )
        start, stop = request.start_time, request.stop_time
        if stop is not None and start is None:
            raise _bad(ErrorTag.MISSING_ELEMENT, "startTime", "stopTime needs a startTime.")
        if start is not None:
            if start > self._now():
                raise _bad(ErrorTag.BAD_ELEMENT, "startTime", "startTime is in the future.")
            if stop is not None and stop < start:
                raise _bad(ErrorTag.BAD_ELEMENT, "stopTime", "stopTime is earlier than startTime.")
            if not info.replay_support:
                raise NetconfError(
                    ErrorTag.OPERATION_FAILED,
                    f"Stream {info.name!r} does not support replay.",
                    type=ErrorType.PROTOCOL,
                )
        if request.filter is not None:
            self._check_filter(request.filter)
            self._passes(request.filter, _marker("probe"))  # raises now, not on the first event
        return info

    def subscribe(self, request: SubscriptionRequest, deliver: Deliver, complete: Complete) -> Subscription:
        """Start a subscription: replay (if asked), ``replayComplete``, then live events.

        :raises NetconfError: the RFC 5277 errors listed in the module docstring; nothing is
            delivered then.
        """
        self._check(request)
        # what was published before the subscription is in the log, or on its way there: a replay waits until
        # it is stored and replays it; a live subscription does not hear it
        self._move_waiting()
        if request.stop_time is not None and request.stop_time > self._now():
            self._timer_loop()  # refuse before anything is delivered
        subscription = Subscription(self, request, deliver, complete)
        self._subscriptions[request.stream].append(subscription)
        if request.start_time is None:
            self._go_live(subscription)
            return subscription
        if self._storing.get(request.stream):
            subscription._backlog = []
            subscription._replay = self._timer_loop().create_task(
                self._replay_once_stored(subscription, list(self._in_flight)), name="netconf-replay"
            )
            return subscription
        events = self._replay_events(request)
        if self._replay_page(subscription, events):
            subscription._backlog = []
            subscription._replay = self._timer_loop().create_task(
                self._replay_rest(subscription, events), name="netconf-replay"
            )
        else:
            self._end_replay(subscription)
        return subscription

    def _move_waiting(self) -> None:
        """Before a subscription: the waiting events go to the writer, or, without a loop or with a log
        that cannot tell its last sequence id (so a replay could not leave them out: an in-memory log of
        tests), into the log now."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if getattr(self._log, "last_seq", None) is None:
            self.flush()
        else:
            self._hand_over()

    def _replay_events(self, request: SubscriptionRequest) -> Iterator[tuple[datetime, bytes]]:
        """The stored events a replay sends: no further than what was offered live (``upto``) while bursts
        are being stored, so that what is stored meanwhile comes once, live."""
        assert request.start_time is not None  # a replay
        upto = self._offered.get(request.stream) if self._storing.get(request.stream) else None
        return iter(self._log.read(request.stream, request.start_time, request.stop_time, upto=upto))

    async def _replay_once_stored(self, subscription: Subscription, in_flight: list[asyncio.Future[None]]) -> None:
        """A replay that began while events published before it were being stored: it waits for them, so
        that they are in the replay (RFC 5277: before ``replayComplete``), then reads the log. What was
        offered live meanwhile went to the backlog and is in what the replay reads now: dropped."""
        if in_flight:  # waited for, not gathered: a cancelled replay must not cancel the bursts' futures
            await asyncio.wait(in_flight)
        if not subscription.active:
            return
        subscription._backlog = []
        await self._replay_rest(subscription, self._replay_events(subscription.request))

    def _replay_page(self, subscription: Subscription, events: Iterator[tuple[datetime, bytes]]) -> bool:
        """Deliver up to ``REPLAY_PAGE`` stored events; True if there may be more."""
        request = subscription.request
        page = list(itertools.islice(events, REPLAY_PAGE))
        for event_time, xml in page:
            try:
                payload = parse_xml(xml)
            except NetconfError:
                log.warning("skipping an unreadable %s event of %s in the replay log", request.stream, event_time)
                continue
            if self._passes(request.filter, payload):
                subscription._deliver(_utc(event_time), payload)
        return len(page) == REPLAY_PAGE

    async def _replay_rest(self, subscription: Subscription, events: Iterator[tuple[datetime, bytes]]) -> None:
        """The pages after the first, with a yield to the loop between two, and at most
        ``MAX_CONCURRENT_REPLAYS`` subscriptions at a time (40 subscribers replaying 10,000 events
        each stalled the server for 24 s: every one of them keeps a writer thread and an SSH thread
        busy, and the threads of a waiting client then wait for the GIL); live events wait in a
        backlog meanwhile."""
        if self._replay_slots is None:
            self._replay_slots = asyncio.Semaphore(MAX_CONCURRENT_REPLAYS)
        async with self._replay_slots:
            more = True
            while more and subscription.active:
                await asyncio.sleep(0)
                more = self._replay_page(subscription, events)
        if subscription.active:
            subscription._replay = None
            self._end_replay(subscription)

    def _end_replay(self, subscription: Subscription) -> None:
        """``replayComplete``, the live events that arrived during the replay, then live ones."""
        subscription._deliver(self._now(), _marker("replayComplete"))
        backlog, subscription._backlog = subscription._backlog or [], None
        for event_time, payload in backlog:
            subscription._offer(event_time, payload)
        if subscription.active:
            self._go_live(subscription)

    def _go_live(self, subscription: Subscription) -> None:
        """The end at stopTime (now, if it has passed)."""
        stop = subscription.request.stop_time
        if stop is not None and stop <= self._now():
            subscription._finish()
        elif stop is not None:
            delay = max(0.0, (stop - self._now()).total_seconds())
            subscription._timer = self._timer_loop().call_later(delay, subscription._finish)

    def _timer_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is not None:
            return self._loop
        try:
            return asyncio.get_running_loop()
        except RuntimeError as exc:
            raise LocalProtocolError("a subscription with stopTime needs the asyncio loop") from exc

    def streams_element(self) -> etree._Element:
        """RFC 5277 ``<netconf><streams>…`` for ``<get>``."""
        ns = NETMOD_NOTIFICATION_NS
        root = etree.Element(f"{{{ns}}}netconf", nsmap=default_namespace(ns))
        streams = etree.SubElement(root, f"{{{ns}}}streams")
        for info in self._streams.values():
            stream = etree.SubElement(streams, f"{{{ns}}}stream")
            etree.SubElement(stream, f"{{{ns}}}name").text = info.name
            etree.SubElement(stream, f"{{{ns}}}description").text = info.description
            etree.SubElement(stream, f"{{{ns}}}replaySupport").text = "true" if info.replay_support else "false"
            if info.replay_support:
                oldest = self._log.oldest(info.name)
                created = min(_utc(oldest), self._created) if oldest is not None else self._created
                etree.SubElement(stream, f"{{{ns}}}replayLogCreationTime").text = format_event_time(created)
        return root

