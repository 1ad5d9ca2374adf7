"""``GET /ESCManager/v0/ha`` (the group role, CONTRACT section 8), ``POST /ESCManager/v0/ha/switchover``
(``escadm ha switchover``) and the standby's REST behaviour: reads are answered from the shared store,
every change is answered 503 naming the active, since only the active may act."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from aiohttp import web

from esc_netconf.ha.switchover import SwitchoverRefused

HA_PATH = "/ESCManager/v0/ha"
SWITCHOVER_PATH = HA_PATH + "/switchover"
STATUS_PATH = "/ESCManager/admin/status"
API_PREFIX = "/ESCManager/v0/"

HaView = Callable[[], Awaitable[dict[str, Any]]]
"""``{"role", "node", "active": {"host", "netconf_port", "rest_port"} | None}``."""

Switchover = Callable[[str | None], Awaitable[dict[str, Any]]]
"""Hand the role to the standby named (or any): ``{"previous", "node", "active"}``; raises SwitchoverRefused."""

Reading = Callable[[], AbstractAsyncContextManager[None]]
"""Around a standby's read: bring its copy of the shared store up to date, and keep it so until answered."""


def add_ha_routes(web_app: web.Application, view: HaView, switchover: Switchover | None = None) -> None:
    async def ha(_request: web.Request) -> web.Response:
        return web.json_response(await view())

    async def switch(request: web.Request) -> web.Response:
        try:
            to = _target(await request.read())
        except BadSwitchoverBody as bad:
            return web.json_response({"error": str(bad)}, status=400)
        if switchover is None:
            return web.json_response({"error": "This ESC is not a member of a group: there is no standby to hand "
                                               "over to (give the servers one --database postgresql://...)."},
                                     status=409)
        try:
            return web.json_response(await switchover(to))
        except SwitchoverRefused as refused:
            return web.json_response({"error": refused.message}, status=refused.status)

    web_app.router.add_get(HA_PATH, ha)
    web_app.router.add_post(SWITCHOVER_PATH, switch)


class BadSwitchoverBody(ValueError):
    """A switchover request whose body is neither empty nor ``{"to": "<node>"}``."""


def _target(body: bytes) -> str | None:
    """The optional ``{"to": "<node>"}`` of a switchover request.

    :raises BadSwitchoverBody: a body that is not that.
    """
    if not body.strip():
        return None
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        parsed = None
    if not isinstance(parsed, dict) or set(parsed) - {"to"} or not isinstance(parsed.get("to", ""), str):
        raise BadSwitchoverBody('The body must be empty or {"to": "<node>"}.')
    to = parsed.get("to")
    return str(to) if to else None


def standby_middleware(view: HaView, reading: Reading | None, acting: Callable[[], bool] | None = None
                       ) -> Callable[..., Any]:
    """Answer reads (inside ``reading``: from an up-to-date copy of the shared store) and refuse every change, 503
    naming the active. ``acting``: on the active, which passes everything while it acts and behaves as a
    standby once it stopped acting (a switchover under way, or its lease lost) until its listeners change.

    A switchover request passes: its route refuses it on a standby (409) naming the active."""

    @web.middleware
    async def middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
        if acting is not None and acting():
            return await handler(request)
        if request.method in ("GET", "HEAD"):
            if reading is not None and request.path.startswith(API_PREFIX) and request.path != HA_PATH:
                async with reading():
                    return await handler(request)
            return await handler(request)
        if request.method == "POST" and request.path == SWITCHOVER_PATH:
            return await handler(request)
        state = await view()
        active = state.get("active")
        where = (f"http://{active['host']}:{active['rest_port']}" if isinstance(active, dict)
                 else "no active at the moment (a takeover is under way)")
        return web.json_response(
            {"error": f"This ESC is a standby; send requests to the active: {where}.", "active": active},
            status=503, headers={"Retry-After": "1"})

    return middleware
