"""EXPORT of a VM that boots from a volume: time, throughput and VIM calls, and the cost of a refusal.

The real ``SnapshotManager`` and core run over the simulated cloud (``--delay-scale`` shrinks its step
delays) with the SQL store, in this process.  One VM boots from a volume made from ``--image``; it is
exported ``--exports`` times, one after another, to ``<tmp>/exports``.  Each export stages the volume
snapshot's data (temporary volume, upload to image), downloads it with md5 verification and deletes the
temporaries.  Reported: bytes per export, wall time per export (p50/max), download throughput, VIM calls
per export; then the time to refuse an EXPORT destination outside the export directory (validation only:
no event, no VIM call).

Usage::

    .venv/bin/python bench/export_volume.py [--image ubuntu-22.04] [--exports 5] [--delay-scale 0.01]
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

from esc_netconf.core.backup import SnapshotManager  # noqa: E402
from esc_netconf.core.context import CoreSettings  # noqa: E402
from esc_netconf.core.errors import InvalidRequest  # noqa: E402
from esc_netconf.core.events import EscEvent, EventBus, EventType  # noqa: E402
from esc_netconf.core.lifecycle import EscCore  # noqa: E402
from esc_netconf.core.memory_store import MemoryStore  # noqa: E402
from esc_netconf.core.model import DeploymentSpec, InterfaceSpec, VmGroupSpec, VolumeSpec  # noqa: E402
from esc_netconf.store import Database  # noqa: E402
from esc_netconf.store.snapshot_store import SqlSnapshotStore  # noqa: E402
from esc_netconf.vim.sim import SimCloud, SimSettings  # noqa: E402

OPERATIONS = ("snapshot.create", "snapshot.export", "snapshot.delete", "volume.create")


async def run(image: str, exports: int, delay_scale: float, work: Path) -> int:
    settings = SimSettings(delay_scale=delay_scale)
    core_sim = SimCloud(work / "sim", lambda: settings)
    core = EscCore(core_sim, MemoryStore(), EventBus(), settings=CoreSettings(poll_interval=0.05, monitor_interval=30.0))
    await core.start()
    root = VolumeSpec("root", size=3, sizeunit="GiB", boot_index=0)
    group = VmGroupSpec("g", image, "m1.small", bootup_time=5, interfaces=(InterfaceSpec(0, "net-mgmt"),),
                        volumes=(root,))
    core.apply_update("bench", None, DeploymentSpec("dep", (group,)))
    await core.wait_idle(120)
    dep = core.find_deployment("bench", "dep")
    assert dep is not None
    (vm,) = core.vms(dep.dep_id)

    values = {f"vim.asyncpoller.{op}.{what}": (0.02 if what == "poll.secs" else 20.0)
              for op in OPERATIONS for what in ("poll.secs", "timeout.mins")}
    database = Database.open_data_dir(work / "db")
    sim = SimCloud(work / "sim", lambda: settings)
    bus = EventBus()
    completes: list[EscEvent] = []
    bus.subscribe(lambda e: completes.append(e) if e.event_type is EventType.VM_BACKUP_COMPLETE else None)
    manager = SnapshotManager(core, sim, SqlSnapshotStore(database), bus, setting=values.__getitem__,
                              export_dir=work / "exports")
    await manager.start()

    durations: list[float] = []
    sizes: list[int] = []
    for n in range(exports):
        started = time.perf_counter()
        record = manager.create_snapshot(vm.name, f"export-{n}", export=True)
        await manager.wait_idle(600)
        durations.append(time.perf_counter() - started)
        exported = manager.get_snapshot(record.id).export_path
        assert completes[-1].status_code == 200 and exported, completes[-1].status_message
        sizes.append(Path(exported).stat().st_size)
    calls = sim.calls.snapshot()

    refusals: list[float] = []
    for destination in ("/etc/passwd", "../../x", "a/../../x") * 300:
        started = time.perf_counter()
        try:
            manager.create_snapshot(vm.name, "refused", export=True, destination=destination)
        except InvalidRequest:
            refusals.append(time.perf_counter() - started)
    assert len(refusals) == 900

    mib = sizes[0] / (1 << 20)
    print(f"image {image}: boot volume holds {sizes[0]} bytes ({mib:.1f} MiB); sim delay scale {delay_scale:g}")
    print(f"{exports} volume-backed exports, one after another: p50 {statistics.median(durations):.2f} s, "
          f"max {max(durations):.2f} s per export (staging, download with md5, clean-up)")
    print(f"end-to-end throughput {mib / statistics.median(durations):.0f} MiB/s at p50")
    print("VIM calls per export:")
    for method, count in sorted(calls.items()):
        print(f"  {method:24s} {count / exports:7.1f}")
    print(f"refusing a destination outside the export directory: p50 {statistics.median(refusals) * 1e6:.0f} us, "
          f"max {max(refusals) * 1e6:.0f} us (900 refusals; no event, no VIM call)")

    await manager.stop()
    await core.stop()
    await sim.close()
    await core_sim.close()
    database.close()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="ubuntu-22.04")
    parser.add_argument("--exports", type=int, default=5)
    parser.add_argument("--delay-scale", type=float, default=0.01)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(run(args.image, args.exports, args.delay_scale, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
