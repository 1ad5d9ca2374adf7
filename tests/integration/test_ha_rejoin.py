"""The group's database goes away and comes back: the active, unable to renew its lease, stops acting and
keeps trying to rejoin as a standby until the database answers; then the group has one active again, by
itself, with no process restarted. Its own throw-away PostgreSQL, since this test stops it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import samples
from tests.integration.test_ha_live import TAKEOVER_SECS, connect, ha, member
from tests.integration.server_process import ServerProcess
from tests.postgres_server import PostgresServer, PostgresUnavailable

pytestmark = pytest.mark.postgresql


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer().start()
    except PostgresUnavailable as error:
        pytest.skip(f"PostgreSQL cannot run here: {error}")
    try:
        yield server
    finally:
        server.stop()


def roles(servers: tuple[ServerProcess, ...]) -> list[str]:
    found = []
    for server in servers:
        try:
            found.append(str(ha(server)["role"]))
        except Exception:  # noqa: BLE001 - listeners down while it waits for the database
            found.append("down")
    return found


def test_after_a_database_outage_the_group_has_one_active_again_by_itself(
        tmp_path: Path, own_postgres: PostgresServer) -> None:
    url = own_postgres.create_database()
    first = member(tmp_path, "a", url).start()
    second = member(tmp_path, "b", url).start()
    try:
        own_postgres.halt()
        deadline = time.monotonic() + 20
        while "stopped acting" not in "".join(first.output):
            assert time.monotonic() < deadline, "".join(first.output)
            time.sleep(0.1)
        time.sleep(TAKEOVER_SECS)  # at least one attempt to rejoin failed: the database is still away
        assert "Could not rejoin the group as a standby" in "".join(first.output), "".join(first.output)
        own_postgres.resume()

        deadline = time.monotonic() + 30
        while sorted(roles((first, second))) != ["active", "standby"]:
            assert time.monotonic() < deadline, roles((first, second))
            time.sleep(0.2)
        assert first.running() and second.running()
        assert "rejoined its group as a standby" in "".join(first.output)
        active = first if ha(first)["role"] == "active" else second
        deadline = time.monotonic() + 15
        while True:
            try:
                with connect(active.netconf_port) as nc:
                    nc.edit_config(target="running", config=samples.tenant_only("after-the-outage"))
                break
            except Exception:  # noqa: BLE001 - its listeners are being swapped in
                assert time.monotonic() < deadline
                time.sleep(0.2)
    finally:
        for proc in (first, second):
            if proc.running():
                proc.kill()
