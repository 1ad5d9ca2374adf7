"""Run as a child process by test_store_durability: write forever, print each write that returned.

Usage: python durability_writer.py <database path>. Each line ``<i> <seq>`` on stdout is printed only
after ``save_running``, ``append`` and ``save_tenant`` of round ``i`` have all returned, so every
printed round must survive the SIGKILL that ends this process.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone

from esc_netconf.core.model import TenantRecord
from esc_netconf.store import Database, SqlConfigStore, SqlCoreStore, SqlReplayLog


def main(path: str) -> None:
    database = Database.open(path)
    config, replay, core = SqlConfigStore(database), SqlReplayLog(database), SqlCoreStore(database)
    print("ready", flush=True)
    round_ = 0
    while True:
        round_ += 1
        config.save_running(f"<data><round>{round_}</round></data>".encode())
        seq = replay.append("escEvent", datetime.now(timezone.utc), f"<e>{round_}</e>".encode())
        core.save_tenant(TenantRecord(name=f"tenant-{round_}", project_id=f"p{round_}"))
        print(round_, seq, flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
