"""A real ``kill -9`` mid-snapshot: a new process on the same store and cloud sends only what is owed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from esc_netconf.core.backup import SnapshotManager, SnapshotStatus
from esc_netconf.core.context import CoreSettings
from esc_netconf.core.events import EscEvent, EventBus
from esc_netconf.core.lifecycle import EscCore
from esc_netconf.store import Database, SqlCoreStore
from esc_netconf.store.snapshot_store import SqlSnapshotStore
from esc_netconf.vim.sim import SimCloud, SimSettings

from .conftest import FAST_SETTINGS

CHILD = Path(__file__).with_name("killed_snapshotter.py")


def _run_until_created(data_dir: Path, boot_volume: bool) -> list[str]:
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(data_dir), "1" if boot_volume else "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert child.stdout is not None
    seen: list[str] = []
    try:
        for line in child.stdout:
            if line.startswith("event "):
                seen.append(" ".join(line.split()[1:]))
                if "VM_BACKUP_CREATED" in line:
                    break
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        _, err = child.communicate(timeout=10)
    assert child.returncode == -signal.SIGKILL, err
    return seen


@pytest.mark.timeout(60)
@pytest.mark.parametrize("boot_volume", [False, True])
async def test_kill9_after_created_then_restart_sends_only_complete(tmp_path: Path, boot_volume: bool) -> None:
    assert _run_until_created(tmp_path, boot_volume) == ["VM_BACKUP_INIT 200", "VM_BACKUP_CREATED 202"]

    database = Database.open_data_dir(tmp_path / "db")
    sim = SimCloud(tmp_path / "sim", lambda: SimSettings(delay_scale=0.01))
    core = EscCore(sim, SqlCoreStore(database), EventBus(), settings=CoreSettings(poll_interval=0.01,
                                                                                    monitor_interval=30.0))
    events: list[EscEvent] = []
    bus = EventBus()
    bus.subscribe(events.append)
    store = SqlSnapshotStore(database)
    manager = SnapshotManager(core, sim, store, bus, setting=FAST_SETTINGS.__getitem__,
                              export_dir=tmp_path / "exports")
    try:
        await core.start()
        await manager.start()
        await manager.wait_idle(10)
        assert [(e.event_type.value, e.status_code, e.transaction_id) for e in events] == [
            ("VM_BACKUP_COMPLETE", 200, "tx-kill")]
        (snapshot,) = manager.list_snapshots("t1")
        assert snapshot.status is SnapshotStatus.ACTIVE and snapshot.name == "killed-mid-snapshot"
        assert (snapshot.volume_snapshot_id is not None) is boot_volume
        assert len(await sim.list_images(name="killed-mid-snapshot")) == 1
        assert store.load_operations() == []
    finally:
        await manager.stop()
        await core.stop()
        await sim.close()
        database.close()
