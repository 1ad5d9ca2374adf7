"""Takeover time of a group of two servers on one PostgreSQL, and the cost of PostgreSQL per edit-config.

Each round kills the active with SIGKILL and measures until the standby accepts an edit-config through
NETCONF (ncclient), then starts the killed server again as the new standby. Prints the median and the
worst round, and the mean edit-config round trip on SQLite and on PostgreSQL. A throw-away PostgreSQL is
started from Debian's ``postgresql`` package (as ``make test-ha`` does).

``--stop``: each round stops the active with SIGSTOP instead (a frozen VM, or a partition as the group
sees it) while a client keeps it writing (one edit-config after another), so the stop often lands inside
a write transaction; after the takeover, SIGCONT, and the old active must rejoin as the standby. The
worst round shows whether a stopped writer can hold the takeover up.

Usage::

    .venv/bin/python bench/ha_takeover.py [--rounds 10] [--takeover-secs 5] [--edits 200] [--stop]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import threading
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


def keep_writing(port: int, prefix: str, until: threading.Event) -> None:
    """One edit-config after another (each a write transaction on the active) until ``until`` is set."""
    try:
        with connect(port) as nc:
            count = 0
            while not until.is_set():
                nc.edit_config(target="running", config=tenant(f"{prefix}-{count}"))
                count += 1
    except Exception:  # noqa: BLE001 - the stop cut the session: that is the point
        return


def is_standby_again(server: ServerProcess, name: str, timeout: float) -> bool:
    """The resumed old active refuses changes again (it rejoined as a standby) within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with connect(server.netconf_port) as nc:
                nc.edit_config(target="running", config=tenant(name))
        except Exception as error:  # noqa: BLE001
            if "standby" in str(error):
                return True
        time.sleep(0.2)
    return False


def takeover_rounds(root: Path, url: str, rounds: int, takeover_secs: float, *, stop: bool) -> list[float]:
    def member(name: str) -> ServerProcess:
        return ServerProcess(root / name, properties=FAST, extra_args=[
            "--database", url, "--ha-takeover-secs", str(takeover_secs), "--sim-dir", str(root / "cloud")])

    active, standby = member("a").start(), member("b").start()
    times = []
    how = "SIGSTOP while writing" if stop else "kill -9"
    try:
        for round_no in range(rounds):
            assert accepts_changes(active.netconf_port, f"r{round_no}-before")
            writing = threading.Event()
            writer = threading.Thread(target=keep_writing, args=(active.netconf_port, f"w{round_no}", writing))
            if stop:
                writer.start()
                time.sleep(0.5 + 0.1 * (round_no % 5))  # stops at different points of the writes
                os.kill(active.pid, signal.SIGSTOP)
            else:
                active.kill()
            killed = time.monotonic()
            while not accepts_changes(standby.netconf_port, f"r{round_no}-after"):
                if time.monotonic() - killed > 10 * takeover_secs:
                    raise SystemExit(f"round {round_no + 1}: no takeover {10 * takeover_secs} s after {how}\n"
                                     f"the standby's log:\n{''.join(standby.output[-60:])}")
                time.sleep(0.05)
            times.append(time.monotonic() - killed)
            print(f"round {round_no + 1}: accepting changes {times[-1]:.2f} s after {how}", flush=True)
            if stop:
                os.kill(active.pid, signal.SIGCONT)
                writing.set()
                writer.join(timeout=30)
                if not is_standby_again(active, f"r{round_no}-refused", 10 * takeover_secs):
                    raise SystemExit(f"round {round_no + 1}: the old active did not rejoin as a standby")
                active, standby = standby, active
            else:
                active, standby = standby, active.start()
    finally:
        for proc in (active, standby):
            if proc.running():
                if stop:
                    os.kill(proc.pid, signal.SIGCONT)  # a round that failed may leave it stopped
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
    parser.add_argument("--stop", action="store_true", help="SIGSTOP the active while it writes, not kill -9")
    args = parser.parse_args()
    postgres = PostgresServer().start()
    try:
        with tempfile.TemporaryDirectory(prefix="esc-ha-bench-") as tmp:
            root = Path(tmp)
            times = takeover_rounds(root / "group", postgres.create_database(), args.rounds, args.takeover_secs,
                                    stop=args.stop)
            how = "SIGSTOP while writing" if args.stop else "kill -9"
            print(f"takeover after {how} (--ha-takeover-secs {args.takeover_secs:g}), {len(times)} rounds: "
                  f"median {statistics.median(times):.2f} s, worst {max(times):.2f} s")
            if args.stop:
                return
            sqlite = edit_cost(root / "sqlite", [], args.edits)
            pg = edit_cost(root / "pg", ["--database", postgres.create_database()], args.edits)
            print(f"edit-config round trip over {args.edits} edits: SQLite {sqlite * 1000:.1f} ms, "
                  f"PostgreSQL {pg * 1000:.1f} ms")
    finally:
        postgres.stop()


if __name__ == "__main__":
    main()
