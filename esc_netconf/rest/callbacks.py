"""REST callbacks: which URLs want a transaction's events, and delivering them without hurting the core.

Theory of operation
-------------------
A request with ``callback``/``Callback-ESC-Events`` headers registers its transaction id and URLs in the
``CallbackRegistry`` *before* it calls the core (the core may publish the first event during the call).
``CallbackRouter`` is an ``EventBus`` subscriber: for an event whose ``transaction_id`` is registered it
renders the JSON once and hands it to the ``CallbackDispatcher`` -- a non-blocking ``put`` into the
destination's queue, so publishing never waits for the network.  Registrations expire ``ttl`` seconds
after their last event (longer than any operation's VIM timeout) and the registry is bounded.

The dispatcher runs one worker task per destination URL, so one receiver gets its events in order and a
slow one delays nobody else.  Each destination is in one of three states::

    UP --attempt fails--> RETRYING (one warning logged) --retries exhausted--> DOWN
    RETRYING/DOWN --attempt succeeds--> UP (logged)

While UP or RETRYING an event is retried with exponential backoff until ``give_up_after`` seconds after
its first attempt.  While DOWN each event gets a single attempt: a dead receiver costs one failed
connection per event and one log line, and nothing queues up behind it.  A 4xx answer other than 408/429
is final (retrying cannot fix it).  A queue holds at most ``queue_limit`` events; a worker that has been
idle for ``idle_exit`` seconds ends, and the next event starts a new one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

import aiohttp

from esc_netconf.core.events import EscEvent
from esc_netconf.rest.callback_events import callback_body, callback_headers

__all__ = ["CallbackDispatcher", "CallbackRegistry", "CallbackRouter", "HttpSender", "RetryPolicy", "Sender"]

log = logging.getLogger(__name__)

#: ``send(url, body, headers)`` -> the HTTP status; raises ``OSError``/``aiohttp.ClientError``/``TimeoutError``.
Sender = Callable[[str, bytes, Mapping[str, str]], Awaitable[int]]
Clock = Callable[[], float]

_RETRYABLE_4XX = frozenset({408, 429})


class CallbackRegistry:
    """Transaction id -> callback URLs, expiring ``ttl`` seconds after last use, at most ``capacity``."""

    def __init__(self, *, ttl: float = 3600.0, capacity: int = 10_000, clock: Clock = time.monotonic) -> None:
        self._ttl = ttl
        self._capacity = capacity
        self._clock = clock
        self._routes: OrderedDict[str, tuple[float, tuple[str, ...]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._routes)

    def register(self, transaction_id: str, urls: Sequence[str]) -> None:
        """Send the events of ``transaction_id`` to ``urls`` (duplicates removed, order kept)."""
        unique = tuple(dict.fromkeys(urls))
        if unique:
            self._touch(transaction_id, unique)

    def forget(self, transaction_id: str) -> None:
        """The request was refused: no event will come."""
        self._routes.pop(transaction_id, None)

    def destinations(self, transaction_id: str | None) -> tuple[str, ...]:
        """The URLs registered for ``transaction_id`` (and keep the registration alive)."""
        self._purge()
        if transaction_id is None or transaction_id not in self._routes:
            return ()
        urls = self._routes[transaction_id][1]
        self._touch(transaction_id, urls)
        return urls

    def _touch(self, transaction_id: str, urls: tuple[str, ...]) -> None:
        self._routes[transaction_id] = (self._clock(), urls)
        self._routes.move_to_end(transaction_id)
        self._purge()

    def _purge(self) -> None:
        oldest = self._clock() - self._ttl
        while self._routes:
            seen, _ = next(iter(self._routes.values()))
            if seen >= oldest and len(self._routes) <= self._capacity:
                break
            self._routes.popitem(last=False)


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


@dataclass(eq=False)
class _Destination:
    url: str
    queue: deque[_Delivery] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    state: DestinationState = DestinationState.UP
    task: asyncio.Task[None] | None = None


class CallbackDispatcher:
    """Delivers callback POSTs in the background, in order per URL, retrying within bounds."""

    def __init__(self, send: Sender, *, policy: RetryPolicy = RetryPolicy(), queue_limit: int = 1000,
                 idle_exit: float = 30.0, clock: Clock = time.monotonic) -> None:
        self._send = send
        self._policy = policy
        self._queue_limit = queue_limit
        self._idle_exit = idle_exit
        self._clock = clock
        self._destinations: dict[str, _Destination] = {}
        self._closed = False
        self.delivered = 0
        self.dropped = 0

    def submit(self, url: str, body: bytes, headers: Mapping[str, str], label: str = "event") -> None:
        """Queue one POST to ``url``; returns at once (call it on the loop that runs the dispatcher)."""
        if self._closed:
            return
        dest = self._destinations.get(url)
        if dest is None:
            dest = self._destinations[url] = _Destination(url)
        if len(dest.queue) >= self._queue_limit:
            self.dropped += 1
            log.warning("Callback queue for %s is full (%d events); dropped %s", url, self._queue_limit, label)
            return
        dest.queue.append(_Delivery(body, headers, label))
        dest.wakeup.set()
        if dest.task is None or dest.task.done():
            dest.task = asyncio.get_running_loop().create_task(self._run(dest), name=f"callback {url}")

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
        """Stop every worker; events still queued are dropped."""
        self._closed = True
        tasks = [d.task for d in self._destinations.values() if d.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._destinations.clear()

    async def _run(self, dest: _Destination) -> None:
        while True:
            if not dest.queue:
                dest.wakeup.clear()
                try:
                    await asyncio.wait_for(dest.wakeup.wait(), self._idle_exit)
                except TimeoutError:
                    if not dest.queue:
                        self._destinations.pop(dest.url, None)
                        return
                continue
            delivery = dest.queue[0]
            await self._deliver(dest, delivery)
            dest.queue.popleft()

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
        """``None`` on a 2xx answer, else what went wrong."""
        try:
            status = await self._send(dest.url, delivery.body, delivery.headers)
        except (OSError, aiohttp.ClientError, TimeoutError) as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
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
    """``EventBus`` subscriber: events of registered transactions to the dispatcher, as JSON."""

    def __init__(self, registry: CallbackRegistry, dispatcher: CallbackDispatcher) -> None:
        self.registry = registry
        self.dispatcher = dispatcher

    def __call__(self, event: EscEvent) -> None:
        urls = self.registry.destinations(event.transaction_id)
        if not urls:
            return
        body = json.dumps(callback_body(event)).encode("utf-8")
        headers = callback_headers(event)
        label = f"{event.event_type.value} of transaction {event.transaction_id}"
        for url in urls:
            self.dispatcher.submit(url, body, headers, label)
