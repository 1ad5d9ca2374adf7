"""End-to-end ESC scenarios through NETCONF (and the seed's REST calls) against a real OpenStack.

A live ``esc-netconf serve --vim openstack --os-cloud <cloud>`` is driven exactly as in the simulated
integration tests; every step is then checked on both sides: the escEvents an operator sees, and what
the real cloud shows (servers' statuses and addresses, images, Cinder snapshots and volumes), read with
the same driver. Each test uses a tenant of its own and deletes what it left in the cloud.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from tests.functional.conftest import configured_cloud, record_scenario
from tests.functional.os_cleanup import purge_projects
from tests.integration import samples
from tests.integration.esc_client import ESC, NS, EscClient, Event, EventWatcher
from tests.integration.rest.live_helpers import http
from tests.integration.server_process import ServerProcess

from esc_netconf.vim.base import (
    ImageStatus,
    Server,
    ServerStatus,
    VimDriver,
    VimNotFound,
    VolumeSnapshotStatus,
    VolumeStatus,
)

pytestmark = pytest.mark.timeout(900)

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
STEP_TIMEOUT = 240.0
PROPERTIES = {
    "vim.monitor.poll.secs": "1",
    "vim.asyncpoller.snapshot.create.poll.secs": "1",
    "vim.asyncpoller.snapshot.export.poll.secs": "1",
    "vim.asyncpoller.snapshot.delete.poll.secs": "1",
    "vim.asyncpoller.volume.create.poll.secs": "1",
}


@pytest.fixture
def tenant() -> str:
    return f"func-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def vim(tenant: str) -> AsyncIterator[VimDriver]:
    """The driver, to look at the cloud behind the server's back; cleans the tenant's project up."""
    from esc_netconf.vim.openstack import create_driver

    cloud = configured_cloud()
    assert cloud is not None
    driver = create_driver(cloud)
    yield driver
    try:
        try:
            project = await driver.get_project(tenant)
        except VimNotFound:
            return
        await purge_projects(driver, [project.id])
    finally:
        await driver.close()


@pytest.fixture
def esc(tmp_path: Path, vim: VimDriver) -> Iterator[tuple[ServerProcess, EscClient, EventWatcher]]:
    """The server under test; it depends on ``vim`` so that it stops *before* the cloud is cleaned
    (a running ESC would recover the VMs the cleanup deletes)."""
    cloud = configured_cloud()
    assert cloud is not None
    server = ServerProcess(
        tmp_path / "data", properties=PROPERTIES, extra_args=["--vim", "openstack", "--os-cloud", cloud]
    ).start(60)
    client, watcher = EscClient(server.netconf_port), EventWatcher(server.netconf_port)
    yield server, client, watcher
    client.close()
    watcher.close()
    if server.running():
        server.stop(60)


def assert_success(events: list[Event]) -> None:
    for event in events:
        assert event.status == "SUCCESS" and event.status_code in ("200", "201", "202"), event


def types(events: list[Event]) -> list[str]:
    return [e.type for e in events]


class Stopwatch:
    def __init__(self, test: str) -> None:
        self.test = test
        self.start = time.monotonic()

    def lap(self, step: str) -> None:
        now = time.monotonic()
        record_scenario(f"{self.test}: {step}", now - self.start)
        self.start = now


async def servers_of(vim: VimDriver, tenant: str) -> dict[str, Server]:
    project = await vim.get_project(tenant)
    return {s.name: s for s in await vim.list_servers(project.id)}


async def eventually(check, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    """Await ``check()`` until it returns a true value (the cloud settles after the event)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"cloud did not settle within {timeout}s")
        await asyncio.sleep(0.5)


# ---- lifecycle of a composite VNF ---------------------------------------------------------------


async def test_composite_vnf_lifecycle(
    esc: tuple[ServerProcess, EscClient, EventWatcher], vim: VimDriver, tenant: str
) -> None:
    server, client, watcher = esc
    dep = "composite"
    clock = Stopwatch("composite VNF (3 VMs, 2 groups, web depends on db)")
    # static addresses are per network, not per tenant: a random /24 keeps runs apart
    subnet = f"10.20.{random.randint(1, 254)}"
    pool = [f"{subnet}.2", f"{subnet}.3", f"{subnet}.4"]
    client.edit(
        samples.deployment(
            tenant, dep,
            [
                samples.vm_group("db", min_active=1, max_active=1),
                samples.vm_group("web", min_active=2, max_active=3, network="net-data",
                                 pool=pool),
            ],
            depends={"web": ["db"]},
        )
    )
    events = watcher.until("SERVICE_ALIVE", timeout=STEP_TIMEOUT)
    clock.lap("deploy -> SERVICE_ALIVE")
    assert_success(events)
    assert types(events).count("VM_DEPLOYED") == 3 and types(events).count("VM_ALIVE") == 3
    db_alive = next(i for i, e in enumerate(events) if e.type == "VM_ALIVE" and e.fields["vm_group"] == "db")
    first_web = next(i for i, e in enumerate(events) if e.type == "VM_DEPLOYED" and e.fields["vm_group"] == "web")
    assert db_alive < first_web
    vms = {e.vmname: e.fields["vm_group"] for e in events if e.type == "VM_ALIVE"}
    for name, group in vms.items():
        assert re.fullmatch(rf"{dep}_{group}_\d+_{UUID}", name or ""), name
    source = next(e for e in events if e.type == "VM_ALIVE").fields["vm_source"]
    project = await vim.get_project(tenant)
    assert source["vim_project"] == tenant and source["vim_project_id"] == project.id
    cloud = await servers_of(vim, tenant)
    assert set(cloud) == set(vms) and {s.status for s in cloud.values()} == {ServerStatus.ACTIVE}
    shown = cloud[source["vmname"]]
    assert source["hostid"] == shown.host_id and source["hostname"] == shown.hostname
    assert source["vmid"] == shown.id  # escEvent's vmid is Nova's server id
    opdata_ids = client.opdata(tenant, dep).xpath("e:vm_group/e:vm_instance/e:vm_id/text()", namespaces=NS)
    assert sorted(opdata_ids) == sorted(s.id for s in cloud.values())  # and so is opdata's vm_id
    web_ips = sorted(s.addresses[0].fixed_ip for n, s in cloud.items() if vms[n] == "web")
    assert web_ips == pool[:2]
    assert client.service_state(tenant, dep) == "SERVICE_ACTIVE_STATE"

    client.service_action("STOP", tenant, dep)
    events = watcher.until("SERVICE_STOPPED", timeout=STEP_TIMEOUT)
    clock.lap("service STOP -> SERVICE_STOPPED")
    assert_success(events)
    assert sorted(e.vmname for e in events if e.type == "VM_STOPPED") == sorted(vms)
    assert {s.status for s in (await servers_of(vim, tenant)).values()} == {ServerStatus.SHUTOFF}

    client.service_action("START", tenant, dep)
    events = watcher.until("SERVICE_ALIVE", timeout=STEP_TIMEOUT)
    clock.lap("service START -> SERVICE_ALIVE")
    assert_success(events)
    assert types(events).count("VM_STARTED") == 3
    assert {s.status for s in (await servers_of(vim, tenant)).values()} == {ServerStatus.ACTIVE}

    client.service_action("REBOOT", tenant, dep)
    events = watcher.until("SERVICE_ALIVE", timeout=STEP_TIMEOUT)
    clock.lap("service REBOOT -> SERVICE_ALIVE")
    assert_success(events)
    assert types(events).count("VM_REBOOTED") == 3
    assert set(client.vm_states(tenant, dep).values()) == {"VM_ALIVE_STATE"}

    db_vm = next(n for n, g in vms.items() if g == "db")
    client.vm_action("STOP", db_vm, force=True)
    events = watcher.until("VM_STOPPED", timeout=STEP_TIMEOUT)
    clock.lap("vmAction STOP (force) -> VM_STOPPED")
    assert (await servers_of(vim, tenant))[db_vm].status is ServerStatus.SHUTOFF
    client.vm_action("START", db_vm)
    watcher.until("VM_STARTED", timeout=STEP_TIMEOUT)
    clock.lap("vmAction START -> VM_STARTED")
    assert (await servers_of(vim, tenant))[db_vm].status is ServerStatus.ACTIVE

    client.edit(samples.delete_deployment(tenant, dep))
    events = watcher.until("SERVICE_UNDEPLOYED", timeout=STEP_TIMEOUT)
    clock.lap("undeploy -> SERVICE_UNDEPLOYED")
    assert_success(events)
    assert types(events).count("VM_UNDEPLOYED") == 3
    assert await eventually(lambda: _no_servers(vim, project.id))


async def _no_servers(vim: VimDriver, project_id: str) -> bool:
    return not await vim.list_servers(project_id)


# ---- snapshots and both restore paths -------------------------------------------------------------


def _backup(client: EscClient, vm: str, name: str) -> None:
    client.call(
        f'<vmBackupAction xmlns="{ESC}"><vmName>{vm}</vmName><backupName>{name}</backupName>'
        "<actionType>SNAPSHOT</actionType></vmBackupAction>"
    )


def _delete_snapshot(client: EscClient, name: str) -> None:
    client.call(f'<snapshotAction xmlns="{ESC}"><actionType>DELETE</actionType><snapshot>{name}</snapshot></snapshotAction>')


def _swap_boot_volume(tenant: str, dep: str, group: str, external_id: str) -> str:
    """The seed's restore: delete the original boot volume, add one naming the restored volume."""
    return (
        f'<config xmlns="{BASE}" xmlns:nc="{BASE}"><esc_datamodel xmlns="{ESC}"><tenants><tenant><name>{tenant}</name>'
        f"<deployments><deployment><name>{dep}</name><vm_group><name>{group}</name><volumes>"
        '<volume nc:operation="delete"><name>boot</name></volume>'
        "<volume><name>restored</name><size>1</size><sizeunit>GiB</sizeunit><bus>virtio</bus><type>LVM</type>"
        f"<boot_index>0</boot_index><external_id>{external_id}</external_id></volume>"
        "</volumes></vm_group></deployment></deployments></tenant></tenants></esc_datamodel></config>"
    )


def _group_image(tenant: str, dep: str, group: str, image: str) -> str:
    return (
        f'<config xmlns="{BASE}"><esc_datamodel xmlns="{ESC}"><tenants><tenant><name>{tenant}</name>'
        f"<deployments><deployment><name>{dep}</name><vm_group><name>{group}</name><image>{image}</image>"
        "</vm_group></deployment></deployments></tenant></tenants></esc_datamodel></config>"
    )


async def test_snapshots_and_restores(
    esc: tuple[ServerProcess, EscClient, EventWatcher], vim: VimDriver, tenant: str
) -> None:
    server, client, watcher = esc
    dep = "snapdep"
    clock = Stopwatch("snapshots and restores (1 image-backed VM, 1 boot-from-volume VM)")
    client.edit(
        samples.deployment(
            tenant, dep,
            [samples.vm_group("plain", max_active=1), samples.vm_group("bfv", max_active=1, boot_volume=True)],
        )
    )
    events = watcher.until("SERVICE_ALIVE", timeout=STEP_TIMEOUT)
    clock.lap("deploy image-backed + boot-from-volume -> SERVICE_ALIVE")
    assert_success(events)
    vm_of = {e.fields["vm_group"]: e.vmname for e in events if e.type == "VM_ALIVE"}
    project = await vim.get_project(tenant)
    cloud = await servers_of(vim, tenant)
    bfv_server = cloud[vm_of["bfv"]]
    assert bfv_server.image_id is None and len(bfv_server.volumes_attached) == 1
    original_root = bfv_server.volumes_attached[0]

    # -- snapshot both VMs
    _backup(client, vm_of["plain"], "snap-plain")
    events = watcher.until("VM_BACKUP_COMPLETE", timeout=STEP_TIMEOUT)
    clock.lap("vmBackupAction image-backed VM -> VM_BACKUP_COMPLETE")
    assert_success(events)
    assert types(events)[:1] == ["VM_BACKUP_INIT"] and "VM_BACKUP_CREATED" in types(events)
    _backup(client, vm_of["bfv"], "snap-bfv")
    events = watcher.until("VM_BACKUP_COMPLETE", timeout=STEP_TIMEOUT)
    clock.lap("vmBackupAction boot-from-volume VM -> VM_BACKUP_COMPLETE")
    assert_success(events)

    listing = http("GET", f"{server.rest_url}/snapshots?internalTenantId={tenant}", headers={"Accept": "application/json"})
    assert listing.status == 200
    snapshots = {s["name"]: s for s in listing.json()["snapshots"]}
    assert set(snapshots) == {"snap-plain", "snap-bfv"}
    assert snapshots["snap-plain"]["created_from_generated_vm_name"] == vm_of["plain"]
    assert not snapshots["snap-plain"]["volume_snapshot_id"]
    volume_snapshot_id = snapshots["snap-bfv"]["volume_snapshot_id"]
    assert volume_snapshot_id

    images = {i.name: i for i in await vim.list_images() if i.project_id == project.id}
    assert images["snap-plain"].status is ImageStatus.ACTIVE and images["snap-plain"].size
    assert images["snap-bfv"].status is ImageStatus.ACTIVE
    assert images["snap-bfv"].volume_snapshot_ids() == (volume_snapshot_id,)
    cinder_snapshot = await vim.get_volume_snapshot(volume_snapshot_id)
    assert cinder_snapshot.status is VolumeSnapshotStatus.AVAILABLE
    assert cinder_snapshot.name == "snapshot for snap-bfv" and cinder_snapshot.volume_id == original_root

    # -- a bootable volume from the volume snapshot (the seed's REST call)
    created = http(
        "POST", f"{server.rest_url}/snapshots/{snapshots['snap-bfv']['id']}/volumes",
        json.dumps({"name": "restore-root", "bootable": True}).encode(), {"Content-Type": "application/json"},
    )
    assert created.status == 202, created

    async def restored_volume():  # type: ignore[no-untyped-def]
        found = [v for v in await vim.list_volumes(project.id) if v.name == "restore-root"]
        return found[0] if found and found[0].status is VolumeStatus.AVAILABLE else None

    volume = await eventually(restored_volume, STEP_TIMEOUT)
    clock.lap("REST volume from volume snapshot -> available")
    assert volume.source_snapshot_id == volume_snapshot_id and volume.bootable

    # -- restore path 1: swap the boot volume under the running server (service update)
    client.edit(_swap_boot_volume(tenant, dep, "bfv", volume.id))
    events = watcher.until("SERVICE_UPDATED", timeout=STEP_TIMEOUT)
    clock.lap("service update: boot volume swap -> SERVICE_UPDATED")
    assert_success(events)
    assert "VM_UPDATED" in types(events)
    after = (await servers_of(vim, tenant))[vm_of["bfv"]]
    assert after.id == bfv_server.id and after.volumes_attached == (volume.id,)
    assert (await vim.get_volume(original_root)).status is VolumeStatus.AVAILABLE  # kept for the operator

    # -- restore path 2: rebuild the image-backed VM from its snapshot image (image update + recovery)
    client.edit(_group_image(tenant, dep, "plain", "snap-plain"))
    watcher.until("SERVICE_UPDATED", timeout=STEP_TIMEOUT)
    client.recovery(vm_of["plain"])
    events = watcher.until("VM_RECOVERY_COMPLETE", timeout=STEP_TIMEOUT)
    clock.lap("image update + recoveryVmAction DO -> VM_RECOVERY_COMPLETE")
    assert_success(events)
    rebuilt = [s for s in (await servers_of(vim, tenant)).values() if s.id != bfv_server.id]
    assert len(rebuilt) == 1 and rebuilt[0].image_id == images["snap-plain"].id
    assert rebuilt[0].status is ServerStatus.ACTIVE

    # -- delete both snapshots
    for name in ("snap-plain", "snap-bfv"):
        _delete_snapshot(client, name)
        events = watcher.until("VM_SNAPSHOT_DELETED", timeout=STEP_TIMEOUT)
        assert_success(events)
    clock.lap("snapshotAction DELETE x2 -> VM_SNAPSHOT_DELETED")
    for image in (images["snap-plain"], images["snap-bfv"]):
        with pytest.raises(VimNotFound):
            await vim.get_image(image.id)

    client.edit(samples.delete_deployment(tenant, dep))
    watcher.until("SERVICE_UNDEPLOYED", timeout=STEP_TIMEOUT)
    clock.lap("undeploy -> SERVICE_UNDEPLOYED")
    assert await eventually(lambda: _no_servers(vim, project.id))
