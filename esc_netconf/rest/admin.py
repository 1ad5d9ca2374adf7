"""Admin routes used by ``escadm``: VIM manager settings (show, set, restart) and server status; and, with
the simulated VIM, what a server was booted with (user data, config drive, files), for day-0 checks.

``escadm vimmanager set`` changes the running server only; ``restart`` rereads application.properties,
dropping runtime changes, as ESC's VIM manager service restart does. The routes see the server only
through ``AdminBackend`` (the application implements it), so this module imports nothing above it.
"""

from __future__ import annotations

import json
from typing import Protocol

from aiohttp import web

from esc_netconf.settings import SettingsError, VimManagerSettings
from esc_netconf.vim.base import VimNotFound

SETTINGS_PATH = "/ESCManager/admin/vimmanager/settings"
RELOAD_PATH = "/ESCManager/admin/vimmanager/reload"
STATUS_PATH = "/ESCManager/admin/status"
SIM_BOOT_PATH = "/ESCManager/admin/sim/servers/{server_id}/boot"


class AdminBackend(Protocol):
    """What the admin routes need from the running server."""

    @property
    def settings(self) -> VimManagerSettings: ...

    async def health(self) -> dict[str, dict[str, object]]:
        """Each part of the server with ``ok`` and a few facts (``escadm status``)."""
        ...

    async def sim_boot_data(self, server_id: str) -> dict[str, object] | None:
        """What a simulated server was booted with (day-0 checks); ``None`` under another VIM.

        :raises VimNotFound: no such server."""
        ...


BACKEND_KEY: web.AppKey[AdminBackend] = web.AppKey("admin_backend")


def _backend(request: web.Request) -> AdminBackend:
    return request.app[BACKEND_KEY]


async def show_settings(request: web.Request) -> web.Response:
    return web.json_response(_backend(request).settings.snapshot(),
                             dumps=lambda v: json.dumps(v, indent=2, sort_keys=True))


async def put_settings(request: web.Request) -> web.Response:
    try:
        changes = await request.json()
    except json.JSONDecodeError as exc:
        return web.json_response({"error": f"The body is not JSON: {exc.msg}."}, status=400)
    except RecursionError:
        return web.json_response({"error": "The JSON body is nested too deeply."}, status=400)
    if not isinstance(changes, dict) or not changes or not all(isinstance(v, (str, int, float)) for v in changes.values()):
        return web.json_response({"error": "The body must be a JSON object of key: value pairs."}, status=400)
    try:
        stored = _backend(request).settings.set_many({str(k): str(v) for k, v in changes.items()})
    except SettingsError as exc:
        return web.json_response({"error": str(exc), "key": exc.key}, status=400)
    return web.json_response({"updated": stored})


async def reload_settings(request: web.Request) -> web.Response:
    try:
        _backend(request).settings.reload()
    except SettingsError as exc:
        return web.json_response({"error": str(exc), "key": exc.key}, status=400)
    return web.json_response({"reloaded": True})


async def status(request: web.Request) -> web.Response:
    report = await _backend(request).health()
    code = 200 if all(part["ok"] for part in report.values()) else 503
    return web.json_response(report, status=code)


async def sim_boot_data(request: web.Request) -> web.Response:
    """``{"config_drive": bool, "user_data": str|null, "files": {path: text}}`` of one simulated server."""
    server_id = request.match_info["server_id"]
    try:
        boot = await _backend(request).sim_boot_data(server_id)
    except VimNotFound as exc:
        return web.json_response({"error": exc.message}, status=404)
    if boot is None:
        return web.json_response({"error": "Boot data is kept by the simulated VIM only (--vim sim)."}, status=404)
    return web.json_response(boot)


def add_admin_routes(web_app: web.Application, backend: AdminBackend) -> None:
    web_app[BACKEND_KEY] = backend
    web_app.router.add_get(SETTINGS_PATH, show_settings)
    web_app.router.add_put(SETTINGS_PATH, put_settings)
    web_app.router.add_post(RELOAD_PATH, reload_settings)
    web_app.router.add_get(STATUS_PATH, status)
    web_app.router.add_get(SIM_BOOT_PATH, sim_boot_data)
