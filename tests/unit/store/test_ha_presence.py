"""Group membership by named PostgreSQL sessions (``esc_netconf.ha.presence``), on a real PostgreSQL."""

from __future__ import annotations

import time

import pytest

from esc_netconf.ha.presence import Presence
from esc_netconf.store import Database
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.postgresql


def test_members_see_each_other_until_one_leaves(postgres: PostgresServer) -> None:
    url = postgres.create_database()
    other_db = postgres.create_database()
    with Database.open(url) as db, Database.open(other_db) as elsewhere:
        a, b, c = Presence(db, "host-a:1"), Presence(db, "host-b:2"), Presence(elsewhere, "host-c:3")
        try:
            assert a.others() == []  # asking announces us, and nobody else is there
            b.ensure()
            c.ensure()  # another database: another group
            assert a.others() == ["host-b:2"] and b.others() == ["host-a:1"]
            b.ensure()  # idempotent: still one session
            assert a.others() == ["host-b:2"]
            b.leave()
            deadline = time.monotonic() + 5
            while a.others():  # the server ends the session's backend just after the client closes it
                assert time.monotonic() < deadline, a.others()
                time.sleep(0.02)
        finally:
            for member in (a, b, c):
                member.leave()
