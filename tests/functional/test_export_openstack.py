"""EXPORT of a VM that boots from a volume, against a real OpenStack: the file holds the volume's data.

Nova's snapshot of such a VM is an image without data (it names a Cinder snapshot), so downloading it
would export nothing.  The server stages the data through a temporary volume and Cinder's upload to
image; this checks, from the outside, that the file is non-empty, that its md5 is the checksum Glance
computed for the uploaded data, and that no temporary volume or image is left in the tenant's project.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from tests.functional.test_lifecycle_openstack import (  # noqa: F401  (fixtures)
    STEP_TIMEOUT,
    Stopwatch,
    assert_success,
    esc,
    eventually,
    tenant,
    vim,
)
from tests.integration import samples
from tests.integration.esc_client import ESC, EscClient, EventWatcher, RpcFailed
from tests.integration.server_process import ServerProcess

from esc_netconf.vim.base import VimDriver, VolumeStatus

pytestmark = pytest.mark.timeout(900)


def _export(client: EscClient, vm: str, name: str, destination: str) -> None:
    client.call(
        f'<vmBackupAction xmlns="{ESC}"><vmName>{vm}</vmName><backupName>{name}</backupName>'
        f"<actionType>EXPORT</actionType><destination>{destination}</destination></vmBackupAction>"
    )


async def test_export_of_a_volume_backed_vm_holds_data(
    esc: tuple[ServerProcess, EscClient, EventWatcher], vim: VimDriver, tenant: str  # noqa: F811
) -> None:
    server, client, watcher = esc
    clock = Stopwatch("EXPORT of a boot-from-volume VM")
    client.edit(samples.deployment(tenant, "exportdep", [samples.vm_group("bfv", max_active=1, boot_volume=True)]))
    events = watcher.until("SERVICE_ALIVE", timeout=STEP_TIMEOUT)
    assert_success(events)
    vm = next(e.vmname for e in events if e.type == "VM_ALIVE")
    assert vm is not None
    project = await vim.get_project(tenant)
    clock.lap("deploy boot-from-volume VM -> SERVICE_ALIVE")

    with pytest.raises(RpcFailed) as refused:
        _export(client, vm, "outside", "/tmp/esc-export-outside.raw")
    assert refused.value.error_code == "400" and "outside the export directory" in (refused.value.message or "")

    _export(client, vm, "bfv-export", "out/")
    events = watcher.until("VM_BACKUP_COMPLETE", timeout=STEP_TIMEOUT)
    clock.lap("vmBackupAction EXPORT boot-from-volume VM -> VM_BACKUP_COMPLETE")
    assert_success(events)
    message = events[-1].status_message
    match = re.search(r"exported to \[(.+?)\] \((\d+) bytes of volume snapshot \[.+?\] via image \[(.+?)\], "
                      r"md5 ([0-9a-f]{32}) verified\)", message)
    assert match, message
    path, size, md5 = Path(match.group(1)), int(match.group(2)), match.group(4)
    assert path.parent == (server.data_dir / "exports" / "out").resolve()
    data = path.read_bytes()
    assert len(data) == size > 0
    assert hashlib.md5(data, usedforsecurity=False).hexdigest() == md5 != hashlib.md5(b"").hexdigest()
    assert path.stat().st_mode & 0o777 == 0o600

    snapshot_image = next(i for i in await vim.list_images(name="bfv-export") if i.project_id == project.id)
    assert not snapshot_image.size and snapshot_image.volume_snapshot_ids()  # the data was not in it

    async def no_temporaries() -> bool:
        volumes = [v for v in await vim.list_volumes(project.id)
                   if v.name.startswith("esc-export-") and v.status is not VolumeStatus.DELETING]
        images = [i for i in await vim.list_images() if i.name.startswith("esc-export-")]
        return not volumes and not images

    assert await eventually(no_temporaries)
    clock.lap("temporary volume and image gone")
