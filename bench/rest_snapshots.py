"""Requests per second for ``GET /ESCManager/v0/snapshots`` with 10,000 snapshots stored.

The server side is the real ``SnapshotManager`` (records loaded from a store, as after a restart) behind
the real ESCManager routes and auth middleware, served by aiohttp on loopback in this process.  The load
comes from a separate process (aiohttp client, ``--concurrency`` requests in flight over keep-alive
connections), so client and server do not share an interpreter.  Reported per case: requests/s, latency
p50/p99 and the size of one answer.  Cases: the whole listing in XML (the default) and in JSON, and one
VM's snapshots (``?internalTenantId=&generatedVMName=``: the filter still scans every record).

Usage::

    .venv/bin/python bench/rest_snapshots.py [--snapshots 10000] [--seconds 5] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from esc_netconf.core.backup import MemorySnapshotStore, SnapshotManager, SnapshotRecord, SnapshotStatus  # noqa: E402
from esc_netconf.core.events import EventBus  # noqa: E402
from esc_netconf.core.lifecycle import EscCore  # noqa: E402
from esc_netconf.core.memory_store import MemoryStore  # noqa: E402
from esc_netconf.rest.escmanager import add_escmanager_routes  # noqa: E402
from esc_netconf.rest.server import MAX_BODY_BYTES, auth_middleware  # noqa: E402
from esc_netconf.users import UserDB  # noqa: E402
from esc_netconf.vim.sim import SimCloud, SimSettings  # noqa: E402

TENANTS = 20
VMS_PER_TENANT = 50


def records(count: int) -> list[SnapshotRecord]:
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    result = []
    for n in range(count):
        tenant = f"tenant-{n % TENANTS}"
        vm = f"dep-{n % TENANTS}_g_{(n // TENANTS) % VMS_PER_TENANT}_0000-{n % (TENANTS * VMS_PER_TENANT):04d}"
        result.append(SnapshotRecord(
            id=f"{n:08d}-94b6-492b-ae74-0bd36c1168dc", name=f"snapshot-{n}", tenant=tenant, generated_vm_name=vm,
            vm_id=f"vm-{n}", server_id=f"srv-{n}", deployment=f"dep-{n % TENANTS}", dep_id=f"dep-id-{n % TENANTS}",
            vm_group="g", vim_id="default_openstack_vim", tenant_id=f"project-{n % TENANTS}",
            volume_snapshot_id=f"vs-{n}" if n % 2 else None, status=SnapshotStatus.ACTIVE,
            status_message=f"Snapshot image for VM [{vm}] is active.",
            creation_start_date=start + timedelta(seconds=n), creation_end_date=start + timedelta(seconds=n + 60)))
    return result


def client_process(url: str, headers: dict[str, str], seconds: float, concurrency: int,
                   out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    async def load() -> tuple[int, list[float], int]:
        latencies: list[float] = []
        size = 0
        deadline = time.perf_counter() + seconds
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            async def worker() -> None:
                nonlocal size
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    async with session.get(url, headers=headers) as response:
                        body = await response.read()
                        assert response.status == 200
                    latencies.append(time.perf_counter() - started)
                    size = len(body)
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        return len(latencies), latencies, size

    out.put(asyncio.run(load()))


async def serve(count: int, work: Path) -> tuple[web.AppRunner, int, SnapshotManager]:
    sim = SimCloud(work / "sim", lambda: SimSettings(delay_scale=0.0))
    bus = EventBus()
    core = EscCore(sim, MemoryStore(), bus)
    store = MemorySnapshotStore()
    for record in records(count):
        store.save_snapshot(record)
    snapshots = SnapshotManager(core, sim, store, bus, setting=lambda key: 15.0, export_dir=work / "exports")
    await snapshots.start()
    web_app = web.Application(client_max_size=MAX_BODY_BYTES,
                              middlewares=[auth_middleware(UserDB.default_admin(), open_on_loopback=True)])
    add_escmanager_routes(web_app, core=core, snapshots=snapshots, bus=bus)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, int(runner.addresses[0][1]), snapshots


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        runner, port, snapshots = await serve(args.snapshots, Path(tmp))
        assert len(snapshots.list_snapshots()) == args.snapshots
        base = f"http://127.0.0.1:{port}/ESCManager/v0/snapshots"
        one_vm = records(args.snapshots)[0]
        cases = [
            ("all, XML (default)", base, {}),
            ("all, JSON", base, {"Accept": "application/json"}),
            ("one VM, XML", f"{base}?internalTenantId={one_vm.tenant}&generatedVMName={one_vm.generated_vm_name}", {}),
        ]
        print(f"GET /snapshots with {args.snapshots} snapshots stored; {args.concurrency} in flight, "
              f"{args.seconds:.0f} s per case")
        print(f"{'case':<22}{'req/s':>9}{'p50 ms':>10}{'p99 ms':>10}{'bytes':>12}")
        ctx = multiprocessing.get_context("spawn")
        for label, url, headers in cases:
            out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
            proc = ctx.Process(target=client_process, args=(url, headers, args.seconds, args.concurrency, out))
            proc.start()
            while out.empty():
                await asyncio.sleep(0.05)
            count, latencies, size = out.get()
            proc.join()
            latencies.sort()
            p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
            print(f"{label:<22}{count / args.seconds:>9.1f}{statistics.median(latencies) * 1000:>10.1f}"
                  f"{p99 * 1000:>10.1f}{size:>12}")
        await runner.cleanup()
        await snapshots.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
