"""Opdata reads and restart with 10,000 VMs stored: filtered get, full get, restart to serving, RSS.

What a real server would hold is made by a real server: the seed phase runs the server in this process with
the simulated cloud at ``vim.sim.delay.scale=0`` and sends one bulk ``edit-config`` per tenant (each adds
``--deployments / --tenants`` deployments of ``--vms`` VMs), then waits until every deployment is
SERVICE_ACTIVE and stops it. So the database, the running configuration and the simulated cloud are exactly
what the deployments left there. ``--data-dir DIR`` keeps the seeded state in DIR and reuses it on the next
run (seeding 10,000 VMs takes minutes; measuring takes seconds).

The measure phase starts ``esc-netconf serve`` as a subprocess on that data dir, as an operator would, and
over NETCONF (raw client on loopback, see ``netconf_roundtrips.py``) measures:

* restart to serving: from spawning the process to its NETCONF hello answered and a ``get-config`` served;
* filtered get p50 (and slowest): ``get`` of one deployment's opdata, by subtree filter and by XPath filter,
  alternately (so neither kind alone meets the work the server still does right after its restart); then
  the same once the server is quiet (under 10% of a core over half a second: the core's first passes over
  every VM are done), with the seconds that took;
* full get p50: ``get`` with an XPath filter ``esc_datamodel/opdata`` (all opdata);
* the server's RSS (``VmRSS``) after those reads, and its peak (``VmHWM``).

Usage (from the repository root, after ``make setup``)::

    .venv/bin/python bench/opdata_scale.py [--deployments 2000] [--vms 5] [--tenants 10] [--repeat 30]
                                           [--data-dir /tmp/opdata-10k]

It prints the load average next to the figures: the machine is shared, so read them with it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lxml import etree  # noqa: E402

from bench.netconf_roundtrips import RawClient  # noqa: E402
from esc_netconf.app import Application, Options  # noqa: E402
from esc_netconf.netconf.messages import RpcReply  # noqa: E402
from tests.integration.server_process import ServerProcess  # noqa: E402

BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
ESC = "http://www.cisco.com/esc/esc"
SEEDED = "opdata-scale-seeded"
ACTIVE = "SERVICE_ACTIVE_STATE"


def _group(vms: int) -> str:
    return (
        "<vm_group><name>g</name><image>cirros</image><flavor>m1.tiny</flavor>"
        "<interfaces><interface><nicid>0</nicid><network>net-mgmt</network></interface></interfaces>"
        f"<scaling><min_active>{vms}</min_active><max_active>{vms}</max_active></scaling></vm_group>"
    )


def bulk_edit(tenant: str, names: list[str], vms: int) -> bytes:
    """One edit-config adding every deployment of ``names`` to ``tenant``."""
    deployments = "".join(f"<deployment><name>{name}</name>{_group(vms)}</deployment>" for name in names)
    return (
        f'<edit-config xmlns="{BASE}"><target><running/></target><config>'
        f'<esc_datamodel xmlns="{ESC}"><tenants><tenant><name>{tenant}</name><deployments>'
        f"{deployments}</deployments></tenant></tenants></esc_datamodel></config></edit-config>"
    ).encode()


def send_deployments(client: RawClient, deployments: int, vms: int, tenants: int) -> None:
    """``dep-0`` ... over ``tenant-0`` ..., one bulk edit-config per tenant, each after the previous reply."""
    start = time.perf_counter()
    per_tenant: dict[str, list[str]] = {}
    for i in range(deployments):
        per_tenant.setdefault(f"tenant-{i % tenants}", []).append(f"dep-{i}")
    for tenant, names in per_tenant.items():
        call(client, bulk_edit(tenant, names, vms))
    print(f"seed: {deployments} deployments accepted in {time.perf_counter() - start:.1f} s", flush=True)


def call(client: RawClient, operation: bytes) -> RpcReply:
    client.channel.sendall(client.session.rpc(operation))
    reply = client._wait(RpcReply)
    assert isinstance(reply, RpcReply)
    if reply.errors:
        raise SystemExit("rpc failed: " + etree.tostring(reply.element).decode()[:2000])
    return reply


def properties(data: Path) -> Path:
    path = data / "application.properties"
    path.write_text("vim.sim.delay.scale=0\nvim.monitor.poll.secs=10\n")
    return path


def seed(data: Path, deployments: int, vms: int, tenants: int) -> None:
    """Deploy ``deployments`` x ``vms`` through NETCONF on an in-process server, then stop it."""
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    app = Application(Options(netconf_port=0, rest_port=0, data_dir=data, properties=properties(data)))
    asyncio.run_coroutine_threadsafe(app.start(), loop).result(120)
    assert app.domain is not None
    core = app.domain.core
    client = RawClient(int(app.netconf_port or 0))
    start = time.perf_counter()
    send_deployments(client, deployments, vms, tenants)
    last = -1
    while True:
        states = [d.state.value for d in core.deployments()]
        done = states.count(ACTIVE)
        if done == deployments:
            break
        if "SERVICE_ERROR_STATE" in states:
            raise SystemExit("seed: a deployment failed")
        if done // 200 != last // 200:
            print(f"seed: {done} of {deployments} active after {time.perf_counter() - start:.0f} s", flush=True)
        last = done
        time.sleep(1.0)
    print(f"seed: all active after {time.perf_counter() - start:.1f} s", flush=True)
    client.close()
    asyncio.run_coroutine_threadsafe(app.stop(), loop).result(120)
    loop.call_soon_threadsafe(loop.stop)
    (data / SEEDED).write_text(f"{deployments} {vms} {tenants}\n")


def p50_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        action()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def alternate_ms(actions: list[Callable[[], object]], repeat: int) -> list[list[float]]:
    """Each action's times in ms over ``repeat`` rounds of running them one after the other."""
    times: list[list[float]] = [[] for _ in actions]
    for _ in range(repeat):
        for action, kept in zip(actions, times):
            t0 = time.perf_counter()
            action()
            kept.append((time.perf_counter() - t0) * 1000)
    return times


def rss_mib(pid: int) -> tuple[float, float]:
    """The process's ``VmRSS`` and ``VmHWM`` in MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used (less bent by a loaded machine than wall time)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid: int, *, window: float = 0.5, share: float = 0.1, limit: float = 30.0) -> float:
    """Wait until the server used less than ``share`` of a core over ``window`` seconds (the core's first
    passes over every VM after a restart are done), at most ``limit`` seconds; the seconds waited."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        before = cpu_seconds(pid)
        time.sleep(window)
        if cpu_seconds(pid) - before < share * window:
            break
    return time.perf_counter() - start


def subtree_one(tenant: str, name: str) -> bytes:
    return (
        f'<get xmlns="{BASE}"><filter type="subtree"><esc_datamodel xmlns="{ESC}"><opdata><tenants><tenant>'
        f"<name>{tenant}</name><deployments><deployment_name>{name}</deployment_name></deployments>"
        "</tenant></tenants></opdata></esc_datamodel></filter></get>"
    ).encode()


def xpath_one(tenant: str, name: str) -> bytes:
    select = f"esc_datamodel/opdata/tenants/tenant[name='{tenant}']/deployments[deployment_name='{name}']"
    return f'<get xmlns="{BASE}"><filter type="xpath" select="{select}"/></get>'.encode()


FULL = f'<get xmlns="{BASE}"><filter type="xpath" select="esc_datamodel/opdata"/></get>'.encode()
GET_CONFIG = f'<get-config xmlns="{BASE}"><source><running/></source></get-config>'.encode()


def measure(data: Path, deployments: int, tenants: int, repeat: int) -> None:
    load_before = os.getloadavg()
    server = ServerProcess(data)
    t0 = time.perf_counter()
    server.start(timeout=300)
    listening = time.perf_counter() - t0
    client = RawClient(server.netconf_port)
    call(client, GET_CONFIG)
    serving = time.perf_counter() - t0
    serving_cpu = cpu_seconds(server.pid)
    try:
        middle = deployments // 2
        tenant, name = f"tenant-{middle % tenants}", f"dep-{middle}"
        one = call(client, subtree_one(tenant, name))
        count = one.element.xpath("count(//e:vm_instance)", namespaces={"e": ESC})
        # alternately, so both kinds see the same server: right after a restart the core's first passes over
        # 10,000 VMs still run, and whichever kind were measured first alone would pay for them
        subtree_times, xpath_times = alternate_ms([lambda: call(client, subtree_one(tenant, name)),
                                                   lambda: call(client, xpath_one(tenant, name))], repeat)
        subtree, xpath = statistics.median(subtree_times), statistics.median(xpath_times)
        settled = settle(server.pid)
        settled_times = alternate_ms([lambda: call(client, subtree_one(tenant, name)),
                                      lambda: call(client, xpath_one(tenant, name))], repeat)
        reply = call(client, FULL)
        vm_count = int(reply.element.xpath("count(//e:vm_instance)", namespaces={"e": ESC}))
        full_repeat = max(3, repeat // 5)
        before = cpu_seconds(server.pid)
        full = p50_ms(lambda: call(client, FULL), full_repeat)
        full_cpu = (cpu_seconds(server.pid) - before) / full_repeat
        rss, peak = rss_mib(server.pid)
    finally:
        client.close()
        server.stop(timeout=60)
    load_after = os.getloadavg()
    print(f"stored                          {deployments} deployments, {vm_count} vm_instance in opdata")
    print(f"restart: listening after       {listening:.2f} s")
    print(f"restart to serving             {serving:.2f} s (hello answered and a get-config served; "
          f"server CPU {serving_cpu:.2f} s)")
    print(f"filtered get, one deployment   {subtree:.1f} ms subtree, {xpath:.1f} ms xpath (p50 of {repeat}, "
          f"alternating; slowest {max(subtree_times):.1f} / {max(xpath_times):.1f} ms; {int(count)} vm_instance)")
    print(f"  once settled                 {statistics.median(settled_times[0]):.1f} ms subtree, "
          f"{statistics.median(settled_times[1]):.1f} ms xpath (p50 of {repeat}; slowest "
          f"{max(settled_times[0]):.1f} / {max(settled_times[1]):.1f} ms), the server quiet {settled:.1f} s after serving")
    print(f"full get of opdata             {full:.0f} ms (p50 of {full_repeat}; server CPU {full_cpu * 1000:.0f} ms "
          "per get, mean, the monitor's passes included)")
    print(f"server RSS                     {rss:.0f} MiB after the reads, peak {peak:.0f} MiB")
    print(f"load average (1 min)           {load_before[0]:.1f} before, {load_after[0]:.1f} after "
          f"({os.cpu_count()} CPUs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=2000)
    parser.add_argument("--vms", type=int, default=5)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--data-dir", type=Path, help="keep the seeded state here and reuse it on the next run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data_dir or Path(tmp)
        data.mkdir(parents=True, exist_ok=True)
        marker = data / SEEDED
        wanted = f"{args.deployments} {args.vms} {args.tenants}\n"
        if not marker.exists() or marker.read_text() != wanted:
            if any(data.iterdir()):
                raise SystemExit(f"{data} holds something else than this bench's seed; give an empty directory")
            seed(data, args.deployments, args.vms, args.tenants)
        measure(data, args.deployments, args.tenants, args.repeat)


if __name__ == "__main__":
    main()
