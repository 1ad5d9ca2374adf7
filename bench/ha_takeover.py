"""Takeover time of a group of two servers on one PostgreSQL, and the cost of PostgreSQL per edit-config.

Each round kills the active with SIGKILL and measures until the standby accepts an edit-config through
NETCONF (ncclient), then starts the killed server again as the new standby. Prints the median and the
worst round, and the mean edit-config round trip on SQLite and on PostgreSQL. A throw-away PostgreSQL is
started from Debian's ``postgresql`` package (as ``make test-ha`` does).

Usage::

    .venv/bin/python bench/ha_takeover.py [--rounds 10] [--takeover-secs 5] [--edits 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ncclient import manager  # noqa: E402

from tests.integration.server_process import ServerProcess  # noqa: E402
from tests.postgres_server import PostgresServer  # noqa: E402

FAST = {"vim.sim.delay.scale": "0.02", "vim.monitor.poll.secs": "1"}


def tenant(name: str) -> str:
    return ('<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><esc_datamodel xmlns="http://www.cisco.com/esc/esc">'
            f"<tenants><tenant><name>{name}</name></tenant></tenants></esc_datamodel></config>")


def connect(port: int) -> manager.Manager:
    return manager.connect(host="127.0.0.1", port=port, username="admin", password="admin", hostkey_verify=False,
                           allow_agent=False, look_for_keys=False, timeout=10)


def accepts_changes(port: int, name: str) -> bool:
    try:
        with connect(port) as nc:
            nc.edit_config(target="running", config=tenant(name))
        return True
    except Exception:  # noqa: BLE001 - refused (standby), or listeners being swapped
        return False


def takeover_rounds(root: Path, url: str, rounds: int, takeover_secs: float) -> list[float]:
    def member(name: str) -> ServerProcess:
        return ServerProcess(root / name, properties=FAST, extra_args=[
            "--database", url, "--ha-takeover-secs", str(takeover_secs), "--sim-dir", str(root / "cloud")])

    active, standby = member("a").start(), member("b").start()
    times = []
    try:
        for round_no in range(rounds):
            assert accepts_changes(active.netconf_port, f"r{round_no}-before")
            killed = time.monotonic()
            active.kill()
            while not accepts_changes(standby.netconf_port, f"r{round_no}-after"):
                if time.monotonic() - killed > 10 * takeover_secs:
                    raise SystemExit(f"round {round_no}: no takeover in {10 * takeover_secs} s")
                time.sleep(0.05)
            times.append(time.monotonic() - killed)
            print(f"round {round_no + 1}: accepting changes {times[-1]:.2f} s after kill -9", flush=True)
            active, standby = standby, active.start()
    finally:
        for proc in (active, standby):
            if proc.running():
                proc.stop()
    return times


def edit_cost(root: Path, extra: list[str], edits: int) -> float:
    server = ServerProcess(root, properties=FAST, extra_args=extra).start()
    try:
        with connect(server.netconf_port) as nc:
            nc.edit_config(target="running", config=tenant("warm-up"))
            started = time.perf_counter()
            for i in range(edits):
                nc.edit_config(target="running", config=tenant(f"t{i % 20}"))
            return (time.perf_counter() - started) / edits
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--takeover-secs", type=float, default=5.0)
    parser.add_argument("--edits", type=int, default=200)
    args = parser.parse_args()
    postgres = PostgresServer().start()
    try:
        with tempfile.TemporaryDirectory(prefix="esc-ha-bench-") as tmp:
            root = Path(tmp)
            times = takeover_rounds(root / "group", postgres.create_database(), args.rounds, args.takeover_secs)
            print(f"takeover after kill -9 (--ha-takeover-secs {args.takeover_secs:g}), {len(times)} rounds: "
                  f"median {statistics.median(times):.2f} s, worst {max(times):.2f} s")
            sqlite = edit_cost(root / "sqlite", [], args.edits)
            pg = edit_cost(root / "pg", ["--database", postgres.create_database()], args.edits)
            print(f"edit-config round trip over {args.edits} edits: SQLite {sqlite * 1000:.1f} ms, "
                  f"PostgreSQL {pg * 1000:.1f} ms")
    finally:
        postgres.stop()


if __name__ == "__main__":
    main()
