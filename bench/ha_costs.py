"""What PostgreSQL costs against SQLite: per edit-config, and per escEvent stored for replay.

* **edit-config** (end to end): one live server, ``--database`` SQLite (the default file) and then a
  throw-away PostgreSQL (Debian's ``postgresql``, as ``make test-ha``); a raw pipelined NETCONF client
  (``bench/netconf_roundtrips.py``'s, no ncclient polling) sends ``--edits`` edit-configs one after the
  other. Two kinds: each edit adds a new tenant (a config commit plus a CREATE_TENANT escEvent, stored in
  the replay log). A server on PostgreSQL is always a member of a group (here of one), so its writes take the group's
  writer lock and check the fencing token, as in a pair.
* **escEvent** (the store alone): ``SqlReplayLog.append`` of a typical escEvent, ``--events`` times, in
  this process: SQLite (``synchronous=FULL``), PostgreSQL, and PostgreSQL with the write fence of the
  lease's holder (what the active of a pair pays per event).

Both engines flush to disk at every commit, as in production: SQLite with ``synchronous=FULL`` (the
server's setting), PostgreSQL with its defaults (``fsync=on``, ``synchronous_commit=on``; the tests' cluster
turns them off). ``--no-fsync`` runs PostgreSQL as the tests do, to show what the flush costs.

Usage::

    .venv/bin/python bench/ha_costs.py [--edits 200] [--events 2000] [--no-fsync]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from esc_netconf.store import Database  # noqa: E402
from esc_netconf.store.leadership import ActiveNode, Leadership  # noqa: E402
from esc_netconf.store.replay_log import SqlReplayLog  # noqa: E402
from tests.integration.esc_client import BASE  # noqa: E402
from tests.integration.raw_client import RawNetconf  # noqa: E402
from tests.integration.samples import tenant_only  # noqa: E402
from tests.integration.server_process import ServerProcess  # noqa: E402
from tests.postgres_server import PostgresServer  # noqa: E402

FAST = {"vim.sim.delay.scale": "0.02", "vim.monitor.poll.secs": "1"}
#: an escEvent as the replay log stores it (a VM_ALIVE of the seed's size, about 1.5 KB)
EVENT_XML = (b'<escEvent xmlns="http://www.cisco.com/esc/esc"><status>SUCCESS</status><status_code>200</status_code>'
             b"<status_message>VM_Alive event received, VM ID: [dep_g_0_4f2a]</status_message>"
             b"<depname>dep</depname><tenant>t</tenant><tenant_id>8da13f6894944940a37559d0dfa4ab1e</tenant_id>"
             b"<depid>4c8e6f3a-3c1c-4b51-9d0b-0a3c5e0a9f11</depid>"
             b"<vm_source><vmid>0f5cbb9a-2a1d-4a39-a8cb-3f1c5d8b7e20</vmid><interfaces>"
             + b"<interface><nicid>0</nicid><type>virtual</type><port_id>ab</port_id>"
               b"<network>net-mgmt</network><subnet>sub</subnet><ip_address>10.0.0.5</ip_address>"
               b"<mac_address>fa:16:3e:00:00:01</mac_address></interface>" * 8
             + b"</interfaces></vm_source><event><type>VM_ALIVE</type></event></escEvent>")


def edit_cost(root: Path, extra: list[str], edits: int) -> float:
    """Seconds per edit-config adding a tenant, the median of 3 batches."""
    server = ServerProcess(root, properties=FAST, extra_args=extra).start()
    try:
        nc = RawNetconf(server.netconf_port)
        try:
            def batch(names: list[str]) -> float:
                started = time.perf_counter()
                for name in names:
                    reply = nc.call(f'<edit-config xmlns="{BASE}"><target><running/></target>'
                                    f"{tenant_only(name)}</edit-config>".encode())
                    assert reply.ok, reply.element
                return (time.perf_counter() - started) / len(names)

            batch(["warm-up"] * 10)
            per = edits // 3
            return statistics.median(batch([f"t{b}-{i}" for i in range(per)]) for b in range(3))
        finally:
            nc.close()
    finally:
        server.stop()


def append_cost(db: Database, events: int) -> float:
    log = SqlReplayLog(db)
    moment = datetime.now(timezone.utc)
    for _ in range(20):
        log.append("escEvent", moment, EVENT_XML)
    started = time.perf_counter()
    for _ in range(events):
        log.append("escEvent", moment, EVENT_XML)
    return (time.perf_counter() - started) / events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=200)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--no-fsync", action="store_true", help="PostgreSQL without fsync (as the tests run it)")
    args = parser.parse_args()
    postgres = PostgresServer(durable=not args.no_fsync).start()
    try:
        with tempfile.TemporaryDirectory(prefix="esc-ha-costs-") as tmp:
            root = Path(tmp)
            sqlite = edit_cost(root / "sqlite", [], args.edits)
            pg = edit_cost(root / "pg", ["--database", postgres.create_database()], args.edits)
            print(f"edit-config round trip adding a tenant (a config commit + a CREATE_TENANT escEvent), "
                  f"{args.edits} edits: SQLite {sqlite * 1000:.1f} ms, PostgreSQL {pg * 1000:.1f} ms")

            sqlite_db = Database.open(root / "events.db")
            pg_db = Database.open(postgres.create_database())
            try:
                sqlite_event = append_cost(sqlite_db, args.events)
                pg_event = append_cost(pg_db, args.events)
                leadership = Leadership(pg_db, ActiveNode("bench", "127.0.0.1", 0, 0, 0), lease_secs=60)
                assert leadership.try_acquire()
                fenced_event = append_cost(pg_db, args.events)
            finally:
                sqlite_db.close()
                pg_db.close()
            print(f"escEvent stored for replay ({len(EVENT_XML)} bytes), {args.events} appends: "
                  f"SQLite {sqlite_event * 1e6:.0f} us, PostgreSQL {pg_event * 1e6:.0f} us, "
                  f"PostgreSQL as the fenced active of a group {fenced_event * 1e6:.0f} us")
    finally:
        postgres.stop()


if __name__ == "__main__":
    main()
