"""REST callbacks: which URLs want a transaction's events, and delivering them durably without hurting the core.

Theory of operation
-------------------
A request with ``callback``/``Callback-ESC-Events`` headers registers its transaction id and URLs in the
``CallbackRegistry`` *before* it calls the core (the core may publish the first event during the call).
The registry is a cache of the ``CallbackStore``: a registration is written durably when it is made, so
after a restart (or a ``kill -9``) the operations the core resumes still reach their callbacks.

``CallbackRouter`` is an ``EventBus`` subscriber: for an event whose ``transaction_id`` is registered it
renders the JSON once, writes one outbox row per URL (one small transaction: the *outbox*), and hands
the rows to the ``CallbackDispatcher`` -- a non-blocking ``put`` into the destination's queue, so
publishing never waits for the network.  A row leaves the outbox when its POST is delivered or given
up; whatever is still there at start-up is submitted again, in order (``CallbackService.start``).
Delivery is therefore at-least-once: every POST carries the event's id (``ESC-Event-Id``, also
``stateMachineEventNBInfo.id`` in the body) so that a receiver can drop a repeat.

Registrations are bounded: a transaction is *finished* when the API saw its operation end (the core is
no longer busy with the deployment) or, failing that, when no event came for ``quiet_after`` seconds
(longer than any VIM timeout); finished registrations are deleted ``retention`` seconds later, and at
most ``capacity`` are kept.  A late event of a finished but unpruned transaction is still delivered.

The dispatcher runs one worker task per destination URL, so one receiver gets its events in order and a
slow one delays nobody else.  Each destination is in one of three states::

    UP --attempt fails--> RETRYING (one warning logged) --retries exhausted--> DOWN
    RETRYING/DOWN --attempt succeeds--> UP (logged)

While UP or RETRYING an event is retried with exponential backoff until ``give_up_after`` seconds after
its first attempt (in this process: a restart gives the outbox a fresh budget).  While DOWN each event
gets a single attempt: a dead receiver costs one failed connection per event and one log line, and
nothing queues up behind it.  A 4xx answer other than 408/429 is final (retrying cannot fix it).  A
queue holds at most ``queue_limit`` events; a worker that has been idle for ``idle_exit`` seconds ends,
and the next event starts a new one.

A URL that can never be delivered (malformed, a host the HTTP client refuses, no longer allowed by the
settings: ``check_url``) is dropped when it is submitted, with one log line per URL, and its outbox rows
are removed; so is any delivery whose attempt fails in a way the sender did not foresee (the worker
logs it in one line and goes on), so nothing in the outbox can fail at every restart.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum

import aiohttp

from esc_netconf.core.events import EscEvent, EventBus
from esc_netconf.errors import EscError
from esc_netconf.rest.callback_events import callback_body, callback_headers
from esc_netconf.rest.callback_store import CallbackStore, MemoryCallbackStore, OutgoingPost, Registration
from esc_netconf.store.leadership import LeadershipLost

__all__ = ["EVENT_ID_HEADER", "CallbackDispatcher", "CallbackRegistry", "CallbackRouter", "CallbackService",
           "HttpSender", "RetryPolicy", "Sender"]

log = logging.getLogger(__name__)

#: ``send(url, body, headers)`` -> the HTTP status; raises ``OSError``/``aiohttp.ClientError``/``TimeoutError``.
Sender = Callable[[str, bytes, Mapping[str, str]], Awaitable[int]]
Clock = Callable[[], float]
#: Called with a delivery id once its POST is delivered or given up.
Settle = Callable[[int], None]
#: Why a URL can never be delivered, or ``None`` when it may be tried.
UrlCheck = Callable[[str], "str | None"]

#: The header that carries the event's id, the same on every (re)delivery of that event.
EVENT_ID_HEADER = "ESC-Event-Id"

_RETRYABLE_4XX = frozenset({408, 429})


class CallbackRegistry:
    """Transaction id -> callback URLs: a cache of the store's registrations (see the module docstring).

    ``clock`` is wall-clock seconds (the times are stored and must survive a restart).
    """

    def __init__(self, store: CallbackStore | None = None, *, quiet_after: float = 3600.0,
                 retention: float = 3600.0, capacity: int = 10_000, clock: Clock = time.time) -> None:
        self.store: CallbackStore = store if store is not None else MemoryCallbackStore()
        self._quiet_after = quiet_after
        self._retention = retention
        self._capacity = capacity
        self._clock = clock
        self._routes: OrderedDict[str, Registration] = OrderedDict()
        self._running: dict[str, Callable[[], bool]] = {}

    def __len__(self) -> int:
        return len(self._routes)

    def load(self) -> None:
        """Read the stored registrations (at start-up, before the first event)."""
        for registration in self.store.load_registrations():
            self._routes[registration.transaction_id] = registration

    def register(self, transaction_id: str, urls: Sequence[str]) -> None:
        """Send the events of ``transaction_id`` to ``urls`` (duplicates removed, order kept); durable."""
        unique = tuple(dict.fromkeys(urls))
        if not unique:
            return
        now = self._clock()
        registration = Registration(transaction_id, unique, now, now)
        self.store.save_registration(registration)
        self._routes[transaction_id] = registration
        while len(self._routes) > self._capacity:
            oldest, _ = self._routes.popitem(last=False)
            self._running.pop(oldest, None)
            self.store.delete_registration(oldest)
            log.warning("More than %d callback registrations; forgot the oldest, %s", self._capacity, oldest)

    def forget(self, transaction_id: str) -> None:
        """The request was refused: no event will come."""
        self._running.pop(transaction_id, None)
        if self._routes.pop(transaction_id, None) is not None:
            self.store.delete_registration(transaction_id)

    def track(self, transaction_id: str, running: Callable[[], bool]) -> None:
        """``running()`` tells whether the transaction's operation still runs; ``sweep`` finishes it when not."""
        if transaction_id in self._routes:
            self._running[transaction_id] = running

    def finish(self, transaction_ids: Sequence[str]) -> None:
        """These transactions' operations ended: their registrations now age towards pruning."""
        now = self._clock()
        open_ = [t for t in transaction_ids if t in self._routes and self._routes[t].finished is None]
        for tid in transaction_ids:
            self._running.pop(tid, None)
        if not open_:
            return
        self.store.finish_registrations(open_, now)
        for tid in open_:
            self._routes[tid] = replace(self._routes[tid], finished=now)

    def get(self, transaction_id: str | None) -> Registration | None:
        """The registration of ``transaction_id``, if there is one."""
        return None if transaction_id is None else self._routes.get(transaction_id)

    def destinations(self, transaction_id: str | None) -> tuple[str, ...]:
        """The URLs registered for ``transaction_id`` (an event is coming: noted for the quiet rule)."""
        found = self.get(transaction_id)
        if found is None:
            return ()
        assert transaction_id is not None
        self._routes[transaction_id] = replace(found, last_event=self._clock())
        return found.urls

    def sweep(self) -> int:
        """Finish what has ended or gone quiet, prune what finished ``retention`` ago; returns how many
        registrations were pruned."""
        now = self._clock()
        ended = [tid for tid, running in self._running.items() if not running()]
        quiet = [tid for tid, r in self._routes.items()
                 if r.finished is None and tid not in self._running and r.last_event < now - self._quiet_after]
        self.finish(ended + quiet)
        cutoff = now - self._retention
        self.store.prune_registrations(cutoff)
        old = [tid for tid, r in self._routes.items() if r.finished is not None and r.finished < cutoff]
        for tid in old:
            del self._routes[tid]
        return len(old)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff ``first_delay`` doubling up to ``max_delay``; give up ``give_up_after`` s after the first try."""

    first_delay: float = 0.25
    max_delay: float = 5.0
    give_up_after: float = 60.0


class DestinationState(str, Enum):
    UP = "UP"
    RETRYING = "RETRYING"
    DOWN = "DOWN"


@dataclass(frozen=True, slots=True)
class _Delivery:
    body: bytes
    headers: Mapping[str, str]
    label: str
    key: int | None


@dataclass(eq=False)
class _Destination:
    url: str
    queue: deque[_Delivery] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    state: DestinationState = DestinationState.UP
    task: asyncio.Task[None] | None = None


class _Refused(Exception):
    """The dispatcher's guard refused an attempt: this server may not send (see ``CallbackDispatcher``)."""


class CallbackDispatcher:
    """Delivers callback POSTs in the background, in order per URL, retrying within bounds.

    ``settle(key)`` is called for every submitted delivery that has a key once it is delivered or given
    up (the outbox removes it then); a delivery still queued when the dispatcher closes is not settled.
    ``guard()`` is called before every attempt and raises (an ``EscError``) when this server may no longer
    send (a member of a group that lost its lease): the worker then stops and leaves its deliveries in the
    outbox, which the new active resumes.
    """

    def __init__(self, send: Sender, *, policy: RetryPolicy = RetryPolicy(), queue_limit: int = 1000,
                 idle_exit: float = 30.0, clock: Clock = time.monotonic, settle: Settle | None = None,
                 check_url: UrlCheck | None = None, guard: Callable[[], None] | None = None) -> None:
        self._send = send
        self._guard = guard
        self._check_url = check_url
        self._refused_urls: set[str] = set()
        self._policy = policy
        self._queue_limit = queue_limit
        self._idle_exit = idle_exit
        self._clock = clock
        self._settle = settle
        self._destinations: dict[str, _Destination] = {}
        self._closed = False
        self.delivered = 0
        self.dropped = 0

    def submit(self, url: str, body: bytes, headers: Mapping[str, str], label: str = "event",
               key: int | None = None) -> None:
        """Queue one POST to ``url``; returns at once (call it on the loop that runs the dispatcher)."""
        if self._closed:
            return
        dest = self._destinations.get(url)
        if dest is None:
            problem = self._check_url(url) if self._check_url is not None else None
            if problem is not None:
                self._drop_undeliverable(url, problem, label, key)
                return
            dest = self._destinations[url] = _Destination(url)
        if len(dest.queue) >= self._queue_limit:
            self.dropped += 1
            log.warning("Callback queue for %s is full (%d events); dropped %s", url, self._queue_limit, label)
            self._settled(key)
            return
        dest.queue.append(_Delivery(body, headers, label, key))
        dest.wakeup.set()
        if dest.task is None or dest.task.done():
            dest.task = asyncio.get_running_loop().create_task(self._run(dest), name=f"callback {url}")

    def _drop_undeliverable(self, url: str, problem: str, label: str, key: int | None) -> None:
        self.dropped += 1
        if url not in self._refused_urls:
            if len(self._refused_urls) >= self._queue_limit:
                self._refused_urls.clear()
            self._refused_urls.add(url)
            log.warning("Callback URL [%s] can never be delivered (%s); dropped %s and every later event for it",
                        url[:200], problem, label)
        self._settled(key)

    def state(self, url: str) -> DestinationState | None:
        """The destination's state, or ``None`` when no worker serves it."""
        dest = self._destinations.get(url)
        return dest.state if dest else None

    async def drain(self, timeout: float) -> None:
        """Wait until every queue is empty (for tests and orderly shutdown).

        :raises TimeoutError: events are still queued after ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            while any(d.queue for d in self._destinations.values()):
                await asyncio.sleep(0.01)

    async def close(self) -> None:
        """Stop every worker; events still queued stay in the outbox for the next start."""
        self._closed = True
        tasks = [d.task for d in self._destinations.values() if d.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._destinations.clear()

    def _settled(self, key: int | None) -> None:
        if key is None or self._settle is None:
            return
        try:
            self._settle(key)
        except EscError as error:  # the POST is done; a failed removal only means one more delivery later
            log.warning("Could not remove delivery %d from the callback outbox: %s", key, error)

    async def _run(self, dest: _Destination) -> None:
        while True:
            if not dest.queue:
                dest.wakeup.clear()
                try:  # asyncio.timeout: 3.11's wait_for loses a cancel that comes with the wake-up
                    async with asyncio.timeout(self._idle_exit):
                        await dest.wakeup.wait()
                except TimeoutError:
                    if not dest.queue:
                        self._destinations.pop(dest.url, None)
                        return
                continue
            delivery = dest.queue[0]
            try:
                await self._deliver(dest, delivery)
            except _Refused as refusal:
                log.warning("Callbacks to %s stopped: %s (%d left in the outbox for the active)", dest.url[:200],
                            refusal, len(dest.queue))
                self._destinations.pop(dest.url, None)
                return
            except Exception as error:  # noqa: BLE001 - one bad delivery must not stop the worker
                self.dropped += 1
                log.warning("Callback %s to %s dropped after an unexpected error: %s: %s",
                            delivery.label, dest.url[:200], type(error).__name__, error)
            dest.queue.popleft()
            self._settled(delivery.key)

    async def _deliver(self, dest: _Destination, delivery: _Delivery) -> None:
        policy = self._policy
        deadline = self._clock() + policy.give_up_after
        delay = policy.first_delay
        while True:
            problem = await self._attempt(dest, delivery)
            if problem is None:
                if dest.state is not DestinationState.UP:
                    log.info("Callback receiver %s answers again", dest.url)
                dest.state = DestinationState.UP
                self.delivered += 1
                return
            final = problem.startswith("HTTP 4") and not any(problem == f"HTTP {c}" for c in _RETRYABLE_4XX)
            if dest.state is DestinationState.UP:
                dest.state = DestinationState.RETRYING
                log.warning("Callback to %s failed (%s); retrying each event for up to %.0f s",
                            dest.url, problem, policy.give_up_after)
            if final or dest.state is DestinationState.DOWN or self._clock() + delay > deadline:
                if not final:
                    dest.state = DestinationState.DOWN
                self.dropped += 1
                log.info("Callback %s to %s dropped (%s)", delivery.label, dest.url, problem)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, policy.max_delay)

    async def _attempt(self, dest: _Destination, delivery: _Delivery) -> str | None:
        """``None`` on a 2xx answer, else what went wrong; :class:`_Refused` when the guard says no."""
        if self._guard is not None:
            try:
                self._guard()
            except EscError as refusal:
                raise _Refused(str(refusal)) from refusal
        try:
            status = await self._send(dest.url, delivery.body, delivery.headers)
        except (OSError, aiohttp.ClientError, TimeoutError) as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except ValueError as exc:  # the URL itself (IDNA, yarl): retrying cannot fix it
            return f"HTTP 400 (unusable URL: {type(exc).__name__}: {exc})"
        return None if 200 <= status < 300 else f"HTTP {status}"


class HttpSender:
    """The real ``Sender``: one aiohttp client session, created on first use, with short timeouts."""

    def __init__(self, *, timeout: float = 10.0) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(5.0, timeout))
        self._session: aiohttp.ClientSession | None = None

    async def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        async with self._session.post(url, data=body, headers=dict(headers), allow_redirects=False) as response:
            await response.read()
            return response.status

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class CallbackRouter:
    """``EventBus`` subscriber: events of registered transactions into the outbox and to the dispatcher."""

    def __init__(self, registry: CallbackRegistry, dispatcher: CallbackDispatcher, *,
                 clock: Clock = time.time) -> None:
        self.registry = registry
        self.dispatcher = dispatcher
        self._clock = clock

    def __call__(self, event: EscEvent) -> None:
        urls = self.registry.destinations(event.transaction_id)
        if not urls or event.transaction_id is None:
            return
        document = callback_body(event)
        event_id = str(document["stateMachineEventNBInfo"]["id"])
        body = json.dumps(document).encode("utf-8")
        headers = {**callback_headers(event), EVENT_ID_HEADER: event_id}
        label = f"{event.event_type.value} of transaction {event.transaction_id}"
        keys: list[int | None]
        try:
            keys = list(self.registry.store.enqueue(event.transaction_id, event_id,
                                                    [OutgoingPost(url, headers, body) for url in urls],
                                                    self._clock()))
        except LeadershipLost as error:  # fenced: the new active sends the group's events, this server none
            log.warning("Not sending %s: %s", label, error)
            return
        except EscError as error:  # still deliver, only not durably
            log.warning("Could not write %s to the callback outbox (%s); delivering without it", label, error)
            keys = [None] * len(urls)
        if not keys:
            return  # the outbox holds this event already (delivered again after a crash) and resumes it
        for url, key in zip(urls, keys, strict=True):
            self.dispatcher.submit(url, body, headers, label, key)


class CallbackService:
    """Registry, outbox, dispatcher and bus subscription, wired together; one per process.

    ``start`` loads the registrations, resubmits the outbox in order and subscribes to the bus: call it
    before the core resumes its operations, so their events find their callbacks. ``guard``: the
    dispatcher's (a group member's leadership check).
    """

    def __init__(self, store: CallbackStore, *, sender: Sender | None = None, policy: RetryPolicy = RetryPolicy(),
                 sweep_interval: float = 60.0, quiet_after: float = 3600.0, retention: float = 3600.0,
                 capacity: int = 10_000, queue_limit: int = 1000, check_url: UrlCheck | None = None,
                 guard: Callable[[], None] | None = None) -> None:
        self._http: HttpSender | None = None
        if sender is None:
            self._http = sender = HttpSender()
        self.store = store
        self.registry = CallbackRegistry(store, quiet_after=quiet_after, retention=retention, capacity=capacity)
        self.dispatcher = CallbackDispatcher(sender, policy=policy, queue_limit=queue_limit, settle=store.settle,
                                             check_url=check_url, guard=guard)
        self.router = CallbackRouter(self.registry, self.dispatcher)
        self._sweep_interval = sweep_interval
        self._unsubscribe: Callable[[], None] | None = None
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def started(self) -> bool:
        return self._unsubscribe is not None

    def start(self, bus: EventBus) -> int:
        """Load, resume and subscribe (on the running loop); returns how many deliveries were resumed."""
        if self.started:
            return 0
        self.registry.load()
        self.registry.sweep()
        pending = self.store.load_outbox()
        for delivery in pending:
            label = f"{delivery.headers.get(EVENT_ID_HEADER, 'event')} of transaction {delivery.transaction_id}"
            self.dispatcher.submit(delivery.url, delivery.body, delivery.headers, f"resumed {label}",
                                   delivery.delivery_id)
        if pending:
            log.info("Resumed %d pending callback deliveries", len(pending))
        self._unsubscribe = bus.subscribe(self.router)
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever(), name="callback sweeper")
        return len(pending)

    async def close(self) -> None:
        """Unsubscribe and stop delivering; what is still pending stays in the outbox."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        await self.dispatcher.close()
        if self._http is not None:
            await self._http.close()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval)
            try:
                pruned = self.registry.sweep()
            except EscError as error:
                log.warning("Could not prune the callback registrations: %s", error)
                continue
            if pruned:
                log.debug("Pruned %d finished callback registrations", pruned)
