"""A standby's reads with 10,000 VMs in the shared store: what a read costs, and how long its loop stalls.

A pair on a throw-away PostgreSQL (Debian's ``postgresql``, as ``make test-ha``): the active is an ``esc-netconf
serve`` subprocess, seeded through NETCONF like ``bench/opdata_scale.py`` (sim delay 0, one bulk edit per
tenant, then wait until every deployment is SERVICE_ACTIVE in the shared store); the standby runs in this
process, so a probe on its event loop (``bench/deploy_scale.py``'s: a task sleeping 5 ms that records how late
it wakes) sees what each read costs the loop. Measured on the standby, over NETCONF (raw client on loopback):

* ``get`` of one deployment's opdata (subtree filter), ``--repeat`` times, nothing changing meanwhile;
* ``get`` of all opdata (XPath ``esc_datamodel/opdata``), a fifth as many times;
* the same one-deployment ``get`` right after a change on the active (an ``edit-config`` adding a tenant, sent
  to the active and answered before the standby's ``get``): what a read costs when the store did change;
* the same after a VM action on the active (``vmAction`` STOP and START of one of that deployment's VMs, the
  ``get`` sent once its VM_STOPPED or VM_STARTED escEvent arrived): a change of records only, not of the
  configuration;
* a burst: 4 clients sending one-deployment ``get`` s at once, ``--repeat`` each;
* for comparison, the first two on the active (a subprocess: latency only).

For each: p50 and slowest latency, and the standby loop's longest lateness and the loop thread's CPU in its
longest wake-up (the machine is shared: lateness includes waiting for a CPU, the CPU figure does not).

Usage (from the repository root, after ``make setup``)::

    .venv/bin/python bench/ha_standby_reads.py [--deployments 2000] [--vms 5] [--tenants 10] [--repeat 20]
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select  # noqa: E402

from bench.deploy_scale import LoopLag  # noqa: E402
from bench.netconf_roundtrips import RawClient  # noqa: E402
from bench.opdata_scale import ACTIVE, BASE, ESC, FULL, call, send_deployments, subtree_one  # noqa: E402
from esc_netconf.app import Application, Options  # noqa: E402
from esc_netconf.store import Database  # noqa: E402
from esc_netconf.store.schema import core_deployments  # noqa: E402
from tests.integration.esc_client import EscClient, EventWatcher  # noqa: E402
from tests.integration.samples import tenant_only  # noqa: E402
from tests.integration.server_process import ServerProcess  # noqa: E402
from tests.postgres_server import PostgresServer  # noqa: E402

PROPERTIES = {"vim.sim.delay.scale": "0", "vim.monitor.poll.secs": "10"}


def seed(active: ServerProcess, url: str, deployments: int, vms: int, tenants: int) -> None:
    """Deploy ``deployments`` x ``vms`` through the active's NETCONF; wait until the shared store has them all
    SERVICE_ACTIVE."""
    client = RawClient(active.netconf_port)
    start = time.perf_counter()
    send_deployments(client, deployments, vms, tenants)
    client.close()
    db = Database.open(url)
    try:
        last = -1
        while True:
            with db.read() as connection:
                done = int(connection.execute(select(func.count()).select_from(core_deployments)
                                              .where(core_deployments.c.state == ACTIVE)).scalar_one())
            if done == deployments:
                break
            if done // 500 != last // 500:
                print(f"seed: {done} of {deployments} active after {time.perf_counter() - start:.0f} s", flush=True)
            last = done
            time.sleep(1.0)
    finally:
        db.close()
    print(f"seed: all active after {time.perf_counter() - start:.1f} s", flush=True)


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def report(what: str, times: list[float], lag: LoopLag) -> None:
    lateness, cpu, _ = lag.take()
    print(f"{what:<44} p50 {statistics.median(times):8.1f} ms, slowest {max(times):8.1f} ms ({len(times)} gets); "
          f"standby loop: longest lateness {max(lateness, default=0) * 1000:6.1f} ms, "
          f"longest CPU per wake-up {max(cpu, default=0) * 1000:6.1f} ms", flush=True)


def measure(standby: Application, active: ServerProcess, lag: LoopLag, deployments: int, tenants: int,
            repeat: int) -> None:
    middle = deployments // 2
    one = subtree_one(f"tenant-{middle % tenants}", f"dep-{middle}")
    client = RawClient(int(standby.netconf_port or 0))
    writer = RawClient(active.netconf_port)
    try:
        reply = call(client, FULL)
        vm_count = int(reply.element.xpath("count(//e:vm_instance)", namespaces={"e": ESC}))
        print(f"standby's opdata: {vm_count} vm_instance", flush=True)
        lag.take()
        report("one deployment, store unchanged", [timed(lambda: call(client, one)) for _ in range(repeat)], lag)
        report("all opdata, store unchanged",
               [timed(lambda: call(client, FULL)) for _ in range(max(3, repeat // 5))], lag)
        for what, request, times in (("one deployment", one, repeat), ("all opdata", FULL, max(3, repeat // 5))):
            on_active = [timed(lambda: call(writer, request)) for _ in range(times)]
            print(f"{'the same on the active: ' + what:<44} p50 {statistics.median(on_active):8.1f} ms, "
                  f"slowest {max(on_active):8.1f} ms ({times} gets)", flush=True)
        changed = []
        for i in range(repeat):
            call(writer, f'<edit-config xmlns="{BASE}"><target><running/></target>'
                         f"{tenant_only(f'bench-change-{os.getpid()}-{i}')}</edit-config>".encode())
            lag.take()  # the lag of the read after the change, not of the wait for the edit
            changed.append(timed(lambda: call(client, one)))
        report("one deployment, after a change on the active", changed, lag)
        actions, events = EscClient(active.netconf_port), EventWatcher(active.netconf_port)
        try:
            (vm, *_) = sorted(actions.vm_states(f"tenant-{middle % tenants}", f"dep-{middle}"))
            after_vm = []
            for i in range(repeat):
                action, event = ("STOP", "VM_STOPPED") if i % 2 == 0 else ("START", "VM_STARTED")
                actions.vm_action(action, vm, force=True)
                events.until(event, timeout=60)  # delivered once the VM's record is committed
                lag.take()
                after_vm.append(timed(lambda: call(client, one)))
            report("one deployment, after a VM action on the active", after_vm, lag)
        finally:
            actions.close()
            events.close()
        clients = [RawClient(int(standby.netconf_port or 0)) for _ in range(4)]
        try:
            lag.take()
            with ThreadPoolExecutor(len(clients)) as pool:
                burst = [t for times in pool.map(lambda c: [timed(lambda: call(c, one)) for _ in range(repeat)],
                                                 clients) for t in times]
            report("one deployment, 4 clients at once", burst, lag)
        finally:
            for c in clients:
                c.close()
    finally:
        client.close()
        writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--deployments", type=int, default=2000)
    parser.add_argument("--vms", type=int, default=5)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    load_before = os.getloadavg()
    postgres = PostgresServer().start()
    try:
        url = postgres.create_database()
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            group = ["--database", url, "--sim-dir", str(root / "cloud")]
            active = ServerProcess(root / "active", properties=PROPERTIES, extra_args=group).start(timeout=120)
            try:
                seed(active, url, args.deployments, args.vms, args.tenants)
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, daemon=True).start()
                (root / "standby").mkdir()
                properties = root / "standby" / "application.properties"
                properties.write_text("".join(f"{k}={v}\n" for k, v in PROPERTIES.items()))
                standby = Application(Options(netconf_port=0, rest_port=0, data_dir=root / "standby",
                                              properties=properties, database=url, sim_dir=root / "cloud"))
                started = time.perf_counter()
                asyncio.run_coroutine_threadsafe(standby.start(), loop).result(300)
                if standby.role != "standby":
                    raise SystemExit(f"the in-process server is the {standby.role}, not the standby")
                print(f"standby serving after {time.perf_counter() - started:.1f} s", flush=True)
                lag = LoopLag()
                lag.start(loop)
                try:
                    measure(standby, active, lag, args.deployments, args.tenants, args.repeat)
                finally:
                    lag.stop(loop)
                    asyncio.run_coroutine_threadsafe(standby.stop(), loop).result(120)
                    loop.call_soon_threadsafe(loop.stop)
            finally:
                active.stop(timeout=60)
    finally:
        postgres.stop()
    load_after = os.getloadavg()
    print(f"load average (1 min): {load_before[0]:.1f} before, {load_after[0]:.1f} after ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
