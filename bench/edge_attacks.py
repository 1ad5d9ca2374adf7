"""The edge attacks of issue 11 at full size, against a live ``esc-netconf serve`` on loopback.

For each attack: what the attacker got, how long a second client waited for its answer while the attack
held (NETCONF login + hello + get-config, and a REST GET), and the server's resident memory before,
during and after. Default limits unless ``--config`` names a TOML file with a ``[limits]`` table.

* ``silent``: 512 TCP connections to the SSH port that never send a byte;
* ``rest-idle``: 1,100 idle sockets on the REST port;
* ``channels``: one logged-in SSH connection asking for 600 session channels;
* ``guesses``: wrong passwords over SSH from 127.0.0.1 for ``--guess-seconds`` with 8 threads, while a
  real user logs in from 127.0.0.2 (the checked-guess rate comes from the server's burst summary).

Usage::

    .venv/bin/python bench/edge_attacks.py [--only silent,rest-idle,channels,guesses] [--config esc.toml]
"""

from __future__ import annotations

import argparse
import logging
import re
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration.edge_attacks import (close_all, guess_passwords, netconf_get_config,  # noqa: E402
                                            open_channels, rest_request, rss_mib, silent_sockets)
from tests.integration.server_process import ServerProcess  # noqa: E402

ATTACKS = ("silent", "rest-idle", "channels", "guesses")


def second_client(server: ServerProcess, source: str = "127.0.0.1") -> str:
    """The answer times of another client, as a table cell."""
    try:
        netconf = f"{netconf_get_config(server.netconf_port, source=source, timeout=30):.2f} s"
    except Exception as error:  # noqa: BLE001 - the figure is what failed
        netconf = f"failed ({type(error).__name__})"
    try:
        answer = rest_request(server.rest_port, timeout=30)
        rest = f"{answer.seconds:.2f} s (HTTP {answer.status})"
    except Exception as error:  # noqa: BLE001
        rest = f"failed ({type(error).__name__})"
    return f"NETCONF get-config {netconf}, REST GET {rest}"


def measured(server: ServerProcess, name: str, attack: Callable[[], tuple[str, Callable[[], None]]]) -> None:
    before = rss_mib(server.pid)
    started = time.monotonic()
    outcome, release = attack()
    setup = time.monotonic() - started
    during = rss_mib(server.pid)
    answer = second_client(server)
    release()
    time.sleep(1.0)
    after = rss_mib(server.pid)
    print(f"| {name} | {outcome} (set up in {setup:.1f} s) | {answer} | {before:.0f} / {during:.0f} / {after:.0f} MiB |",
          flush=True)


def silent(server: ServerProcess) -> tuple[str, Callable[[], None]]:
    crowd = silent_sockets(server.netconf_port, 512)
    time.sleep(1.0)
    return "512 silent SSH sockets held", lambda: close_all(crowd)


def rest_idle(server: ServerProcess) -> tuple[str, Callable[[], None]]:
    crowd = silent_sockets(server.rest_port, 1100)
    time.sleep(0.5)
    return "1,100 idle REST sockets held", lambda: close_all(crowd)


def channels(server: ServerProcess) -> tuple[str, Callable[[], None]]:
    flood = open_channels(server.netconf_port, 600)
    return f"600 channel requests: {flood.opened} opened, {flood.refused} refused", lambda: None


def guesses(server: ServerProcess, seconds: float) -> tuple[str, Callable[[], None]]:
    result = guess_passwords(server.netconf_port, seconds, threads=8)
    other = netconf_get_config(server.netconf_port, source="127.0.0.2", timeout=30)
    time.sleep(61)  # the longest wait, then the right password ends the burst and logs its summary
    netconf_get_config(server.netconf_port, source="127.0.0.1", timeout=30)
    log = "".join(server.output)
    summary = re.search(r"ended \(login succeeded\): (\d+) failed logins, (\d+) attempts refused", log)
    checked = int(summary.group(1)) if summary else -1
    return (f"{result.attempts} guesses in {result.elapsed:.0f} s ({result.rate:.0f}/s answered), "
            f"{checked} passwords checked ({checked / result.elapsed:.2f}/s); a user at 127.0.0.2 logged in "
            f"meanwhile in {other:.2f} s"), lambda: None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(ATTACKS), help="comma-separated subset of " + ", ".join(ATTACKS))
    parser.add_argument("--config", type=Path, help="TOML file with a [limits] table")
    parser.add_argument("--guess-seconds", type=float, default=20.0)
    args = parser.parse_args()
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)  # the attacker's own side: refusals are expected
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))  # the attacker's own sockets
    with tempfile.TemporaryDirectory() as tmp:
        extra = ["--log-level", "INFO"] + (["--config", str(args.config)] if args.config else [])
        server = ServerProcess(Path(tmp) / "data", extra_args=extra).start()
        try:
            print(f"idle server: {rss_mib(server.pid):.0f} MiB; second client alone: {second_client(server)}")
            print("| attack | attacker got | second client's answer during the attack | server RSS before / during / after |")
            print("|---|---|---|---|")
            for name in chosen:
                if name == "silent":
                    measured(server, name, lambda: silent(server))
                elif name == "rest-idle":
                    measured(server, name, lambda: rest_idle(server))
                elif name == "channels":
                    measured(server, name, lambda: channels(server))
                elif name == "guesses":
                    measured(server, name, lambda: guesses(server, args.guess_seconds))
                else:
                    raise SystemExit(f"unknown attack {name!r}")
            log = "".join(server.output)
            print(f"server log: {len(log.splitlines())} lines, {len(log)} bytes; tracebacks: {log.count('Traceback')}")
            kinds = Counter(re.sub(r"\d+", "N", line.split(": ", 1)[-1].split("] ")[-1])[:70]
                            for line in log.splitlines() if " INFO " in line or " WARNING " in line or " ERROR " in line)
            for kind, count in kinds.most_common(8):
                print(f"  {count:5d} x {kind}")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
