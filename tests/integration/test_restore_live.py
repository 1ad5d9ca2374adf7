"""Restore a VNF from its backup through NETCONF on a live server (the seed's "VNF Restore Operations").

(a) A VM without a bootable volume: ``vmBackupAction`` makes a snapshot image; a service update names it as
    the group's image; ``recoveryVmAction DO`` redeploys the VM from it.
(b) A VM booted from a volume: its snapshot also makes a volume snapshot; a bootable volume is made from it
    out of band (directly in the VIM, as an orchestrator would); a service update deletes the original
    volume and adds one naming the new volume's ``external_id``: the volume is swapped under the running
    server, which keeps its id, and the original volume stays in the VIM.

The VIM is inspected by opening the simulated cloud of the server's data dir, as the operator would run
``openstack server show``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import pytest

from esc_netconf.vim.base import Server, VimNotFound, Volume, VolumeSnapshotStatus, VolumeStatus
from esc_netconf.vim.sim import SimCloud, SimSettings
from tests.integration import samples
from tests.integration.esc_client import BASE, ESC, NS, EscClient, Event, EventWatcher
from tests.integration.server_process import ServerProcess

TENANT = "restore-tenant"
T = TypeVar("T")


def in_vim(server: ServerProcess, work: Callable[[SimCloud], Awaitable[T]]) -> T:
    """Run ``work`` against the live server's simulated cloud (its state is shared through the data dir)."""
    async def run() -> T:
        cloud = SimCloud(server.data_dir / "sim", lambda: SimSettings(delay_scale=0.02))
        try:
            return await work(cloud)
        finally:
            await cloud.close()

    return asyncio.run(run())


def vim_server(server: ServerProcess, vm_name: str) -> Server:
    async def find(cloud: SimCloud) -> Server:
        return next(s for s in await cloud.list_servers() if s.name == vm_name)

    return in_vim(server, find)


def only(events: list[Event], event_type: str) -> Event:
    (event,) = [e for e in events if e.type == event_type]
    return event


@pytest.fixture
def session(server: ServerProcess) -> Iterator[tuple[EscClient, EventWatcher]]:
    client, watcher = EscClient(server.netconf_port), EventWatcher(server.netconf_port)
    yield client, watcher
    client.close()
    watcher.close()


def deploy_one(client: EscClient, watcher: EventWatcher, dep: str, *, boot_volume: bool) -> str:
    client.edit(samples.deployment(TENANT, dep, [samples.vm_group("g", min_active=1, max_active=1,
                                                                  boot_volume=boot_volume)]))
    events = watcher.until("SERVICE_ALIVE", timeout=60)
    assert only(events, "SERVICE_ALIVE").status == "SUCCESS"
    name = only(events, "VM_ALIVE").vmname
    assert name is not None
    return name


def snapshot(client: EscClient, watcher: EventWatcher, vm_name: str, backup: str) -> None:
    client.call(f'<vmBackupAction xmlns="{ESC}"><vmName>{vm_name}</vmName><backupName>{backup}</backupName>'
                "<actionType>SNAPSHOT</actionType></vmBackupAction>")
    complete = only(watcher.until("VM_BACKUP_COMPLETE", timeout=60), "VM_BACKUP_COMPLETE")
    assert complete.status == "SUCCESS", complete


def group_edit(dep: str, body: str) -> str:
    return (f'<config xmlns="{BASE}" xmlns:nc="{BASE}"><esc_datamodel xmlns="{ESC}"><tenants><tenant>'
            f"<name>{TENANT}</name><deployments><deployment><name>{dep}</name>"
            f"<vm_group><name>g</name>{body}</vm_group></deployment></deployments></tenant></tenants>"
            "</esc_datamodel></config>")


def test_restore_from_a_snapshot_image_by_redeploy(server: ServerProcess,
                                                   session: tuple[EscClient, EventWatcher]) -> None:
    client, watcher = session
    vm = deploy_one(client, watcher, "restore-image", boot_volume=False)
    before = vim_server(server, vm)
    snapshot(client, watcher, vm, "restore-image-snap")
    (image,) = in_vim(server, lambda cloud: cloud.list_images(name="restore-image-snap"))

    client.edit(group_edit("restore-image", "<image>restore-image-snap</image>"))
    updated = only(watcher.until("SERVICE_UPDATED", timeout=30), "SERVICE_UPDATED")
    assert updated.status == "SUCCESS", updated
    assert vim_server(server, vm).id == before.id  # stored, used by the next redeploy only

    client.recovery(vm)
    complete = only(watcher.until("VM_RECOVERY_COMPLETE", timeout=60), "VM_RECOVERY_COMPLETE")
    assert complete.status == "SUCCESS", complete
    rebuilt = vim_server(server, vm)
    assert complete.fields["vm_source"]["vmid"] == before.id and complete.fields["vm_target"]["vmid"] == rebuilt.id
    assert rebuilt.id != before.id and rebuilt.image_id == image.id and before.image_id != image.id
    assert client.vm_states(TENANT, "restore-image") == {vm: "VM_ALIVE_STATE"}


def test_restore_a_boot_volume_by_swap(server: ServerProcess, session: tuple[EscClient, EventWatcher]) -> None:
    client, watcher = session
    dep = "restore-volume"
    vm = deploy_one(client, watcher, dep, boot_volume=True)
    before = vim_server(server, vm)
    (original,) = before.volumes_attached
    snapshot(client, watcher, vm, "restore-volume-snap")

    async def bootable_from_snapshot(cloud: SimCloud) -> Volume:
        (image,) = await cloud.list_images(name="restore-volume-snap")
        (snapshot_id,) = image.volume_snapshot_ids()
        snap = await cloud.get_volume_snapshot(snapshot_id)
        assert snap.status is VolumeSnapshotStatus.AVAILABLE
        volume = await cloud.create_volume("my-bootable-volume-from-snapshot-volume", project_id=snap.project_id,
                                           size_gb=snap.size_gb, snapshot_id=snap.id)
        deadline = time.monotonic() + 30
        while (volume := await cloud.get_volume(volume.id)).status is not VolumeStatus.AVAILABLE:
            assert time.monotonic() < deadline, volume
            await asyncio.sleep(0.05)
        return volume

    restored = in_vim(server, bootable_from_snapshot)
    assert restored.bootable

    client.edit(group_edit(dep, (
        '<volumes><volume nc:operation="delete"><name>boot</name></volume>'
        f"<volume><name>restored</name><boot_index>0</boot_index><external_id>{restored.id}</external_id>"
        "</volume></volumes>")))
    events = watcher.until("SERVICE_UPDATED", timeout=60)
    assert [e.type for e in events] == ["VM_UPDATED", "SERVICE_UPDATED"]
    assert all(e.status == "SUCCESS" and e.status_code == "200" for e in events), events
    assert events[0].vmname == vm and events[0].fields["depname"] == dep

    after = vim_server(server, vm)
    assert after.id == before.id and after.volumes_attached == (restored.id,)

    async def volumes(cloud: SimCloud) -> tuple[Volume, Volume]:
        return await cloud.get_volume(original), await cloud.get_volume(restored.id)

    try:
        old_volume, new_volume = in_vim(server, volumes)
    except VimNotFound:
        pytest.fail("the original volume must stay in the VIM")
    assert old_volume.status is VolumeStatus.AVAILABLE and old_volume.attachments == ()
    assert new_volume.status is VolumeStatus.IN_USE and new_volume.attachments[0].server_id == before.id

    assert client.vm_states(TENANT, dep) == {vm: "VM_ALIVE_STATE"}
    assert client.service_state(TENANT, dep) == "SERVICE_ACTIVE_STATE"
    history = client.opdata(TENANT, dep).xpath(
        "e:vm_group/e:vm_instance/e:history/e:entry[e:type='volume swapped']/e:detail/text()", namespaces=NS)
    assert history == [f"{original} -> {restored.id}"]

    # a second swap to a volume that does not exist is reported, and changes nothing in the VIM
    client.edit(group_edit(dep, (
        '<volumes><volume nc:operation="delete"><name>restored</name></volume>'
        "<volume><name>again</name><boot_index>0</boot_index><external_id>no-such-volume</external_id>"
        "</volume></volumes>")))
    events = watcher.until("SERVICE_UPDATED", timeout=60)
    assert [(e.type, e.status, e.status_code) for e in events] == [("VM_UPDATED", "FAILURE", "500"),
                                                                   ("SERVICE_UPDATED", "FAILURE", "500")]
    assert "no-such-volume" in events[0].status_message
    assert vim_server(server, vm).volumes_attached == (restored.id,)
