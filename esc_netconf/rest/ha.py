"""``GET /ESCManager/v0/ha`` (the group role, CONTRACT section 8) and the standby's REST behaviour: every
other request is answered 503 naming the active, since only the active may act."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

HA_PATH = "/ESCManager/v0/ha"
STATUS_PATH = "/ESCManager/admin/status"

HaView = Callable[[], Awaitable[dict[str, Any]]]
"""``{"role", "node", "active": {"host", "netconf_port", "rest_port"} | None}``."""


def add_ha_routes(web_app: web.Application, view: HaView) -> None:
    async def ha(_request: web.Request) -> web.Response:
        return web.json_response(await view())

    web_app.router.add_get(HA_PATH, ha)


def standby_middleware(view: HaView) -> Callable[..., Any]:
    """Refuse (503, naming the active) every request but the role and the status: a standby does not act."""

    @web.middleware
    async def middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
        if request.method in ("GET", "HEAD") and request.path in (HA_PATH, STATUS_PATH):
            return await handler(request)
        state = await view()
        active = state.get("active")
        where = (f"http://{active['host']}:{active['rest_port']}" if isinstance(active, dict)
                 else "no active at the moment (a takeover is under way)")
        return web.json_response(
            {"error": f"This ESC is a standby; send requests to the active: {where}.", "active": active},
            status=503, headers={"Retry-After": "1"})

    return middleware
