"""The application, and the composition root: builds every layer from the options and wires them together.

This is the only module that knows all the others, and nothing imports it but the command that runs it
(``cli/serve.py``) and tests: every other module imports inward only. Start-up order follows the
dependencies: the data dir and the store, the YANG model and the datastore, the notification hub, the
domain (VIM driver, core, snapshots; ``domain.py``) with the REST callbacks subscribed before the core
resumes work in flight, the northbound adapters, and last the listeners, so that nothing is served
before the state it serves is loaded. Shutdown runs the other way round.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any
from pathlib import Path

from aiohttp import web

from esc_netconf.addresses import is_loopback
from esc_netconf.auth_throttle import AuthThrottle
from esc_netconf.domain import Domain, attach_northbound, build_domain, opdata_provider
from esc_netconf.errors import EscError
from esc_netconf import gcpolicy, gilshare, mallocpolicy
from esc_netconf.ha.member import GroupMember
from esc_netconf.ha.service_events import in_service, out_of_service
from esc_netconf.ha.standby import ActiveMemberNetconfServer, StandbyNetconfServer
from esc_netconf.ha.standby_reads import StoredState
from esc_netconf.ha.switchover import SwitchoverRefused, switch_over
from esc_netconf.limits import EdgeLimits
from esc_netconf.netconf.connection import NetconfConnection
from esc_netconf.netconf.datastore import Datastore
from esc_netconf.netconf.server import NetconfServer
from esc_netconf.netconf.subscriptions import NotificationHub, StreamInfo
from esc_netconf.netconf.yangmodel import YangModel
from esc_netconf.packaged import PackageDataError, yang_dir
from esc_netconf.options import REPLAY_KEEP_LAST, REPLAY_PRUNE_SECONDS, Options
from esc_netconf.private_files import private_dir, private_file, tighten_if_present
from esc_netconf.rest.admin import add_admin_routes
from esc_netconf.rest.ha import add_ha_routes, standby_middleware
from esc_netconf.rest.callback_urls import CallbackUrlPolicy
from esc_netconf.rest.callbacks import CallbackService
from esc_netconf.rest.escmanager import add_escmanager_routes
from esc_netconf.rest.server import RestServer, start_rest
from esc_netconf.settings import VimManagerSettings
from esc_netconf.ssh import ChannelWriter, PeerInfo, SshLimits, SshServer, load_or_create_host_keys
from esc_netconf.store import Database, SqlConfigStore, SqlReplayLog
from esc_netconf.store.callback_store import SqlCallbackStore
from esc_netconf.store.errors import StoreError
from esc_netconf.users import UserDB
from esc_netconf.vim.sim import SimCloud

__all__ = ["REPLAY_KEEP_LAST", "REPLAY_PRUNE_SECONDS", "Application", "Options", "StartupError", "is_loopback"]

log = logging.getLogger("esc_netconf.app")

DATABASE_FILE = "esc.db"


class StartupError(EscError):
    """The server cannot start as configured; the message tells the operator what to change."""


def default_yang_dir() -> Path:
    """The shipped YANG modules: the package ``esc_netconf.yang``, which is ``yang/`` in a checkout or an
    editable install, and the copy inside the package when installed from a wheel."""
    try:
        return yang_dir()
    except PackageDataError as exc:
        raise StartupError(f"The YANG modules were not found: {exc}.") from exc


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


def ssh_limits(limits: EdgeLimits) -> SshLimits:
    """The transport's tunables from the ``[limits]`` settings."""
    return SshLimits(
        handshake_timeout=limits.ssh_login_grace,
        max_auth_failures=limits.ssh_max_auth_failures,
        max_connections=limits.ssh_max_connections,
        max_preauth=limits.ssh_max_preauth,
        max_preauth_per_source=limits.ssh_max_preauth_per_source,
        max_channels=limits.ssh_max_channels,
    )


def open_private_database(data_dir: Path) -> Database:
    """``<data_dir>/esc.db``, created 0600 before SQLite sees it (its -wal and -shm inherit the mode)."""
    path = private_file(data_dir / DATABASE_FILE)
    for companion in ("-wal", "-shm"):
        tighten_if_present(path.with_name(path.name + companion))
    return Database.open(path)


class Application:
    """One running server. ``start()`` then ``stop()``, on the loop that will own the core.

    With a PostgreSQL ``--database`` the server is a member of a group (CONTRACT section 8): it starts as
    the active if the lease is free, otherwise as a standby (listeners up, reads only) that becomes the
    active when the lease frees, on the same ports. An active that loses the lease, or hands it over
    (:meth:`switchover`), winds its work down and becomes a standby again, on the same ports. Only when
    it cannot change role does it set :attr:`fenced`; the command then stops the process.
    """

    def __init__(self, options: Options) -> None:
        self.options = options
        self.netconf_port: int | None = None
        self.rest_port: int | None = None
        self._ssh: SshServer | None = None
        self.domain: Domain | None = None
        self.rest: RestServer | None = None
        self.callbacks: CallbackService | None = None
        self.member: GroupMember | None = None
        self.fenced = asyncio.Event()
        self.fenced_reason = ""
        self._group_task: asyncio.Task[None] | None = None
        self._serving_as_active = False  # the active's listeners are up (see :attr:`role`)
        self._gil_shared = False  # counted in gilshare.serving and mallocpolicy.serving (start to stop)
        self._switching = asyncio.Lock()
        self._answered = asyncio.Event()  # a switchover's answer is out: the listeners may be swapped

    @property
    def settings(self) -> VimManagerSettings:
        """The VIM manager settings (``escadm vimmanager``; the admin routes' ``AdminBackend``)."""
        return self._settings

    @property
    def role(self) -> str:
        """``active`` or ``standby`` (a server without a group is always active). A member is the active once
        it holds the lease and its active's listeners serve: between winning the lease and swapping its
        listeners, the standby's still answer (a client told "active" then would find NETCONF closed)."""
        if self.member is None:
            return "active"
        return "active" if self._serving_as_active and self.member.role == "active" else "standby"

    async def start(self) -> None:
        await self._start()
        # from here on the loop serves: no store write may make it wait (Database.guard_loop)
        self.db.guard_loop(threading.get_ident())
        gcpolicy.apply()  # last: what start-up loaded is long-lived (see gcpolicy)
        gilshare.serving(True)  # clients wait on the loop now: background threads pause for it
        mallocpolicy.serving(True)  # and no thread merges a heap's worth of freed blocks holding the GIL
        self._gil_shared = True
        policy = gcpolicy.applied()
        if policy.sweep_secs is not None:
            self._gc_sweeps = asyncio.get_running_loop().create_task(self._sweep_garbage(policy.sweep_secs),
                                                                     name="gc-sweep")
        if policy.young_secs is not None:
            self._gc_young = asyncio.get_running_loop().create_task(self._collect_young(policy.young_secs),
                                                                    name="gc-young")

    @staticmethod
    async def _collect_young(period: float) -> None:
        """Collect the young generation every ``period`` seconds (gcpolicy: its count can hide its size)."""
        while True:
            await asyncio.sleep(period)
            gc.collect(0)

    @staticmethod
    async def _sweep_garbage(period: float) -> None:
        """Free, every ``period`` seconds, the cyclic garbage the collector policy's freezes kept (gcpolicy)."""
        while True:
            await asyncio.sleep(period)
            started = time.perf_counter()
            found = gcpolicy.sweep()
            log.debug("gc sweep: %d unreachable objects freed in %.0f ms", found,
                      (time.perf_counter() - started) * 1000)

    async def _start(self) -> None:
        options = self.options
        self._users = load_users(options)
        self._throttle = AuthThrottle(options.limits)
        private_dir(options.data_dir)
        self.db = Database.open(options.database) if options.database else open_private_database(options.data_dir)
        self.model = YangModel.load(options.yang_dir or default_yang_dir())
        properties = options.properties or options.data_dir / "vimmanager" / "application.properties"
        self._settings = VimManagerSettings(properties, options.vim)
        self._host_keys = load_or_create_host_keys(options.data_dir)
        if not self.db.is_postgresql:
            await self._start_active()
            return
        self.member = member = GroupMember(self.db, host=options.host, takeover_secs=options.ha_takeover_secs)
        await member.announce()
        renewing = self._renew() if await member.try_acquire() else None
        try:
            await (self._start_active() if renewing is not None else self._start_standby())
            member.set_address(options.host, self._bound(self.netconf_port), self._bound(self.rest_port))
            if renewing is not None:
                await member.publish()
        except BaseException:
            if renewing is not None:
                renewing.cancel()
            raise
        self._group_task = asyncio.get_running_loop().create_task(self._membership(renewing), name="ha-membership")

    @staticmethod
    def _bound(port: int | None) -> int:
        assert port is not None
        return port

    def _hub(self, *, standby: bool = False) -> NotificationHub:
        """The notification streams. A standby writes nothing to the shared store, so its own NETCONF
        session events are delivered live but not logged for replay; escEvent replays the group's log.
        The active of a group offers events live only while it holds its lease."""
        member = self.member
        return NotificationHub(
            self.replay_log,
            [
                StreamInfo("NETCONF", "Default NETCONF event stream (RFC 6470 events)", not standby),
                StreamInfo("escEvent", "ESC lifecycle events", True),
            ],
            lambda: datetime.now(timezone.utc),
            live=None if standby or member is None else member.leadership.holds_lease,
        )

    async def _start_ssh(self, netconf: NetconfServer) -> None:
        loop = asyncio.get_running_loop()

        def handler(writer: ChannelWriter, peer: PeerInfo) -> NetconfConnection:
            return NetconfConnection(netconf, loop, writer, peer.username, peer.address)

        self._ssh = SshServer(self.options.host, self.options.netconf_port, self._host_keys, self._users, handler,
                              limits=ssh_limits(self.options.limits), throttle=self._throttle)
        self.netconf_port = await asyncio.to_thread(self._ssh.start)

    async def _start_active(self) -> None:
        options = self.options
        limits = options.limits
        loop = asyncio.get_running_loop()
        self.datastore = Datastore(self.model, SqlConfigStore(self.db))
        self.replay_log = SqlReplayLog(self.db)
        self._retention = loop.create_task(self._keep_replay_bounded(), name="replay-retention")
        self.hub = self._hub()
        member = self.member
        self.netconf = (NetconfServer(self.model, self.datastore, self.hub) if member is None else
                        ActiveMemberNetconfServer(self.model, self.datastore, self.hub, self._active_netconf,
                                                  acting=member.leadership.is_active))

        url_policy = CallbackUrlPolicy(
            max_urls=limits.callback_max_urls, allowed_hosts=limits.callback_allowed_hosts, own_host=options.host,
            own_ports=lambda: (self.netconf_port, self.rest_port, options.netconf_port, options.rest_port))
        vim_guard = None if self.member is None else self.member.leadership.check
        self.domain = domain = build_domain(options, self.db, self._settings, self.hub, vim_guard)
        self.callbacks = callbacks = CallbackService(SqlCallbackStore(self.db), check_url=url_policy.undeliverable,
                                                     guard=vim_guard)  # a fenced member sends no callback
        callbacks.start(domain.bus)  # before the core resumes its operations, so their events find their callbacks
        if self.member is not None:  # the first event of a new active, before those of the work it resumes
            domain.bus.publish(in_service(self.member.node))
        await domain.start()
        attach_northbound(domain, model=self.model, datastore=self.datastore, netconf=self.netconf)
        await self._start_ssh(self.netconf)

        def escmanager(web_app: web.Application) -> None:
            add_escmanager_routes(web_app, core=domain.core, snapshots=domain.snapshots, bus=domain.bus,
                                  callbacks=callbacks, url_policy=url_policy)

        self.rest = await start_rest(
            options.host, options.rest_port, users=self._users, open_on_loopback=is_loopback(options.host),
            routes=[lambda web_app: add_admin_routes(web_app, self), escmanager, self._ha_routes],
            limits=limits, throttle=self._throttle)
        self.rest_port = self.rest.port
        self._serving_as_active = True
        log.info("NETCONF on %s:%d, REST on %s:%d", options.host, self.netconf_port, options.host, self.rest_port)

    async def _start_standby(self) -> None:
        """Listeners that read from the shared store and refuse every change, naming the active."""
        options = self.options
        # in a worker thread: reading and validating 2,000 deployments' configuration holds a loop for seconds
        self.datastore = await asyncio.to_thread(Datastore, self.model, SqlConfigStore(self.db))
        self.replay_log = SqlReplayLog(self.db)
        self.hub = self._hub(standby=True)
        stored = StoredState(self.db, self.datastore, setting=self._settings.number,
                             export_dir=options.export_dir or options.data_dir / "exports")

        self.netconf = StandbyNetconfServer(self.model, self.datastore, self.hub, self._active_netconf,
                                            stored.reading)
        self.netconf.add_state_provider(opdata_provider(stored.core, stored.snapshots))
        await self._start_ssh(self.netconf)

        def standby(web_app: web.Application) -> None:
            add_admin_routes(web_app, self)
            add_ha_routes(web_app, self.ha_view, self._switchover_route())
            add_escmanager_routes(web_app, core=stored.core, snapshots=stored.snapshots, bus=stored.bus)
            web_app.middlewares.append(standby_middleware(self.ha_view, stored.reading))

        self.rest = await start_rest(
            options.host, options.rest_port, users=self._users, open_on_loopback=is_loopback(options.host),
            routes=[standby], limits=options.limits, throttle=self._throttle)
        self.rest_port = self.rest.port
        log.info("Standby: NETCONF on %s:%d, REST on %s:%d (reads only; the active is %s)", options.host,
                 self.netconf_port, options.host, self.rest_port, self._active_netconf() or "not known yet")

    def _renew(self) -> asyncio.Task[str | None]:
        """Keep the lease from the moment it is won: starting the core may take longer than the lease."""
        assert self.member is not None
        return asyncio.get_running_loop().create_task(self.member.keep_active(), name="ha-lease")

    async def _membership(self, renewing: asyncio.Task[str | None] | None) -> None:
        """A member's life: active until it stops acting (lease lost, or handed over), then a standby until
        it wins the lease again, and so on, on the same ports. Ends (setting :attr:`fenced`) only when a
        change of role fails. ``renewing``: the lease's renewal when this member starts as the active."""
        member = self.member
        assert member is not None
        try:
            while True:
                if renewing is None:
                    await member.wait_until_active()
                    renewing = self._renew()
                    started = asyncio.get_running_loop().time()
                    if not await self._change_role(self._start_active, "take over as the active"):
                        return
                    log.info("Took over as the active in %.2f s after the lease was won",
                             asyncio.get_running_loop().time() - started)
                why = await renewing
                renewing = None
                if why is None:  # handed over: the switchover answers its client before the listeners go
                    await self._answered.wait()
                try:
                    await self._wind_down()
                except Exception:  # noqa: BLE001 - whatever the work in flight raised, rejoin: it is fenced
                    log.exception("%s: winding the active's work down failed; rejoining as a standby all the "
                                  "same", member.node)
                if not await self._change_role(self._start_standby, "rejoin the group as a standby",
                                               until_the_database_answers=True):
                    return
                if why is None:
                    log.info("%s rejoined its group as a standby after a switchover", member.node)
                else:
                    log.warning("%s rejoined its group as a standby after it stopped acting", member.node)
        finally:
            if renewing is not None:
                renewing.cancel()

    async def _change_role(self, start: Callable[[], Awaitable[None]], what: str, *,
                           until_the_database_answers: bool = False) -> bool:
        """Swap the listeners for those ``start`` opens, on the same ports; False (and fenced) if it failed.

        ``until_the_database_answers``: a database error is retried (a member that lost its lease because
        the database went away rejoins as a standby once it is back) rather than ending the process."""
        member = self.member
        assert member is not None
        while True:
            try:
                await self._stop_listeners()
                self.options = replace(self.options, netconf_port=self._bound(self.netconf_port),
                                       rest_port=self._bound(self.rest_port))
                await start()
                if member.leadership.holds_lease():
                    await member.publish()
                return True
            except StoreError as error:
                if not until_the_database_answers:
                    return self._role_change_failed(what, error)
                log.warning("Could not %s (%s); trying again in %.1f s", what, error, member.takeover_secs)
                await asyncio.sleep(member.takeover_secs)
            except Exception as error:  # noqa: BLE001 - logged with its traceback; the process then stops
                return self._role_change_failed(what, error)

    def _role_change_failed(self, what: str, error: Exception) -> bool:
        log.error("Could not %s", what, exc_info=error)
        assert self.member is not None
        self.member.leadership.step_down()
        self._fence(f"could not {what}: {error}")
        return False

    async def _wind_down(self) -> None:
        """Stop the work of an active: the core and the snapshot pollers (their records stay for the next
        active), the callback outbox's deliveries, the replay log's pruning."""
        domain, self.domain = self.domain, None
        callbacks, self.callbacks = self.callbacks, None
        retention = getattr(self, "_retention", None)
        try:
            if domain is not None:
                await domain.stop()
        finally:  # each part is stopped even if one before it failed
            try:
                if callbacks is not None:
                    await callbacks.close()
            finally:
                if retention is not None:
                    retention.cancel()
                    await asyncio.gather(retention, return_exceptions=True)

    def _switchover_route(self) -> Callable[[str | None], Awaitable[dict[str, Any]]] | None:
        return None if self.member is None else self.switchover

    def _ha_routes(self, web_app: web.Application) -> None:
        """The active's ``/ha`` routes; in a group, its changes are refused once it stopped acting."""
        add_ha_routes(web_app, self.ha_view, self._switchover_route())
        if self.member is not None:
            web_app.middlewares.append(standby_middleware(self.ha_view, None, self.member.leadership.is_active))

    def _active_netconf(self) -> tuple[str, int] | None:
        """The active's NETCONF address as this member last read it from the lease."""
        seen = None if self.member is None else self.member.active
        return None if seen is None else (seen.host, seen.netconf_port)

    async def switchover(self, to: str | None = None) -> dict[str, Any]:
        """Hand the role of active to the standby ``to`` (default: any connected) with nothing in flight
        lost (``esc_netconf.ha.switchover``); answers who is the active now. The listeners become a
        standby's once the answer is out (:meth:`_membership`).

        :raises SwitchoverRefused: see :func:`switch_over`; also while another switchover runs.
        """
        assert self.member is not None
        if self._switching.locked():
            raise SwitchoverRefused("A switchover is already under way.")
        async with self._switching:
            self._answered.clear()
            try:
                bus = None if self.domain is None else self.domain.bus
                return (await switch_over(self.member, to, bus=bus, wind_down=self._wind_down)).as_json()
            finally:
                self._answered.set()

    def _fence(self, reason: str) -> None:
        self.fenced_reason = reason
        self.fenced.set()

    async def ha_view(self) -> dict[str, Any]:
        """``GET /ESCManager/v0/ha``: this server's role and where the active is."""
        if self.member is None:
            active: dict[str, Any] | None = {"host": self.options.host, "netconf_port": self.netconf_port,
                                              "rest_port": self.rest_port}
            return {"role": "active", "node": "standalone", "active": active}
        seen = self.member.active
        active = None if seen is None else {"host": seen.host, "netconf_port": seen.netconf_port,
                                            "rest_port": seen.rest_port}
        return {"role": self.role, "node": self.member.node, "active": active}

    async def _stop_listeners(self) -> None:
        self._serving_as_active = False
        if self._ssh is not None:
            await asyncio.to_thread(self._ssh.stop)
            self._ssh = None
        if self.rest is not None:
            await self.rest.stop()
            self.rest = None

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

    async def sim_boot_data(self, server_id: str) -> dict[str, object] | None:
        """What a simulated server was booted with, for the admin route; ``None`` under a real VIM."""
        driver = self.domain.driver if self.domain is not None else None
        if not isinstance(driver, SimCloud):
            return None
        boot = await driver.server_boot_data(server_id)
        return {"config_drive": boot.config_drive, "user_data": boot.user_data, "files": boot.files}

    async def health(self) -> dict[str, dict[str, object]]:
        """What ``escadm status`` shows: each part with ``ok`` and a few facts."""
        report: dict[str, dict[str, object]] = {
            "netconf": {"ok": self.netconf_port is not None, "port": self.netconf_port,
                        "sessions": len(self.netconf.sessions)},
            "rest": {"ok": self.rest_port is not None, "port": self.rest_port},
        }
        if self.domain is None or self.role != "active":  # only the active calls the VIM (fencing included)
            report["vim"] = {"ok": True, "driver": self.options.vim, "used": "by the active only"}
        else:
            try:
                flavors = await self.domain.driver.list_flavors()
                report["vim"] = {"ok": True, "driver": self.options.vim, "flavors": len(flavors)}
            except EscError as exc:
                report["vim"] = {"ok": False, "driver": self.options.vim, "error": str(exc)}
        try:
            report["store"] = {"ok": True, "revision": await asyncio.to_thread(self.db.revision)}
        except EscError as exc:
            report["store"] = {"ok": False, "error": str(exc)}
        if self.member is not None:
            view = await self.ha_view()
            active = view["active"]
            report["ha"] = {"ok": True, "role": view["role"], "node": view["node"],
                            "active": "-" if active is None else f"{active['host']}:{active['netconf_port']}"}
        return report

    async def stop(self) -> None:
        db = getattr(self, "db", None)
        if db is not None:  # stopping: the last writes are committed where they are, the loop serves nobody
            db.guard_loop(None)
        gcpolicy.reset()  # the policy is the running server's: a process that goes on (a test run) gets Python's back
        if self._gil_shared:
            self._gil_shared = False
            gilshare.serving(False)
            mallocpolicy.serving(False)
        for name in ("_gc_sweeps", "_gc_young"):
            task = getattr(self, name, None)
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        group = self._group_task
        if group is not None:
            group.cancel()
            await asyncio.gather(group, return_exceptions=True)
        retention = getattr(self, "_retention", None)
        if retention is not None:
            retention.cancel()
            await asyncio.gather(retention, return_exceptions=True)
        if self._ssh is not None:
            await asyncio.to_thread(self._ssh.stop)
        if self.rest is not None:
            await self.rest.stop_listening()
        active_member = self.member is not None and self.member.leadership.is_active()
        if self.domain is not None:
            if active_member:
                assert self.member is not None
                # before the core stops: the event is journaled and committed with the core's last writes
                self.domain.bus.publish(out_of_service(self.member.node, "it stops"))
            await self.domain.stop()
        # after the core's drain: the events it delivered meanwhile went into the callback outbox too
        if self.rest is not None:
            await self.rest.stop()
        elif self.callbacks is not None:  # the REST cleanup closes them once it has started
            await self.callbacks.close()
        hub = getattr(self, "hub", None)
        if hub is not None:
            try:  # the notifications still waiting for their group commit; the core's stop waited for its own
                hub.close()
            except EscError as exc:
                log.warning("Could not store the last notifications for replay: %s", exc)
        if self.member is not None and active_member:
            try:  # hand over at once rather than at the lease's expiry
                await asyncio.to_thread(self.member.leadership.release)
            except EscError as exc:
                log.warning("Could not release the lease (it expires on its own): %s", exc)
        if self.member is not None:
            await self.member.leave()
        if db is not None:
            db.close()
