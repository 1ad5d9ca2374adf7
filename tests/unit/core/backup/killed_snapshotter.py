"""Run as a child process by test_kill9: deploy a VM, snapshot it, print each event, wait to be killed.

Usage: python killed_snapshotter.py <data dir> <boot-volume: 0|1> [export]. Everything durable is under
the data dir: the SQL store (core and snapshot records) and the simulated cloud.  Each event is printed as
``event <type> <status_code>`` after the bus published it; after ``VM_BACKUP_CREATED`` the process idles
(its poll period is an hour) until the parent sends SIGKILL.

With ``export``: an EXPORT of the VM instead, polled fast, with VIM steps slowed to about a second; once
the operation has recorded its temporary image (phase ``EXPORT_UPLOAD``) the child prints
``phase EXPORT_UPLOAD`` and idles until killed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from esc_netconf.core.backup import Phase, SnapshotManager
from esc_netconf.core.context import CoreSettings
from esc_netconf.core.events import EscEvent, EventBus
from esc_netconf.core.lifecycle import EscCore
from esc_netconf.core.model import DeploymentSpec, InterfaceSpec, VmGroupSpec, VolumeSpec
from esc_netconf.store import Database, SqlCoreStore
from esc_netconf.store.snapshot_store import SqlSnapshotStore
from esc_netconf.vim.sim import SimCloud, SimSettings

OPERATIONS = ("snapshot.create", "snapshot.export", "snapshot.delete", "volume.create")
SETTINGS = {f"vim.asyncpoller.{op}.{what}": (3600.0 if what == "poll.secs" else 20.0)
            for op in OPERATIONS for what in ("poll.secs", "timeout.mins")}
EXPORT_SETTINGS = {key: (0.02 if key.endswith("poll.secs") else 20.0) for key in SETTINGS}


def _print(event: EscEvent) -> None:
    print("event", event.event_type.value, event.status_code, flush=True)


async def main(data_dir: Path, boot_volume: bool, export: bool) -> None:
    database = Database.open_data_dir(data_dir / "db")
    sim_settings = [SimSettings(delay_scale=0.01)]
    sim = SimCloud(data_dir / "sim", lambda: sim_settings[0])
    core = EscCore(sim, SqlCoreStore(database), EventBus(), settings=CoreSettings(poll_interval=0.01))
    await core.start()
    volumes = (VolumeSpec("root", size=1, sizeunit="GiB", boot_index=0),) if boot_volume else ()
    group = VmGroupSpec("g", "cirros", "m1.tiny", bootup_time=5, interfaces=(InterfaceSpec(0, "net-mgmt"),),
                        volumes=volumes)
    core.apply_update("t1", None, DeploymentSpec("dep", (group,)))
    await core.wait_idle(30)
    dep = core.find_deployment("t1", "dep")
    assert dep is not None
    (vm,) = core.vms(dep.dep_id)
    bus = EventBus()
    bus.subscribe(_print)
    store = SqlSnapshotStore(database)
    settings = EXPORT_SETTINGS if export else SETTINGS
    manager = SnapshotManager(core, sim, store, bus, setting=settings.__getitem__, export_dir=data_dir / "exports")
    await manager.start()
    print("vm", vm.name, flush=True)
    if not export:
        manager.create_snapshot(vm.name, "killed-mid-snapshot", transaction_id="tx-kill")
        await asyncio.sleep(3600)
        return
    sim_settings[0] = SimSettings(delay_scale=0.5)
    manager.create_snapshot(vm.name, "killed-mid-export", export=True, destination="out/", transaction_id="tx-kill")
    while not any(op.phase is Phase.EXPORT_UPLOAD and op.export_image_id for op in store.load_operations()):
        await asyncio.sleep(0.01)
    print("phase EXPORT_UPLOAD", flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2] == "1", sys.argv[3:] == ["export"]))
