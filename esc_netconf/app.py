"""The application: builds every layer from the options and wires them together.

This is the only module that knows all the others. Start-up order follows the dependencies: the store,
the YANG model and the datastore, the notification hub, the VIM driver and the core (which resumes work
in flight), the northbound adapters, and last the listeners, so that nothing is served before the state
it serves is loaded. Shutdown runs the other way round.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from esc_netconf.errors import EscError
from esc_netconf.netconf.connection import NetconfConnection
from esc_netconf.netconf.datastore import Datastore
from esc_netconf.netconf.server import NetconfServer
from esc_netconf.netconf.subscriptions import NotificationHub, StreamInfo
from esc_netconf.netconf.yangmodel import YangModel
from esc_netconf.packaged import PackageDataError, yang_dir
from esc_netconf.settings import VimManagerSettings
from esc_netconf.ssh import ChannelWriter, PeerInfo, SshServer, load_or_create_host_keys
from esc_netconf.store import Database, SqlConfigStore, SqlReplayLog
from esc_netconf.users import UserDB

log = logging.getLogger("esc_netconf.app")

REPLAY_KEEP_LAST = 10_000  # events kept per stream for replay (a full replay stays below the session queue bound)
REPLAY_PRUNE_SECONDS = 600.0


class StartupError(EscError):
    """The server cannot start as configured; the message tells the operator what to change."""


def default_yang_dir() -> Path:
    """The shipped YANG modules: the package ``esc_netconf.yang``, which is ``yang/`` in a checkout or an
    editable install, and the copy inside the package when installed from a wheel."""
    try:
        return yang_dir()
    except PackageDataError as exc:
        raise StartupError(f"The YANG modules were not found: {exc}.") from exc


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except socket.gaierror:
            return False
        return all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


@dataclass
class Options:
    """What ``esc-netconf serve`` was asked for (CONTRACT section 1)."""

    host: str = "127.0.0.1"
    netconf_port: int = 830
    rest_port: int = 8080
    data_dir: Path = Path("var")
    vim: str = "sim"
    os_cloud: str | None = None
    properties: Path | None = None
    config: Path | None = None
    yang_dir: Path | None = None
    monitor_interval: float | None = None
    replay_keep_last: int = REPLAY_KEEP_LAST
    replay_prune_seconds: float = REPLAY_PRUNE_SECONDS


def load_users(options: Options) -> UserDB:
    """Configured users, or admin/admin only while every listener is on loopback."""
    if options.config is not None:
        users = UserDB.from_toml(options.config)
        if not users.is_empty:
            return users
    if not is_loopback(options.host):
        raise StartupError(
            f"Refusing to listen on {options.host} with the default admin/admin credentials: "
            "give users in --config (see README, 'Configuration')."
        )
    return UserDB.default_admin()


class Application:
    """One running server. ``start()`` then ``stop()``, on the loop that will own the core."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.netconf_port: int | None = None
        self.rest_port: int | None = None
        self._ssh: SshServer | None = None
        self._closers: list[object] = []

    async def start(self) -> None:
        options = self.options
        loop = asyncio.get_running_loop()
        users = load_users(options)
        data_dir = options.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)

        self.db = Database.open(data_dir / "esc.db")
        self.model = YangModel.load(options.yang_dir or default_yang_dir())
        self.datastore = Datastore(self.model, SqlConfigStore(self.db))
        self.replay_log = SqlReplayLog(self.db)
        self._retention = loop.create_task(self._keep_replay_bounded(), name="replay-retention")
        self.hub = NotificationHub(
            self.replay_log,
            [
                StreamInfo("NETCONF", "Default NETCONF event stream (RFC 6470 events)", True),
                StreamInfo("escEvent", "ESC lifecycle events", True),
            ],
            lambda: datetime.now(timezone.utc),
        )
        self.netconf = NetconfServer(self.model, self.datastore, self.hub)
        properties = options.properties or data_dir / "vimmanager" / "application.properties"
        self.settings = VimManagerSettings(properties, options.vim)

        await self._start_domain()

        host_keys = load_or_create_host_keys(data_dir)

        def handler(writer: ChannelWriter, peer: PeerInfo) -> NetconfConnection:
            return NetconfConnection(self.netconf, loop, writer, peer.username, peer.address)

        self._ssh = SshServer(options.host, options.netconf_port, host_keys, users, handler)
        self.netconf_port = await asyncio.to_thread(self._ssh.start)
        await self._start_rest(users)
        log.info("NETCONF on %s:%d, REST on %s:%d", options.host, self.netconf_port, options.host, self.rest_port)

    async def _keep_replay_bounded(self) -> None:
        """Bounded retention of the replay log: prune at start and then periodically, off the loop.

        A failed prune (database locked past the busy timeout, disk full, a bug) is logged and tried again
        at the next period: a task that died on its first error would let the log grow without bound,
        silently.
        """
        while True:
            try:
                await asyncio.to_thread(self.replay_log.prune, self.options.replay_keep_last)
            except Exception:
                log.exception("Could not prune the replay log; trying again in %.0f s",
                              self.options.replay_prune_seconds)
            await asyncio.sleep(self.options.replay_prune_seconds)

    async def _start_domain(self) -> None:
        """The VIM driver, the core and the northbound adapters (wired in ``domain.py``)."""
        from esc_netconf.domain import start_domain

        self.domain = await start_domain(self)

    async def _start_rest(self, users: UserDB) -> None:
        from esc_netconf.rest.server import start_rest

        self.rest = await start_rest(self, users)
        self.rest_port = self.rest.port

    async def health(self) -> dict[str, dict[str, object]]:
        """What ``escadm status`` shows: each part with ``ok`` and a few facts."""
        report: dict[str, dict[str, object]] = {
            "netconf": {"ok": self.netconf_port is not None, "port": self.netconf_port,
                        "sessions": len(self.netconf.sessions)},
            "rest": {"ok": self.rest_port is not None, "port": self.rest_port},
        }
        try:
            flavors = await self.domain.driver.list_flavors()
            report["vim"] = {"ok": True, "driver": self.options.vim, "flavors": len(flavors)}
        except EscError as exc:
            report["vim"] = {"ok": False, "driver": self.options.vim, "error": str(exc)}
        try:
            report["store"] = {"ok": True, "revision": await asyncio.to_thread(self.db.revision)}
        except EscError as exc:
            report["store"] = {"ok": False, "error": str(exc)}
        return report

    async def stop(self) -> None:
        retention = getattr(self, "_retention", None)
        if retention is not None:
            retention.cancel()
            await asyncio.gather(retention, return_exceptions=True)
        if self._ssh is not None:
            await asyncio.to_thread(self._ssh.stop)
        rest = getattr(self, "rest", None)
        if rest is not None:
            await rest.stop()
        domain = getattr(self, "domain", None)
        if domain is not None:
            await domain.stop()
        db = getattr(self, "db", None)
        if db is not None:
            db.close()
