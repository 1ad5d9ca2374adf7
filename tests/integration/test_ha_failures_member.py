"""The lease of a member that has just won it, while it is still starting as the active (PostgreSQL).

Taking over means resuming every workflow in flight and opening the listeners; on a loaded machine that
takes longer than the lease. Found by ``bench/ha_failover_events.py``: renewal began only once the start-up
was over, so the new active's lease ran out under it, its guard refused its VIM calls (failing the work it
was resuming) and the other member could take the lease. Renewal now starts when the lease is won.
"""

from __future__ import annotations

import asyncio

import pytest

from esc_netconf.ha.member import GroupMember
from esc_netconf.store import Database
from esc_netconf.store.leadership import ActiveNode, Leadership
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.postgresql


async def test_a_member_keeps_the_lease_while_it_starts_as_the_active(postgres: PostgresServer) -> None:
    url = postgres.create_database()
    mine, theirs = Database.open(url), Database.open(url)
    try:
        member = GroupMember(mine, host="127.0.0.1", takeover_secs=1.0)  # a lease of 0.6 s
        other = Leadership(theirs, ActiveNode("other", "127.0.0.1", 1, 2, 0), lease_secs=0.6)
        assert await member.try_acquire()
        await asyncio.sleep(2.0)  # a slow start-up: three leases long, keep_active not awaited yet
        assert member.leadership.is_active()
        assert not await asyncio.to_thread(other.try_acquire)
        keeping = asyncio.create_task(member.keep_active())
        await asyncio.sleep(0.5)
        assert not keeping.done() and member.leadership.is_active()
        await asyncio.to_thread(member.leadership.release)  # a clean stop: renewal ends, the lease is free
        assert await asyncio.wait_for(keeping, 2) == f"{member.node} stepped down"
        assert await asyncio.to_thread(other.try_acquire)
    finally:
        mine.close()
        theirs.close()
