"""The HTTP listener: one aiohttp application on the core's loop, for ESCManager and admin routes.

aiohttp was chosen because it runs on the asyncio loop that already owns the core (no second loop, no
thread hop per request), is well kept, and gives streaming bodies and client sessions for callbacks.
Authentication lives here, in one middleware: none on loopback for the ESCManager API, HTTP basic auth
against the NETCONF users elsewhere, and always for the admin routes that change the running server.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Middleware

from esc_netconf.users import UserDB

if TYPE_CHECKING:
    from esc_netconf.app import Application

MAX_BODY_BYTES = 1 * 2**20
APPLICATION_KEY: web.AppKey[Application] = web.AppKey("application")
ADMIN_PREFIX = "/ESCManager/admin/"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


def auth_middleware(users: UserDB, open_on_loopback: bool) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        needs_auth = request.path.startswith(ADMIN_PREFIX) or not open_on_loopback
        if needs_auth:
            creds = _credentials(request)
            # a wrong password costs a full scrypt (~50 ms): never on the loop that serves every session
            if creds is None or not await asyncio.to_thread(users.check_password, *creds):
                return web.Response(
                    status=401,
                    text="Authentication required: HTTP basic auth with a configured user.\n",
                    headers={"WWW-Authenticate": 'Basic realm="ESCManager"'},
                )
        return await handler(request)

    return middleware


@dataclass
class RestServer:
    runner: web.AppRunner
    port: int

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_rest(app: Application, users: UserDB) -> RestServer:
    from esc_netconf.app import is_loopback
    from esc_netconf.rest.admin import add_admin_routes

    web_app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[auth_middleware(users, open_on_loopback=is_loopback(app.options.host))],
    )
    web_app[APPLICATION_KEY] = app
    add_admin_routes(web_app)
    extra = getattr(app, "domain", None)
    if extra is not None:
        extra.add_rest_routes(web_app)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, app.options.host, app.options.rest_port, reuse_address=True)
    await site.start()
    sockets = runner.addresses
    port = int(sockets[0][1]) if sockets else app.options.rest_port
    return RestServer(runner, port)
