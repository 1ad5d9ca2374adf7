"""A real ``kill -9`` mid-snapshot: a new process on the same store and cloud sends only what is owed."""

from __future__ import annotations

import asyncio
import hashlib
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
from esc_netconf.vim.base import VimNotFound
from esc_netconf.vim.sim import SimCloud, SimSettings

from .conftest import FAST_SETTINGS

CHILD = Path(__file__).with_name("killed_snapshotter.py")


def _run_until_created(data_dir: Path, boot_volume: bool, *, until: str = "VM_BACKUP_CREATED") -> list[str]:
    """Run the child until it prints a line containing ``until``, then SIGKILL it; the events it printed."""
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(data_dir), "1" if boot_volume else "0",
         *(["export"] if until.startswith("phase") else [])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert child.stdout is not None
    seen: list[str] = []
    try:
        for line in child.stdout:
            if line.startswith("event "):
                seen.append(" ".join(line.split()[1:]))
            if until in line:
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


@pytest.mark.timeout(60)
async def test_kill9_mid_volume_export_then_restart_finishes_and_leaves_no_temporaries(tmp_path: Path) -> None:
    """SIGKILL while the temporary volume uploads to the temporary image: the next process waits for that
    same upload, writes the verified file, deletes both temporaries, and sends only COMPLETE."""
    assert _run_until_created(tmp_path, True, until="phase EXPORT_UPLOAD") == [
        "VM_BACKUP_INIT 200", "VM_BACKUP_CREATED 202"]

    database = Database.open_data_dir(tmp_path / "db")
    sim = SimCloud(tmp_path / "sim", lambda: SimSettings(delay_scale=0.01))
    core = EscCore(sim, SqlCoreStore(database), EventBus(), settings=CoreSettings(poll_interval=0.01,
                                                                                    monitor_interval=30.0))
    events: list[EscEvent] = []
    bus = EventBus()
    bus.subscribe(events.append)
    store = SqlSnapshotStore(database)
    (in_flight,) = store.load_operations()
    assert in_flight.export_volume_id and in_flight.export_image_id
    manager = SnapshotManager(core, sim, store, bus, setting=FAST_SETTINGS.__getitem__,
                              export_dir=tmp_path / "exports")
    try:
        await core.start()
        await manager.start()
        await manager.wait_idle(20)
        assert [(e.event_type.value, e.status_code, e.transaction_id) for e in events] == [
            ("VM_BACKUP_COMPLETE", 200, "tx-kill")]
        (snapshot,) = manager.list_snapshots("t1")
        exported = Path(snapshot.export_path or "")
        assert exported.parent == (tmp_path / "exports" / "out").resolve()
        (cirros,) = await sim.list_images(name="cirros")
        assert hashlib.md5(exported.read_bytes(), usedforsecurity=False).hexdigest() == cirros.checksum
        assert sim.calls["create_volume"] == 0 and sim.calls["upload_volume_to_image"] == 0
        with pytest.raises(VimNotFound):
            await sim.get_image(in_flight.export_image_id)
        volume = await _gone_or_deleting(sim, in_flight.export_volume_id)
        assert volume is None, volume
        assert store.load_operations() == []
    finally:
        await manager.stop()
        await core.stop()
        await sim.close()
        database.close()


async def _gone_or_deleting(sim: SimCloud, volume_id: str) -> str | None:
    """``None`` once the volume is gone (deletions take a moment), else its last status."""
    for _ in range(200):
        try:
            status = (await sim.get_volume(volume_id)).status.value
        except VimNotFound:
            return None
        await asyncio.sleep(0.01)
    return status
