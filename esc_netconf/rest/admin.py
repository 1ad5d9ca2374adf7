"""Admin routes used by ``escadm``: VIM manager settings (show, set, restart) and server status; and, with
the simulated VIM, what a server was booted with (user data, config drive, files), for day-0 checks.

``escadm vimmanager set`` changes the running server only; ``restart`` rereads application.properties,
dropping runtime changes, as ESC's VIM manager service restart does.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from aiohttp import web

from esc_netconf.rest.server import APPLICATION_KEY
from esc_netconf.settings import SettingsError
from esc_netconf.vim.base import VimNotFound
from esc_netconf.vim.sim import SimCloud

if TYPE_CHECKING:
    from esc_netconf.app import Application

SETTINGS_PATH = "/ESCManager/admin/vimmanager/settings"
RELOAD_PATH = "/ESCManager/admin/vimmanager/reload"
STATUS_PATH = "/ESCManager/admin/status"
SIM_BOOT_PATH = "/ESCManager/admin/sim/servers/{server_id}/boot"


def _app(request: web.Request) -> Application:
    return request.app[APPLICATION_KEY]


async def show_settings(request: web.Request) -> web.Response:
    return web.json_response(_app(request).settings.snapshot(), dumps=lambda v: json.dumps(v, indent=2, sort_keys=True))


async def put_settings(request: web.Request) -> web.Response:
    try:
        changes = await request.json()
    except json.JSONDecodeError as exc:
        return web.json_response({"error": f"The body is not JSON: {exc.msg}."}, status=400)
    if not isinstance(changes, dict) or not changes or not all(isinstance(v, (str, int, float)) for v in changes.values()):
        return web.json_response({"error": "The body must be a JSON object of key: value pairs."}, status=400)
    try:
        stored = _app(request).settings.set_many({str(k): str(v) for k, v in changes.items()})
    except SettingsError as exc:
        return web.json_response({"error": str(exc), "key": exc.key}, status=400)
    return web.json_response({"updated": stored})


async def reload_settings(request: web.Request) -> web.Response:
    try:
        _app(request).settings.reload()
    except SettingsError as exc:
        return web.json_response({"error": str(exc), "key": exc.key}, status=400)
    return web.json_response({"reloaded": True})


async def status(request: web.Request) -> web.Response:
    app = _app(request)
    report = await app.health()
    code = 200 if all(part["ok"] for part in report.values()) else 503
    return web.json_response(report, status=code)


async def sim_boot_data(request: web.Request) -> web.Response:
    """``{"config_drive": bool, "user_data": str|null, "files": {path: text}}`` of one simulated server."""
    driver = _app(request).domain.driver
    server_id = request.match_info["server_id"]
    if not isinstance(driver, SimCloud):
        return web.json_response({"error": "Boot data is kept by the simulated VIM only (--vim sim)."}, status=404)
    try:
        boot = await driver.server_boot_data(server_id)
    except VimNotFound as exc:
        return web.json_response({"error": exc.message}, status=404)
    return web.json_response({"config_drive": boot.config_drive, "user_data": boot.user_data, "files": boot.files})


def add_admin_routes(web_app: web.Application) -> None:
    web_app.router.add_get(SETTINGS_PATH, show_settings)
    web_app.router.add_put(SETTINGS_PATH, put_settings)
    web_app.router.add_post(RELOAD_PATH, reload_settings)
    web_app.router.add_get(STATUS_PATH, status)
    web_app.router.add_get(SIM_BOOT_PATH, sim_boot_data)
