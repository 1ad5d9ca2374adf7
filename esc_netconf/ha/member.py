"""This server's membership of a group: wait as a standby until the lease is free, then keep it.

Timing, for ``--ha-takeover-secs T`` (default 5): the lease lasts ``0.6 T``; the active renews it every
quarter of that; a standby tries to take it every ``T / 10``. After the active dies, a standby holds the
lease at most ``0.6 T + T / 10`` later and then starts its core (the rest of ``T``). The active stops
acting at its local deadline (see ``esc_netconf.store.leadership``), before the lease can expire.

Every member also keeps a named session open (``esc_netconf.ha.presence``), so the active knows whether a
standby is there to hand the role to (``escadm ha switchover``).

Renewal starts the moment the lease is won, not once the server has started acting: starting the core
(resuming every workflow in flight, opening the listeners) can take longer than the lease on a loaded
machine, and a lease not renewed meanwhile would expire under a server that is busy taking over, whose VIM
calls the guard then refuses (failing the very work it resumes) while the other member takes the lease.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

from esc_netconf.store.database import Database
from esc_netconf.ha.presence import Presence
from esc_netconf.store.errors import StoreError
from esc_netconf.store.leadership import ActiveNode, Leadership

__all__ = ["GroupMember"]

log = logging.getLogger(__name__)

LEASE_SHARE = 0.6
POLL_SHARE = 0.1


class GroupMember:
    """The lease loops of one server; the application decides what to start and stop around them."""

    def __init__(self, db: Database, *, host: str, takeover_secs: float) -> None:
        self.node = f"{socket.gethostname()}:{os.getpid()}"
        self.leadership = Leadership(db, ActiveNode(self.node, host, 0, 0, 0), takeover_secs * LEASE_SHARE)
        self.poll_secs = max(0.05, takeover_secs * POLL_SHARE)
        self.renew_secs = self.leadership.lease_secs / 4
        self.active: ActiveNode | None = None  # the active as last read from the lease
        self.presence = Presence(db, self.node)
        self.takeover_secs = takeover_secs
        self.handed_over = False  # set by hand_over: keep_active then ends quietly
        self._renewal: asyncio.Task[str | None] | None = None  # renews from the moment the lease is won

    @property
    def role(self) -> str:
        return "active" if self.leadership.is_active() else "standby"

    def set_address(self, host: str, netconf_port: int, rest_port: int) -> None:
        self.leadership.set_address(host, netconf_port, rest_port)

    async def try_acquire(self) -> bool:
        try:
            acquired = await asyncio.to_thread(self.leadership.try_acquire)
        except StoreError as error:
            log.warning("Could not try to take the lease: %s", error)
            return False
        if acquired:
            self.handed_over = False
            log.info("This server (%s) is now the active of its group (fencing token %s)",
                     self.node, self.leadership.token)
            if self._renewal is not None and not self._renewal.done():
                self._renewal.cancel()
            self._renewal = asyncio.get_running_loop().create_task(self._renew_until_lost(), name="ha-renew")
        return acquired

    async def publish(self) -> None:
        await asyncio.to_thread(self.leadership.publish)
        self.active = self.leadership.me

    async def announce(self) -> None:
        """Keep our named session open, so the active counts us as a standby (logged when it cannot)."""
        try:
            await asyncio.to_thread(self.presence.ensure)
        except StoreError as error:
            log.warning("%s", error)

    async def standbys(self) -> list[str]:
        """The other members connected to the group's database now (node names)."""
        return await asyncio.to_thread(self.presence.others)

    async def hand_over(self, node: str) -> bool:
        """Give the lease to ``node`` (we must have stopped acting); False if it was no longer ours."""
        self.handed_over = True
        handed = await asyncio.to_thread(self.leadership.hand_over, node)
        self.active = None
        if handed:
            log.info("%s handed the role of active to %s", self.node, node)
        return handed

    async def wait_for_another_active(self, timeout: float) -> ActiveNode | None:
        """The member that holds the lease and published its address, once it is not us; None after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                seen = await asyncio.to_thread(self.leadership.active)
            except StoreError as error:
                log.warning("Could not read the lease: %s", error)
                seen = None
            if seen is not None and seen.node != self.node:
                self.active = seen
                return seen
            await asyncio.sleep(self.poll_secs / 2)
        return None

    async def leave(self) -> None:
        await asyncio.to_thread(self.presence.leave)

    async def wait_until_active(self) -> None:
        """Poll until the lease is ours; meanwhile keep :attr:`active` current for the standby's answers."""
        while True:
            await self.announce()
            try:
                self.active = await asyncio.to_thread(self.leadership.active)
            except StoreError as error:
                log.warning("Could not read the lease: %s", error)
            if await self.try_acquire():
                return
            await asyncio.sleep(self.poll_secs)

    async def keep_active(self) -> str | None:
        """Wait while the lease is renewed (since :meth:`try_acquire` won it); returns why we stopped acting
        (the caller then winds the work down and rejoins the group as a standby); None when we handed the
        lease over (:meth:`hand_over`). Cancelling this cancels the renewal."""
        if self._renewal is None:
            return f"{self.node} does not hold the lease"
        return await self._renewal

    async def _renew_until_lost(self) -> str | None:
        leadership = self.leadership
        while True:
            await asyncio.sleep(self.renew_secs)
            if self.handed_over:
                return None
            if leadership.token is None:  # stepped down on purpose (a failed start, a release)
                return f"{self.node} stepped down"
            try:
                async with asyncio.timeout(self.renew_secs):  # not wait_for: it can lose a cancel on 3.11
                    renewed = await asyncio.to_thread(leadership.renew)
                if not renewed:
                    if self.handed_over:
                        return None
                    if leadership.released:  # a clean stop while the renewal was under way
                        return f"{self.node} stepped down"
                    reason = f"{self.node} lost the lease: another server of the group holds it"
                    break
            except (StoreError, TimeoutError) as error:
                log.warning("Could not renew the lease: %s", error or "no answer in time")
            if not leadership.holds_lease():
                reason = f"{self.node} could not renew its lease in time (database unreachable?)"
                break
        leadership.step_down()
        self.active = None  # not us any more; the standby loop reads who took over
        log.error("%s: stopped acting (no more writes, VIM calls or events from this server)", reason)
        return reason
