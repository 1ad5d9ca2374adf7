"""Bounds on the HTTP connections of the REST listener, so idle sockets cannot crowd out real clients.

aiohttp closes a connection that has no complete request for ``keepalive_timeout`` seconds, from its
first byte on (``rest_idle_timeout``: a silent socket, a slowly dribbled request line or header, a
keep-alive connection between requests). It has no bound on how many connections are open at once, so
this guard adds one: every ``interval`` it counts the server's connections, and when more than
``max_connections`` are open it force-closes the oldest ones that have no request in progress (the
``middleware`` marks a connection busy while one of its requests runs). A new client is the newest
connection, so the crowd goes first; 1,100 idle sockets are cut back to the bound within one interval
and a real request gets through. The first eviction of a burst is logged, then a count every 10 s.

The middleware also bounds how long a request body may take to arrive (``body_timeout``): the body is
read once, under a deadline, before the handler runs (aiohttp keeps it for the handler's own read), and
a client that does not send it in time gets 408.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger("esc_netconf.rest")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_LOG_INTERVAL = 10.0
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ConnectionGuard:
    """Caps the open connections of one ``web.Server`` (see the module docstring)."""

    def __init__(self, *, max_connections: int, body_timeout: float, interval: float = 0.25) -> None:
        self._max = max_connections
        self._body_timeout = body_timeout
        self._interval = interval
        self._busy: dict[RequestHandler, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._evicted = 0
        self._logged_at = -_LOG_INTERVAL
        self.evicted_total = 0

    def start(self, server: web.Server) -> None:
        """Start watching ``server`` (the runner's, after ``setup``) on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._watch(server), name="rest-connection-guard")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _watch(self, server: web.Server) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self.trim(server.connections)

    def trim(self, connections: list[RequestHandler]) -> int:
        """Close the oldest idle connections beyond the bound; returns how many were closed."""
        excess = len(connections) - self._max
        if excess <= 0:
            return 0
        closed = 0
        for handler in connections:  # oldest first: aiohttp keeps them in connection order
            if closed >= excess:
                break
            if handler in self._busy:
                continue
            handler.force_close()
            closed += 1
        self._count(closed)
        return closed

    def _count(self, closed: int) -> None:
        if not closed:
            return
        self.evicted_total += closed
        self._evicted += closed
        now = time.monotonic()
        if now - self._logged_at >= _LOG_INTERVAL:
            log.warning("More than %d HTTP connections open: closed %d idle ones, oldest first",
                        self._max, self._evicted)
            self._logged_at, self._evicted = now, 0

    def middleware(self) -> Middleware:
        """Marks the connection busy while a request runs, and reads the body under its deadline."""
        guard = self

        @web.middleware
        async def guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
            protocol = request.protocol
            guard._busy[protocol] = guard._busy.get(protocol, 0) + 1
            try:
                if request.method in _BODY_METHODS and request.can_read_body:
                    try:
                        async with asyncio.timeout(guard._body_timeout):
                            await request.read()
                    except TimeoutError:
                        return web.Response(status=408, text=(
                            f"The request body did not arrive within {guard._body_timeout:g} s.\n"),
                            headers={"Connection": "close"})
                return await handler(request)
            finally:
                remaining = guard._busy.get(protocol, 1) - 1
                if remaining:
                    guard._busy[protocol] = remaining
                else:
                    guard._busy.pop(protocol, None)

        return guarded
