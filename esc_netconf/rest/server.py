"""The HTTP listener: one aiohttp application on the core's loop, for ESCManager and admin routes.

aiohttp was chosen because it runs on the asyncio loop that already owns the core (no second loop, no
thread hop per request), is well kept, and gives streaming bodies and client sessions for callbacks.
Authentication lives here, in one middleware: none on loopback for the ESCManager API, HTTP basic auth
against the NETCONF users elsewhere, and always for the admin routes that change the running server.
Wrong passwords feed the per-address ``AuthThrottle`` (shared with SSH): an address that must wait gets
429 with ``Retry-After`` and its password is not even checked.

The listener is bounded (``connections``): idle and half-sent requests are closed after
``rest_idle_timeout``, bodies must arrive within ``rest_body_timeout``, and beyond
``rest_max_connections`` the oldest idle connections are closed. Which routes it serves is the
caller's business (``routes``): this module knows nothing of the application that wires it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

from esc_netconf.auth_throttle import AuthThrottle
from esc_netconf.limits import EdgeLimits
from esc_netconf.rest.connections import ConnectionGuard
from esc_netconf.users import UserDB

MAX_BODY_BYTES = 1 * 2**20
ADMIN_PREFIX = "/ESCManager/admin/"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RouteInstaller = Callable[[web.Application], object]


def _credentials(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _unauthorized() -> web.Response:
    return web.Response(
        status=401,
        text="Authentication required: HTTP basic auth with a configured user.\n",
        headers={"WWW-Authenticate": 'Basic realm="ESCManager"'},
    )


def auth_middleware(users: UserDB, open_on_loopback: bool, throttle: AuthThrottle | None = None) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        needs_auth = request.path.startswith(ADMIN_PREFIX) or not open_on_loopback
        if needs_auth:
            creds = _credentials(request)
            if creds is None:
                return _unauthorized()
            address = request.remote or ""
            wait = throttle.wait_for(address) if throttle is not None else 0.0
            if wait > 0:
                return web.Response(
                    status=429, headers={"Retry-After": str(math.ceil(wait))},
                    text=f"Too many failed logins from {address}: try again in {math.ceil(wait)} s.\n")
            # a wrong password costs a full scrypt (~50 ms): never on the loop that serves every session
            if not await asyncio.to_thread(users.check_password, *creds):
                if throttle is not None:
                    throttle.failed(address, f"REST basic auth of user {creds[0]!r}")
                return _unauthorized()
            if throttle is not None:
                throttle.succeeded(address)
        return await handler(request)

    return middleware


@dataclass
class RestServer:
    runner: web.AppRunner
    port: int
    guard: ConnectionGuard

    async def stop_listening(self) -> None:
        """Accept no more connections; the application (its callbacks among it) stays up until
        :meth:`stop`, so the events the core delivers while it winds down still reach the callback outbox."""
        for site in list(self.runner.sites):
            await site.stop()

    async def stop(self) -> None:
        await self.guard.stop()
        await self.runner.cleanup()


async def start_rest(host: str, port: int, *, users: UserDB, open_on_loopback: bool,
                     routes: Sequence[RouteInstaller], limits: EdgeLimits = EdgeLimits(),
                     throttle: AuthThrottle | None = None) -> RestServer:
    """Listen on ``host``:``port`` (0 = any free port) with the routes ``routes`` install.

    :raises OSError: the address cannot be bound.
    """
    web_app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[auth_middleware(users, open_on_loopback=open_on_loopback, throttle=throttle)],
    )
    for install in routes:
        install(web_app)
    guard = ConnectionGuard(max_connections=limits.rest_max_connections, body_timeout=limits.rest_body_timeout)
    web_app.middlewares.append(guard.middleware())  # innermost: a 413 while reading still meets the API's errors
    runner = web.AppRunner(web_app, access_log=None, keepalive_timeout=limits.rest_idle_timeout)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    assert runner.server is not None
    guard.start(runner.server)
    sockets = runner.addresses
    bound = int(sockets[0][1]) if sockets else port
    return RestServer(runner, bound, guard)
