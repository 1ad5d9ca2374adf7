"""The leadership lease on a real PostgreSQL: one active per database, takeover after expiry, fencing."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

import pytest
from sqlalchemy import Connection, text

from esc_netconf.store import Database, SqlConfigStore
from esc_netconf.store.errors import StoreError
from esc_netconf.store.leadership import ActiveNode, Leadership, LeadershipLost
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.postgresql


def node(name: str, port: int) -> ActiveNode:
    return ActiveNode(name, "127.0.0.1", port, port + 1, 0)


@pytest.fixture
def url(postgres: PostgresServer) -> str:
    return postgres.create_database()


def test_a_plain_postgresql_url_gets_psycopg_and_every_migration(url: str) -> None:
    with Database.open(url) as db:
        assert db.url.startswith("postgresql+psycopg://")
        assert db.revision() == Database.head_revision()


def test_two_servers_migrating_at_once_both_start(url: str) -> None:
    """Two processes (alembic's context is per process) migrate one fresh database at the same moment."""
    code = "import sys; from esc_netconf.store import Database; Database.open(sys.argv[1]).close()"
    starts = [subprocess.Popen([sys.executable, "-c", code, url], stderr=subprocess.PIPE, text=True)
              for _ in range(2)]
    results = [(proc.wait(timeout=60), proc.stderr.read() if proc.stderr else "") for proc in starts]
    assert results == [(0, ""), (0, "")]
    with Database.open(url) as db:
        assert db.revision() == Database.head_revision()


def test_exactly_one_active_and_the_standby_sees_it(url: str) -> None:
    with Database.open(url) as db_a, Database.open(url) as db_b:
        a, b = Leadership(db_a, node("a", 1000), 5), Leadership(db_b, node("b", 2000), 5)
        assert a.try_acquire() is True
        assert b.try_acquire() is False
        assert a.is_active() and not b.is_active()
        assert b.active() is None  # a holds the lease but has not said where it serves yet
        a.publish()
        seen = b.active()
        assert seen is not None and (seen.node, seen.netconf_port, seen.rest_port) == ("a", 1000, 1001)
        with pytest.raises(LeadershipLost):
            b.check()
        assert a.renew() is True


def test_takeover_after_expiry_fences_the_old_active(url: str) -> None:
    with Database.open(url) as db_a, Database.open(url) as db_b:
        a, b = Leadership(db_a, node("a", 1000), 0.6), Leadership(db_b, node("b", 2000), 0.6)
        assert a.try_acquire()
        SqlConfigStore(db_a).save_running(b"<data>from a</data>")
        time.sleep(0.7)  # a neither renews nor acts (a process stopped by SIGSTOP)
        assert not a.is_active()  # its own deadline passed before the lease expired
        assert b.try_acquire()
        assert b.token is not None and a.token is not None and b.token == a.token + 1
        # a resumes: whatever its memory says, the database refuses its writes, and it cannot renew
        with pytest.raises(LeadershipLost, match="write refused"):
            SqlConfigStore(db_a).save_running(b"<data>stale</data>")
        assert a.renew() is False
        with pytest.raises(LeadershipLost):
            a.check()
        SqlConfigStore(db_b).save_running(b"<data>from b</data>")
        assert SqlConfigStore(db_a).load_running() == b"<data>from b</data>"


def test_a_handover_goes_to_the_standby_named_and_fences_the_old_active(url: str) -> None:
    with Database.open(url) as db_a, Database.open(url) as db_b, Database.open(url) as db_c:
        a, b, c = (Leadership(db_a, node("a", 1000), 5), Leadership(db_b, node("b", 2000), 5),
                   Leadership(db_c, node("c", 3000), 5))
        assert a.try_acquire()
        a.publish()
        a.stop_acting()
        with pytest.raises(LeadershipLost):
            a.check()  # no VIM call once the handover began
        SqlConfigStore(db_a).save_running(b"<data>wound down</data>")  # but it may still record where it stands
        assert a.hand_over("b") is True
        assert a.token is None and not a.is_active()
        assert b.active() is None  # handed over, not yet taken: no address to send clients to
        assert c.try_acquire() is False  # the lease is b's, not anybody's, until it expires
        assert b.try_acquire() is True
        b.publish()
        seen = c.active()
        assert seen is not None and (seen.node, seen.netconf_port) == ("b", 2000)
        with pytest.raises(LeadershipLost, match="write refused"):
            SqlConfigStore(db_a).save_running(b"<data>stale</data>")
        assert a.hand_over("c") is False  # not ours to give any more


EVENT_ROWS = [{"stream": "NETCONF", "t": n, "xml": b"<e/>", "id": f"e{n}"} for n in range(3)]


def _last_statement(connection: Connection, kind: str) -> None:
    """What a member stopped inside a write last sent: one statement, or a batch insert (psycopg sends an
    executemany in pipeline mode; the replay log's batch insert was CI's stopped active's last statement)."""
    if kind == "executemany":
        connection.execute(text("INSERT INTO replay_events (stream, event_time_us, xml, event_id) "
                                "VALUES (:stream, :t, :xml, :id)"), EVENT_ROWS)
    else:
        connection.execute(text("SELECT 1"))


def _stored_events(db: Database) -> int:
    with db.read() as connection:
        return int(connection.execute(text("SELECT count(*) FROM replay_events")).scalar_one())


@pytest.mark.parametrize("last_statement", ["one statement", "executemany"])
def test_a_member_stopped_inside_a_write_does_not_hold_the_takeover_up(url: str, last_statement: str) -> None:
    """A holds the writer lock when it stops (SIGSTOP, a frozen VM: its session sits in its transaction).
    The standby's takeover waits for that lock a quarter of the lease at a time; once the lease has expired it
    ends a's session, so the next poll takes the lease, and a's transaction, when it resumes, fails whole."""
    with Database.open(url) as db_a, Database.open(url) as db_b:
        a, b = Leadership(db_a, node("a", 1000), 0.6), Leadership(db_b, node("b", 2000), 0.6)
        assert a.try_acquire()
        with contextlib.ExitStack() as stopped:
            connection = stopped.enter_context(db_a.write())
            _last_statement(connection, last_statement)
            time.sleep(0.7)  # the lease expires while a is stopped
            started = time.monotonic()
            while not b.try_acquire():
                assert time.monotonic() - started < 3, "the takeover waited for the stopped member's writer lock"
                time.sleep(0.06)  # the standby's poll
            with pytest.raises(StoreError):
                stopped.close()  # a resumes: its transaction is gone
        assert _stored_events(db_b) == 0  # nothing of it was committed
        assert a.renew() is False  # it finds the lease taken, rather than the database unreachable
        assert not a.is_active()


def test_a_live_active_s_write_is_waited_for_not_ended(url: str) -> None:
    """While the lease is valid, a takeover attempt that meets the writer lock gives up and ends nothing."""
    with Database.open(url) as db_a, Database.open(url) as db_b:
        a, b = Leadership(db_a, node("a", 1000), 5), Leadership(db_b, node("b", 2000), 5)
        assert a.try_acquire()
        with db_a.write() as connection:
            _last_statement(connection, "executemany")
            assert b.try_acquire() is False  # waited 1.25 s for the lock, then let go
        assert _stored_events(db_a) == len(EVENT_ROWS)  # a's write committed
        assert a.renew() is True


def test_leadership_needs_postgresql() -> None:
    with Database.open(":memory:") as db, pytest.raises(Exception, match="needs PostgreSQL"):
        Leadership(db, node("a", 1), 5)
