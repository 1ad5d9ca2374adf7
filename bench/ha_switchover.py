"""``escadm ha switchover`` on a pair of servers sharing one PostgreSQL, each round with a deploy in flight.

Each round deploys one VM on the active (NETCONF), runs ``escadm ha switchover`` at once (the deploy is
then in flight), and measures: how long the command takes to answer, until the new active accepts an
edit-config, and until the deploy begun on the old active is SERVICE_ACTIVE on the new one. The role
alternates between the two servers. At the end a ``startTime`` replay on the active counts, per
deployment, the VM_DEPLOYED, VM_ALIVE and SERVICE_ALIVE events (each expected once) and the
ESC_IN_SERVICE / ESC_OUT_OF_SERVICE pairs (one per round), and the simulated cloud's servers (one per VM).
A throw-away PostgreSQL is started from Debian's ``postgresql`` package (as ``make test-ha`` does).

Usage::

    .venv/bin/python bench/ha_switchover.py [--rounds 10] [--takeover-secs 5] [--delay-scale 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lxml import etree  # noqa: E402
from ncclient import manager  # noqa: E402

from esc_netconf.vim.sim import SimCloud, SimSettings  # noqa: E402
from tests.integration import samples  # noqa: E402
from tests.integration.esc_client import EscClient, Event, parse_event  # noqa: E402
from tests.integration.server_process import ServerProcess  # noqa: E402
from tests.postgres_server import PostgresServer  # noqa: E402

TENANT = "bench-sw"


def connect(port: int) -> manager.Manager:
    return manager.connect(host="127.0.0.1", port=port, username="admin", password="admin", hostkey_verify=False,
                           allow_agent=False, look_for_keys=False, timeout=30)


def accepts_changes(port: int, name: str) -> bool:
    try:
        with connect(port) as nc:
            nc.edit_config(target="running", config=samples.tenant_only(name))
        return True
    except Exception:  # noqa: BLE001 - refused (a standby), or listeners being swapped
        return False


def service_state(port: int, name: str) -> str:
    try:
        client = EscClient(port)
    except OSError:
        return ""
    try:
        return client.service_state(TENANT, name)
    except Exception:  # noqa: BLE001 - not visible yet, or listeners being swapped
        return ""
    finally:
        client.close()


def replay(port: int) -> list[Event]:
    with connect(port) as nc:
        nc.create_subscription(stream_name="escEvent", start_time="2000-01-01T00:00:00Z",
                               stop_time=(datetime.now(timezone.utc) + timedelta(seconds=5)).isoformat())
        events = []
        while True:
            notification = nc.take_notification(block=True, timeout=30)
            if notification is None:
                raise SystemExit("the replay did not end with replayComplete")
            payload = etree.fromstring(notification.notification_xml.encode())
            if payload.find(".//{*}replayComplete") is not None:
                return events
            body = payload.find(f"{{{samples.ESC_NS}}}escEvent")
            if body is not None:
                events.append(parse_event(body))


def cloud_servers(sim_dir: Path) -> list[str]:
    async def names() -> list[str]:
        cloud = SimCloud(sim_dir, lambda: SimSettings())
        try:
            return [server.name for server in await cloud.list_servers()]
        finally:
            await cloud.close()

    return asyncio.run(names())


def rounds(root: Path, url: str, count: int, takeover_secs: float, delay_scale: str) -> None:
    properties = {"vim.sim.delay.scale": delay_scale, "vim.monitor.poll.secs": "1"}

    def member(name: str) -> ServerProcess:
        return ServerProcess(root / name, properties=properties, extra_args=[
            "--database", url, "--ha-takeover-secs", str(takeover_secs), "--sim-dir", str(root / "cloud")])

    active, standby = member("a").start(), member("b").start()
    answered, accepting, converged = [], [], []
    try:
        for round_no in range(count):
            name = f"dep{round_no}"
            client = EscClient(active.netconf_port)
            try:
                client.edit(samples.deployment(TENANT, name, [samples.vm_group("g", min_active=1, max_active=1)]))
            finally:
                client.close()
            started = time.monotonic()
            done = subprocess.run([sys.executable, "-m", "esc_netconf.cli.escadm", "--url",
                                   f"{active.rest_url},{standby.rest_url}", "ha", "switchover"],
                                  capture_output=True, text=True, timeout=120)
            if done.returncode != 0:
                raise SystemExit(f"round {round_no + 1}: {done.stderr.strip()}")
            answered.append(time.monotonic() - started)
            while not accepts_changes(standby.netconf_port, f"r{round_no}"):
                if time.monotonic() - started > 60:
                    raise SystemExit(f"round {round_no + 1}: the new active accepts no change after 60 s")
                time.sleep(0.05)
            accepting.append(time.monotonic() - started)
            while service_state(standby.netconf_port, name) != "SERVICE_ACTIVE_STATE":
                if time.monotonic() - started > 120:
                    raise SystemExit(f"round {round_no + 1}: {name} did not converge on the new active")
                time.sleep(0.1)
            converged.append(time.monotonic() - started)
            print(f"round {round_no + 1}: answered {answered[-1]:.2f} s, new active accepting changes "
                  f"{accepting[-1]:.2f} s, deploy in flight converged {converged[-1]:.2f} s", flush=True)
            active, standby = standby, active
        events = replay(active.netconf_port)
        servers = cloud_servers(root / "cloud")
    finally:
        for proc in (active, standby):
            if proc.running():
                proc.stop()

    def median(values: list[float]) -> str:
        return f"median {statistics.median(values):.2f} s, worst {max(values):.2f} s"

    print(f"{count} switchovers (--ha-takeover-secs {takeover_secs:g}, vim.sim.delay.scale {delay_scale}):")
    print(f"  escadm ha switchover answered: {median(answered)}")
    print(f"  new active accepting edit-config: {median(accepting)}")
    print(f"  deploy in flight converged on the new active: {median(converged)}")
    kinds = Counter((e.type, e.fields.get("depname")) for e in events)
    expected = [(kind, f"dep{i}") for i in range(count) for kind in ("VM_DEPLOYED", "VM_ALIVE", "SERVICE_ALIVE")]
    lost = sum(1 for key in expected if kinds[key] == 0)
    doubled = sum(kinds[key] - 1 for key in expected if kinds[key] > 1)
    print(f"  escEvents of the deploys: {len(expected)} expected, {lost} lost, {doubled} duplicated")
    print(f"  ESC_IN_SERVICE {kinds[('ESC_IN_SERVICE', None)]} "
          f"(expected {count + 1}), ESC_OUT_OF_SERVICE {kinds[('ESC_OUT_OF_SERVICE', None)]} (expected {count})")
    duplicated_servers = sum(n - 1 for n in Counter(servers).values() if n > 1)
    print(f"  servers in the cloud: {len(servers)} for {count} VMs, {duplicated_servers} duplicated")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--takeover-secs", type=float, default=5.0)
    parser.add_argument("--delay-scale", default="0.2", help="vim.sim.delay.scale: how long a deploy lasts")
    args = parser.parse_args()
    postgres = PostgresServer().start()
    try:
        with tempfile.TemporaryDirectory(prefix="esc-ha-switchover-") as tmp:
            rounds(Path(tmp), postgres.create_database(), args.rounds, args.takeover_secs, args.delay_scale)
    finally:
        postgres.stop()


if __name__ == "__main__":
    main()
