"""EXPORT of a volume-backed VM: the volume's bytes, staged through temporaries that never outlive it."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest

from esc_netconf.core.backup import Phase, SnapshotStatus
from esc_netconf.core.backup.volume_export import temporary_name, volume_tag
from esc_netconf.vim.base import Volume, VolumeStatus
from esc_netconf.vim.sim import FaultMode, SimCloud

from .conftest import Backup
from .test_create import FAIL, OK


async def _boot_volume(sim: SimCloud, server_id: str) -> Volume:
    server = await sim.get_server(server_id)
    return await sim.get_volume(server.volumes_attached[0])


async def _temporaries(sim: SimCloud, settle: float = 2.0) -> tuple[list[str], list[str]]:
    """Names of the export's temporary volumes and images still in the cloud once deletions accepted by
    the VIM (``deleting``) had ``settle`` seconds to finish."""
    async with asyncio.timeout(settle):
        while True:
            volumes = await sim.list_volumes()
            if not any(v.status is VolumeStatus.DELETING for v in volumes):
                break
            await asyncio.sleep(0.01)
    images = [i.name for i in await sim.list_images() if i.name.startswith("esc-export-")]
    return [v.name for v in volumes if v.name.startswith("esc-export-")], images


async def test_volume_backed_export_holds_the_volume_data(backup: Backup) -> None:
    vm = await backup.deploy(boot_volume=True)
    root = await _boot_volume(backup.sim, vm.server_id or "")
    (cirros,) = await backup.sim.list_images(name="cirros")
    assert root.source_image_id == cirros.id  # so the volume holds cirros's bytes
    record = backup.manager.create_snapshot(vm.name, "bfv", export=True, destination="bfv/")
    await backup.idle()
    assert backup.kinds() == [("VM_BACKUP_INIT", OK, 200), ("VM_BACKUP_CREATED", OK, 202),
                              ("VM_BACKUP_COMPLETE", OK, 200)]
    snapshot = backup.manager.get_snapshot(record.id)
    own_image = await backup.sim.get_image(snapshot.image_id or "")
    assert own_image.size == 0 and own_image.volume_snapshot_ids()  # nothing to download there...
    path = backup.export_dir / "bfv" / "bfv.raw"
    data = path.read_bytes()  # ...yet the file holds the volume's data
    assert len(data) == cirros.size and hashlib.md5(data, usedforsecurity=False).hexdigest() == cirros.checksum
    assert snapshot.export_path == str(path.resolve()) and snapshot.status is SnapshotStatus.ACTIVE
    message = backup.events[-1].status_message
    assert f"{cirros.size} bytes of volume snapshot [{snapshot.volume_snapshot_id}]" in message
    assert f"md5 {cirros.checksum} verified" in message
    assert await _temporaries(backup.sim) == ([], [])
    assert backup.sim.calls["upload_volume_to_image"] == 1 and backup.store.load_operations() == []


@pytest.mark.parametrize(("fault", "expected"), [
    ("volume.upload", "failed in the VIM (image status killed)"),
    ("volume.create", "could not be created from its volume snapshot (status error)"),
])
async def test_a_failed_staging_step_is_a_failure_and_leaves_nothing(backup: Backup, fault: str,
                                                                    expected: str) -> None:
    vm = await backup.deploy(boot_volume=True)
    backup.faults[fault] = FaultMode.ERROR
    record = backup.manager.create_snapshot(vm.name, "doomed", export=True)
    await backup.idle()
    assert backup.kinds()[-1] == ("VM_BACKUP_COMPLETE", FAIL, 500)
    assert expected in backup.events[-1].status_message
    assert "Clean-up incomplete" not in backup.events[-1].status_message
    assert backup.manager.get_snapshot(record.id).status is SnapshotStatus.ACTIVE  # the snapshot is fine
    assert not backup.export_dir.exists() or list(backup.export_dir.rglob("*")) == []
    assert await _temporaries(backup.sim) == ([], [])


async def test_a_stuck_upload_times_out_and_its_temporaries_are_removed(backup: Backup) -> None:
    vm = await backup.deploy(boot_volume=True)
    backup.faults["volume.upload"] = FaultMode.TIMEOUT
    backup.settings["vim.asyncpoller.snapshot.export.timeout.mins"] = 0.01
    backup.manager.create_snapshot(vm.name, "stuck", export=True)
    await backup.idle()
    assert backup.kinds()[-1] == ("VM_BACKUP_COMPLETE", FAIL, 500)
    assert "did not complete within 0.01 minute(s)" in backup.events[-1].status_message
    assert await _temporaries(backup.sim) == ([], [])  # deleting the image ended the upload, freeing the volume


async def test_a_temporary_the_vim_keeps_is_named_in_the_event(backup: Backup) -> None:
    vm = await backup.deploy(boot_volume=True)
    backup.faults["volume.create"] = FaultMode.TIMEOUT  # the temporary volume never leaves "creating"
    backup.settings["vim.asyncpoller.snapshot.export.timeout.mins"] = 0.005
    backup.manager.create_snapshot(vm.name, "kept", export=True)
    await backup.idle()
    assert backup.kinds()[-1] == ("VM_BACKUP_COMPLETE", FAIL, 500)
    message = backup.events[-1].status_message
    (volume,) = [v for v in await backup.sim.list_volumes() if v.name.startswith("esc-export-")]
    assert f"Clean-up incomplete, delete by hand: temporary volume [{volume.id}]" in message
    assert "last seen: creating" in message


async def _phase(backup: Backup, phase: Phase, field: str) -> None:
    def reached() -> bool:
        return any(op.phase is phase and getattr(op, field) for op in backup.store.load_operations())
    await backup.wait_for(reached)


@pytest.mark.parametrize(("phase", "field"), [(Phase.EXPORT_VOLUME, "export_volume_id"),
                                              (Phase.EXPORT_UPLOAD, "export_image_id")])
async def test_restart_mid_export_resumes_with_the_same_temporaries(backup: Backup, phase: Phase,
                                                                   field: str) -> None:
    vm = await backup.deploy(boot_volume=True)
    backup.delay_scale = 0.2  # steps of about 0.4 s: time to stop the manager mid-step
    record = backup.manager.create_snapshot(vm.name, "resumed", export=True)
    await _phase(backup, phase, field)
    await backup.restart()
    await backup.idle()
    assert backup.kinds() == [("VM_BACKUP_INIT", OK, 200), ("VM_BACKUP_CREATED", OK, 202),
                              ("VM_BACKUP_COMPLETE", OK, 200)]
    assert backup.sim.calls["create_volume"] == 0  # the new manager made no second temporary
    assert backup.sim.calls["upload_volume_to_image"] == (1 if phase is Phase.EXPORT_VOLUME else 0)
    path = backup.manager.get_snapshot(record.id).export_path or ""
    (cirros,) = await backup.sim.list_images(name="cirros")
    with open(path, "rb") as handle:
        assert hashlib.md5(handle.read(), usedforsecurity=False).hexdigest() == cirros.checksum
    assert await _temporaries(backup.sim) == ([], [])


async def test_restart_between_asking_and_recording_adopts_the_tagged_volume(
        backup: Backup, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dying after the VIM made the temporary volume but before its id was written: found by its tag."""
    vm = await backup.deploy(boot_volume=True)
    made: list[Volume] = []
    real = backup.sim.create_volume

    async def create_then_hang(name: str, **spec: Any) -> Volume:
        made.append(await real(name, **spec))
        await asyncio.Event().wait()  # the process "dies" here
        raise AssertionError("unreachable")

    monkeypatch.setattr(backup.sim, "create_volume", create_then_hang)
    backup.manager.create_snapshot(vm.name, "adopted", export=True)
    await backup.wait_for(lambda: bool(made))
    (op,) = backup.store.load_operations()
    assert op.export_volume_id is None and made[0].description == volume_tag(op)
    assert made[0].name == temporary_name(op)
    await backup.restart()
    await backup.idle()
    assert backup.kinds()[-1] == ("VM_BACKUP_COMPLETE", OK, 200)
    assert backup.sim.calls["create_volume"] == 0
    assert await _temporaries(backup.sim) == ([], [])


async def test_restart_during_cleanup_finishes_it_and_reports_once(
        backup: Backup, monkeypatch: pytest.MonkeyPatch) -> None:
    """The outcome is decided and durable before the clean-up; a restart there cleans up and sends it once."""
    vm = await backup.deploy(boot_volume=True)
    hung = asyncio.Event()

    async def hang(volume_id: str) -> None:
        hung.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(backup.sim, "delete_volume", hang)
    backup.manager.create_snapshot(vm.name, "cleaned", export=True)
    await backup.wait_for(hung.is_set)
    (op,) = backup.store.load_operations()
    assert op.phase is Phase.CLEANUP and op.outcome_ok is True and "exported to" in (op.outcome_message or "")
    assert [k[0] for k in backup.kinds()] == ["VM_BACKUP_INIT", "VM_BACKUP_CREATED"]  # not reported yet
    await backup.restart()
    await backup.idle()
    assert backup.kinds()[2:] == [("VM_BACKUP_COMPLETE", OK, 200)]
    assert await _temporaries(backup.sim) == ([], [])
