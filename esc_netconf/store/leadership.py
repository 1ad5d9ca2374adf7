"""Who is active in a group of servers sharing one PostgreSQL: a lease row with a fencing token.

Theory of operation
-------------------
The database holds one row (``ha_lease``, revision 0006): the active's token, name and addresses, and when
its lease ends, on the database's clock (``clock_timestamp()``), the one clock all members share.

* **Taking over** (:meth:`Leadership.try_acquire`): one ``UPDATE ... WHERE expires_us < now`` that increments
  the token and writes our name and a new expiry. It runs in a write transaction, so it first takes the
  writer lock every write on PostgreSQL takes (``Database``): it waits for any write of the old active that
  is in flight, and every write the old active attempts afterwards sees the new token and is refused. It
  waits for that lock a quarter of the lease at a time: if the lease has expired and the lock is still
  held, its holder is a member stopped inside a write (SIGSTOP, a frozen VM, a partition that keeps its
  TCP connection), which would otherwise hold every takeover up until it resumes, and the taker ends that
  session (``pg_terminate_backend``): its transaction is rolled back, so nothing of it is ever committed.
* **Handing over** (:meth:`Leadership.hand_over`, ``escadm ha switchover``): the active, having stopped
  acting, writes a new token and the chosen standby's name with a fresh expiry; that standby takes the lease
  at its next poll (:meth:`Leadership.try_acquire` also takes a lease that names it), any member takes it
  once it expires if the chosen one never does. Until the new active publishes its address the lease names
  no address (ports 0) and :meth:`Leadership.active` answers None: no member sends clients anywhere yet.
* **Renewing** (:meth:`Leadership.renew`): ``UPDATE ... WHERE token = ours`` pushes the expiry forward;
  no row updated means someone else took over.
* **Fencing writes**: once we hold the lease, :meth:`Leadership.fence` runs inside every write transaction
  (``Database.set_write_fence``) and refuses it unless the row still carries our token. This check is exact
  whatever the clocks say: a server stopped for longer than its lease (SIGSTOP, a partition) cannot commit
  anything after it resumes, because the takeover changed the token.
* **Fencing everything else** (VIM calls, events): :meth:`Leadership.check` compares a local monotonic
  deadline, the start of the last successful renewal plus the lease minus a margin. Because the database
  measured the expiry from a later instant, the local deadline passes before the lease can expire, so
  the active stops acting before anyone else may take over.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace

from typing import Any

from sqlalchemy import Connection, Row, select, text, update

from esc_netconf.store.database import WRITER_LOCK_KEY, Database
from esc_netconf.store.errors import StoreError, WriterLockBusy
from esc_netconf.store.schema import ha_lease

__all__ = ["ActiveNode", "Leadership", "LeadershipLost"]

log = logging.getLogger(__name__)

_NOW_US = "(extract(epoch from clock_timestamp()) * 1000000)::bigint"


class LeadershipLost(StoreError):
    """This server is not (or no longer) the active of its group; it must not act."""


@dataclass(frozen=True)
class ActiveNode:
    """A member as the lease row names it: where clients find the active."""

    node: str
    host: str
    netconf_port: int
    rest_port: int
    token: int


class Leadership:
    """This server's side of the lease. Blocking calls: run them off the event loop."""

    def __init__(self, db: Database, me: ActiveNode, lease_secs: float) -> None:
        if not db.is_postgresql:
            raise StoreError(f"a group of servers needs PostgreSQL, not {db.url}")
        if lease_secs <= 0:
            raise StoreError(f"the lease must last a positive time, not {lease_secs} s")
        self._db = db
        self._me = me
        self.lease_secs = lease_secs
        self._token: int | None = None
        #: Set by :meth:`release` (a clean stop), so a renewal that fails because of it is not taken for a loss.
        self.released = False
        self._deadline = 0.0  # time.monotonic() after which we no longer act
        self._standing_down = False  # a handover is under way: we still hold the lease but no longer act
        self._taking = threading.local()  # set while this thread runs try_acquire: the fence lets it through

    @property
    def token(self) -> int | None:
        """Our fencing token while we hold (or believe we hold) the lease."""
        return self._token

    def holds_lease(self) -> bool:
        """True while we hold the lease and our local deadline has not passed (acting or handing over)."""
        return self._token is not None and time.monotonic() < self._deadline

    def is_active(self) -> bool:
        """True while we hold the lease and act: not after :meth:`stop_acting` (a handover under way)."""
        return self.holds_lease() and not self._standing_down

    def stop_acting(self) -> None:
        """The first step of a handover: no more VIM calls (:meth:`check` refuses) while we keep the lease,
        and may still write, to wind the work in flight down and record where it stands."""
        self._standing_down = True

    def check(self) -> None:
        """Raise :class:`LeadershipLost` unless we may act now (call before every VIM call)."""
        if not self.is_active():
            raise LeadershipLost(f"{self._me.node} is not the active of its group (lease lost or never held)")

    def _margin(self) -> float:
        return max(0.2, self.lease_secs / 10)

    def try_acquire(self) -> bool:
        """Take the lease if it has expired (or was never held) or was handed to us; True if we are now
        the active."""
        started = time.monotonic()
        me = self._me
        self._taking.now = True
        try:
            row = self._take(me)
        except WriterLockBusy:
            self._evict_stalled_writer()
            return False  # the next poll takes it, the lock free
        finally:
            self._taking.now = False
        if row is None:
            return False
        self._token = int(row[0])
        self.released = False
        self._standing_down = False
        self._deadline = started + self.lease_secs - self._margin()
        self._db.set_write_fence(self.fence)
        return True

    def _take(self, me: ActiveNode) -> Row[Any] | None:
        """The lease with no address yet: clients are sent to us once :meth:`publish` says our listeners are
        the active's (a member taking over swaps its standby listeners first).

        :raises WriterLockBusy: another session held the writer lock for a quarter of the lease.
        """
        with self._db.write(lock_wait=self.lease_secs / 4) as connection:
            return connection.execute(
                text(f"UPDATE ha_lease SET token = token + 1, node = :node, host = :host, "
                     f"netconf_port = 0, rest_port = 0, expires_us = {_NOW_US} + :lease_us "
                     f"WHERE id = 1 AND (expires_us < {_NOW_US} OR node = :node) RETURNING token"),
                {"node": me.node, "host": me.host, "lease_us": int(self.lease_secs * 1_000_000)},
            ).first()

    def renew(self) -> bool:
        """Push our lease forward; False (and we stop acting at once) if another member holds it."""
        token = self._token
        if token is None:
            return False
        started = time.monotonic()
        try:
            with self._db.write() as connection:
                renewed = connection.execute(
                    text(f"UPDATE ha_lease SET expires_us = {_NOW_US} + :lease_us WHERE id = 1 AND token = :token"),
                    {"lease_us": int(self.lease_secs * 1_000_000), "token": token},
                ).rowcount
        except LeadershipLost:
            renewed = 0
        except StoreError:
            # the member that took over ended our session (we were stopped inside a write), or the database
            # does not answer: a lease another member holds now is lost, not "unreachable"
            if self._held_by_another(token):
                renewed = 0
            else:
                raise
        if renewed != 1:
            self.step_down()
            return False
        self._deadline = started + self.lease_secs - self._margin()
        return True

    def _evict_stalled_writer(self) -> None:
        """End the session holding the writer lock, if the lease has expired meanwhile (see the module's
        docstring). A live active renews before its lease expires, so its writes are not ended here; one
        whose renewal waited behind a write of its own for that long has stopped acting already."""
        high, low = divmod(WRITER_LOCK_KEY, 1 << 32)
        with self._db.read() as connection:
            ended = connection.execute(
                text(f"SELECT l.pid, pg_terminate_backend(l.pid) FROM pg_locks l "
                     f"WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :high AND l.objid = :low "
                     f"AND l.objsubid = 1 AND l.pid <> pg_backend_pid() AND l.database = "
                     f"(SELECT oid FROM pg_database WHERE datname = current_database()) "
                     f"AND EXISTS (SELECT 1 FROM ha_lease WHERE id = 1 AND expires_us < {_NOW_US})"),
                {"high": high, "low": low}).all()
        for pid, done in ended:
            log.warning("%s ended database session %s: it held the writer lock past the end of the lease "
                        "(a member stopped inside a write)%s", self._me.node, pid, "" if done else ", in vain")

    def _held_by_another(self, token: int) -> bool:
        """Whether the lease carries another token than ``token`` (raises StoreError if that cannot be read)."""
        with self._db.read() as connection:
            current: int = connection.execute(select(ha_lease.c.token).where(ha_lease.c.id == 1)).scalar_one()
        return int(current) != token

    @property
    def me(self) -> ActiveNode:
        return self._me

    def set_address(self, host: str, netconf_port: int, rest_port: int) -> None:
        """Our listeners' address, written to the lease by :meth:`publish`."""
        self._me = replace(self._me, host=host, netconf_port=netconf_port, rest_port=rest_port)

    def publish(self) -> None:
        """Write our address into the lease we hold (once our listeners are bound)."""
        me = self._me
        with self._db.write() as connection:  # fenced: only the holder of the token gets here
            connection.execute(
                update(ha_lease).where(ha_lease.c.id == 1, ha_lease.c.token == self._token)
                .values(host=me.host, netconf_port=me.netconf_port, rest_port=me.rest_port))

    def release(self) -> None:
        """Give the lease up at a clean shutdown, so a standby takes over at its next poll."""
        if self._token is None:
            return
        self.released = True
        with self._db.write() as connection:
            connection.execute(update(ha_lease).where(ha_lease.c.id == 1, ha_lease.c.token == self._token)
                               .values(expires_us=0))
        self.step_down()

    def hand_over(self, node: str) -> bool:
        """Give the lease to the standby ``node`` (we must have stopped acting first) and step down.

        The write is fenced and conditional on our token, so it fails (False) if the lease was no longer ours.

        :raises StoreError: the database did not answer; we stepped down all the same (the lease expires).
        """
        token = self._token
        if token is None:
            return False
        try:
            with self._db.write() as connection:
                handed = connection.execute(
                    text(f"UPDATE ha_lease SET token = token + 1, node = :node, host = '', netconf_port = 0, "
                         f"rest_port = 0, expires_us = {_NOW_US} + :lease_us WHERE id = 1 AND token = :token"),
                    {"node": node, "lease_us": int(self.lease_secs * 1_000_000), "token": token},
                ).rowcount
        except LeadershipLost:
            handed = 0
        finally:  # whatever the database said: we stopped acting, and must not renew a lease we gave up
            self.step_down()
        return handed == 1

    def step_down(self) -> None:
        """Stop acting now: no write and no VIM call from here on."""
        self._token = None
        self._deadline = 0.0

    def fence(self, connection: Connection) -> None:
        """The write fence: refuse the transaction unless the lease still carries our token (or it is our
        own attempt to take the lease, which decides by itself: a member that lost the lease keeps its fence
        on every other write)."""
        if getattr(self._taking, "now", False):
            return
        token = self._token
        current: int = connection.execute(select(ha_lease.c.token).where(ha_lease.c.id == 1)).scalar_one()
        if token is None or current != token:
            raise LeadershipLost(
                f"write refused: {self._me.node} holds no lease (token {token}, the group is at {current})")

    def active(self) -> ActiveNode | None:
        """The member whose lease has not expired, as the database says; None if there is none, or while
        the new holder has not published its address yet (a takeover or handover under way)."""
        with self._db.read() as connection:
            row = connection.execute(
                text(f"SELECT node, host, netconf_port, rest_port, token FROM ha_lease "
                     f"WHERE id = 1 AND expires_us >= {_NOW_US}")).first()
        if row is None or int(row[2]) == 0:
            return None
        return ActiveNode(str(row[0]), str(row[1]), int(row[2]), int(row[3]), int(row[4]))
