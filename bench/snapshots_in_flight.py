"""100 VM snapshots in flight at once: VIM calls per completed snapshot and completion latency.

The core deploys one deployment of N VMs on the simulated cloud, then the ``SnapshotManager`` snapshots
every VM at the same moment.  Reported:

* VIM calls made by the snapshot manager, per method and per completed snapshot.  Polling is batched,
  so the listings per snapshot fall as N grows (one ``list_images`` per poll period for all of them);
  the floor is one ``create_server_image`` per snapshot.
* Latency from VIM completion (the instant the simulated image became ``active``) to the
  ``VM_BACKUP_COMPLETE`` event: bounded by the poll period (``--poll-secs``) plus one listing.

The manager has its own ``SimCloud`` on the same state directory as the core's, so its call counter
counts only snapshot work (the core's monitor lists servers on its own).

Usage::

    .venv/bin/python bench/snapshots_in_flight.py [--vms 100] [--poll-secs 0.5] [--delay-scale 0.2] [--sql]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from esc_netconf.core.backup import MemorySnapshotStore, SnapshotManager, SnapshotStore  # noqa: E402
from esc_netconf.core.context import CoreSettings  # noqa: E402
from esc_netconf.core.events import EscEvent, EventBus, EventType  # noqa: E402
from esc_netconf.core.lifecycle import EscCore  # noqa: E402
from esc_netconf.core.memory_store import MemoryStore  # noqa: E402
from esc_netconf.core.model import DeploymentSpec, InterfaceSpec, ScalingSpec, VmGroupSpec  # noqa: E402
from esc_netconf.vim.sim import SimCloud, SimSettings  # noqa: E402


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run(vms: int, poll_secs: float, delay_scale: float, use_sql: bool, work: Path) -> int:
    settings = SimSettings(delay_scale=delay_scale)
    core_sim = SimCloud(work / "sim", lambda: settings)
    core = EscCore(core_sim, MemoryStore(), EventBus(),
                   settings=CoreSettings(poll_interval=0.05, monitor_interval=30.0, delete_timeout=60.0))
    await core.start()
    group = VmGroupSpec("g", "cirros", "m1.tiny", bootup_time=5, interfaces=(InterfaceSpec(0, "net-mgmt"),),
                        scaling=ScalingSpec(vms, vms, True))
    started = time.perf_counter()
    core.apply_update("bench", None, DeploymentSpec("dep", (group,)))
    await core.wait_idle(600)
    dep = core.find_deployment("bench", "dep")
    assert dep is not None
    names = [vm.name for vm in core.vms(dep.dep_id)]
    print(f"deployed {len(names)} VMs in {time.perf_counter() - started:.1f} s")

    database = None
    store: SnapshotStore
    if use_sql:
        from esc_netconf.store import Database
        from esc_netconf.store.snapshot_store import SqlSnapshotStore
        database = Database.open_data_dir(work / "db")
        store = SqlSnapshotStore(database)
    else:
        store = MemorySnapshotStore()
    values = {f"vim.asyncpoller.{op}.{what}": (poll_secs if what == "poll.secs" else 20.0)
              for op in ("snapshot.create", "snapshot.delete", "volume.create")
              for what in ("poll.secs", "timeout.mins")}
    sim = SimCloud(work / "sim", lambda: settings)
    bus = EventBus()
    completes: list[EscEvent] = []
    bus.subscribe(lambda e: completes.append(e) if e.event_type is EventType.VM_BACKUP_COMPLETE else None)
    manager = SnapshotManager(core, sim, store, bus, setting=values.__getitem__, export_dir=work / "exports")
    await manager.start()

    started = time.perf_counter()
    for name in names:
        manager.create_snapshot(name, f"snap-{name[-8:]}")
    accepted = time.perf_counter() - started
    await manager.wait_idle(600)
    elapsed = time.perf_counter() - started
    calls = sim.calls.snapshot()

    ok = [e for e in completes if e.status_code == 200]
    latencies: list[float] = []
    images = {i.id: i for i in await core_sim.list_images(ids=[s.image_id or "" for s in manager.list_snapshots()])}
    by_vm = {s.generated_vm_name: s for s in manager.list_snapshots()}
    for event in ok:
        snapshot = by_vm[event.vm_source.generated_vmname if event.vm_source else ""]
        image = images[snapshot.image_id or ""]
        latencies.append((event.event_time - image.updated_at).total_seconds())

    total = sum(calls.values())
    print(f"{len(names)} snapshots requested in {accepted * 1000:.1f} ms; all finished in {elapsed:.2f} s "
          f"({len(ok)} succeeded, {len(completes) - len(ok)} failed)")
    print(f"poll period {poll_secs:g} s, sim delay scale {delay_scale:g}, store {'sql' if use_sql else 'memory'}")
    print("VIM calls by the snapshot manager:")
    for method, count in sorted(calls.items()):
        print(f"  {method:24s} {count:6d}  ({count / max(1, len(ok)):.3f} per completed snapshot)")
    polls = total - calls.get("create_server_image", 0)
    print(f"  {'total':24s} {total:6d}  ({total / max(1, len(ok)):.3f} per completed snapshot; "
          f"polling {polls / max(1, len(ok)):.3f})")
    if latencies:
        print(f"VIM completion -> VM_BACKUP_COMPLETE: p50 {statistics.median(latencies) * 1000:.0f} ms, "
              f"p95 {_percentile(latencies, 0.95) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")

    await manager.stop()
    await core.stop()
    await sim.close()
    await core_sim.close()
    if database is not None:
        database.close()
    return 0 if len(ok) == len(names) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vms", type=int, default=100)
    parser.add_argument("--poll-secs", type=float, default=0.5)
    parser.add_argument("--delay-scale", type=float, default=0.2)
    parser.add_argument("--sql", action="store_true", help="keep the records in SQLite (durable writes)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="esc-bench-") as tmp:
        return asyncio.run(run(args.vms, args.poll_secs, args.delay_scale, args.sql, Path(tmp)))


if __name__ == "__main__":
    raise SystemExit(main())
