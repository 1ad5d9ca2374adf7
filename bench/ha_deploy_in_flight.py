"""How long a deploy in flight takes to complete on the new active after kill -9 of the active.

A pair on a throw-away PostgreSQL (as ``make test-ha``) and one simulated cloud whose servers take
``3 s x --delay-scale`` to build. First an undisturbed deploy gives the reference time. Then each round
sends a deployment of ``--vms`` VMs to the active, waits until the cloud shows its first server (the deploy
is in flight), kills the active with SIGKILL, and measures until the standby, now active, reports the
deployment SERVICE_ACTIVE_STATE; it also checks that the cloud holds exactly one server per VM. The killed
server is started again as the next standby. Prints each round, the median and the worst, next to the
reference and the takeover alone.

Usage::

    .venv/bin/python bench/ha_deploy_in_flight.py [--rounds 5] [--vms 3] [--takeover-secs 5] [--delay-scale 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration import samples  # noqa: E402
from tests.integration.conftest import FAST_PROPERTIES  # noqa: E402
from tests.integration.esc_client import EscClient  # noqa: E402
from tests.integration.ha_group import member, role, servers, wait_active  # noqa: E402
from tests.integration.server_process import ServerProcess  # noqa: E402
from tests.postgres_server import PostgresServer  # noqa: E402

TENANT = "ha-inflight"
ACTIVE = "SERVICE_ACTIVE_STATE"


def send_deploy(server: ServerProcess, name: str, vms: int) -> None:
    client = EscClient(server.netconf_port)
    try:
        client.edit(samples.deployment(TENANT, name, [samples.vm_group("g", min_active=vms, max_active=vms)]))
    finally:
        client.close()


def wait_deployed(server: ServerProcess, name: str, timeout: float) -> None:
    """Poll the server's opdata (reconnecting while it takes over) until ``name`` is active."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client = EscClient(server.netconf_port)
        except Exception:  # noqa: BLE001 - listeners being swapped during the takeover
            time.sleep(0.05)
            continue
        try:
            while time.monotonic() < deadline:
                if client.service_state(TENANT, name) == ACTIVE:
                    return
                time.sleep(0.05)
        except Exception:  # noqa: BLE001 - a standby's session closes when it takes over: reconnect
            time.sleep(0.05)
        finally:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - already closed by the server
                time.sleep(0)
    raise SystemExit(f"{name} not active on {server.rest_url} within {timeout} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--vms", type=int, default=3)
    parser.add_argument("--takeover-secs", type=float, default=5.0)
    parser.add_argument("--delay-scale", type=float, default=1.0)
    args = parser.parse_args()
    properties = {**FAST_PROPERTIES, "vim.sim.delay.scale": str(args.delay_scale)}
    postgres = PostgresServer().start()
    members: list[ServerProcess] = []
    try:
        with tempfile.TemporaryDirectory(prefix="esc-ha-inflight-") as tmp:
            root, url = Path(tmp), postgres.create_database()
            cloud = root / "cloud"
            active = member(root, "a", url, properties, args.takeover_secs).start()
            members.append(active)
            wait_active(active, 30)
            standby = member(root, "b", url, properties, args.takeover_secs).start()
            members.append(standby)

            started = time.monotonic()
            send_deploy(active, "reference", args.vms)
            wait_deployed(active, "reference", 120)
            reference = time.monotonic() - started
            print(f"undisturbed deploy of {args.vms} VMs: {reference:.2f} s", flush=True)

            completions, takeovers = [], []
            for round_no in range(args.rounds):
                name = f"inflight-{round_no}"
                send_deploy(active, name, args.vms)
                while not servers(cloud, f"{name}_"):
                    time.sleep(0.02)
                active.kill()
                killed = time.monotonic()
                while role(standby) != "active":
                    time.sleep(0.02)
                takeovers.append(time.monotonic() - killed)
                wait_deployed(standby, name, 120)
                completions.append(time.monotonic() - killed)
                in_cloud = servers(cloud, f"{name}_")
                duplicates = len(in_cloud) - len({row[1] for row in in_cloud})
                print(f"round {round_no + 1}: active again {takeovers[-1]:.2f} s, deploy complete "
                      f"{completions[-1]:.2f} s after kill -9; {len(in_cloud)} servers for {args.vms} VMs"
                      f"{f' ({duplicates} DUPLICATED)' if duplicates else ''}", flush=True)
                active, standby = standby, active.start(timeout=120)
            print(f"deploy in flight at kill -9 (--ha-takeover-secs {args.takeover_secs:g}, {args.vms} VMs, "
                  f"delay scale {args.delay_scale:g}), {len(completions)} rounds: complete on the new active "
                  f"median {statistics.median(completions):.2f} s, worst {max(completions):.2f} s after the kill "
                  f"(takeover median {statistics.median(takeovers):.2f} s; undisturbed deploy {reference:.2f} s)")
    finally:
        for server in members:
            if server.running():
                server.kill()
        postgres.stop()


if __name__ == "__main__":
    main()
