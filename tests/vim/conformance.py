"""The VIM driver conformance suite, written once against ``VimDriver`` and run against every driver.

A runner module (``test_conformance_<driver>.py``) does ``from tests.vim.conformance import *`` and
provides three fixtures: ``driver`` (a fresh ``VimDriver``), ``catalog`` (a ``Catalog`` naming
what exists in that cloud) and ``settle_timeout`` (seconds to wait for a status change). The
tests use only the protocol, so the same file checks the simulated cloud on every commit and a
real OpenStack in the functional tier (after trio's ``check_two_way_stream``).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import pytest

from esc_netconf.vim.base import (
    BlockDevice,
    BlockDeviceSource,
    Image,
    ImageStatus,
    PortSpec,
    Project,
    RebootType,
    Server,
    ServerStatus,
    VimConflict,
    VimDriver,
    VimError,
    VimNotFound,
    Volume,
    VolumeSnapshot,
    VolumeSnapshotStatus,
    VolumeStatus,
)

__all__ = [
    "Catalog",
    "project",
    "settled",
    "test_attach_detach_volume",
    "test_boot_from_volume",
    "test_call_counter",
    "test_create_server_bad_references",
    "test_create_server_reaches_active",
    "test_delete_server_releases_volumes",
    "test_delete_project",
    "test_delete_server",
    "test_fixed_ip_conflicts",
    "test_flavors",
    "test_images_and_download",
    "test_list_servers_per_project",
    "test_networks",
    "test_not_found_everywhere",
    "test_port_made_ahead_of_its_server",
    "test_power_cycle_and_conflicts",
    "test_projects",
    "test_server_addresses_name_their_subnet",
    "test_server_diagnostics",
    "test_snapshot_image_backed_server",
    "test_snapshot_volume_backed_server_and_restore",
    "test_swap_volume",
    "test_swapped_in_root_volume_can_outlive_the_server",
    "test_volume_from_image",
    "test_volume_snapshots",
    "test_unknown_volume_type",
    "test_upload_volume_to_image",
    "test_volume_backed_snapshot_data_reaches_an_image",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Catalog:
    """What the cloud under test offers: an active image, a flavor, two networks and a fixed IP
    (on ``network``) the suite may claim."""

    image: str
    flavor: str
    network: str
    second_network: str
    free_fixed_ip: str
    outside_ip: str


# ---- helpers ---------------------------------------------------------------------------------


async def settled(
    fetch: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float, what: str = "resource"
) -> T:
    """Poll ``fetch`` until ``done`` holds (as a caller of the async API must); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = await fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not settle within {timeout}s; last seen: {value!r}")
        await asyncio.sleep(0.01)


async def gone(fetch: Callable[[], Awaitable[object]], timeout: float) -> VimNotFound:
    """Poll until ``fetch`` raises ``VimNotFound``; return the error."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await fetch()
        except VimNotFound as error:
            return error
        if time.monotonic() > deadline:
            pytest.fail(f"resource still there after {timeout}s")
        await asyncio.sleep(0.01)


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def project(driver: VimDriver) -> Project:
    return await driver.ensure_project(_unique("conformance"))


async def _image(driver: VimDriver, catalog: Catalog) -> Image:
    found = await driver.list_images(name=catalog.image)
    assert found, f"catalog image {catalog.image} missing"
    return found[0]


async def _active_server(
    driver: VimDriver, catalog: Catalog, project: Project, timeout: float, **overrides: object
) -> Server:
    image = await _image(driver, catalog)
    spec: dict[str, object] = {
        "project_id": project.id,
        "flavor": catalog.flavor,
        "image_id": image.id,
        "networks": [PortSpec(catalog.network)],
    }
    spec.update(overrides)
    server = await driver.create_server(_unique("vm"), **spec)  # type: ignore[arg-type]
    return await settled(
        lambda: driver.get_server(server.id), lambda s: s.status is ServerStatus.ACTIVE, timeout, "server"
    )


async def _status(fetch: Callable[[], Awaitable[T]], timeout: float, status: object) -> T:
    return await settled(fetch, lambda r: getattr(r, "status") is status, timeout, f"wait for {status}")


async def _download(stream: AsyncIterator[bytes]) -> tuple[int, str]:
    digest, size = hashlib.md5(usedforsecurity=False), 0
    async for chunk in stream:
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


# ---- identity and catalog --------------------------------------------------------------------


async def test_projects(driver: VimDriver) -> None:
    name = _unique("tenant")
    first = await driver.ensure_project(name)
    again = await driver.ensure_project(name)
    assert first == again and first.name == name and first.enabled
    assert await driver.get_project(name) == first
    assert await driver.get_project(first.id) == first
    assert first in await driver.list_projects()
    with pytest.raises(VimNotFound):
        await driver.get_project(_unique("nobody"))


async def test_delete_project(driver: VimDriver) -> None:
    project = await driver.ensure_project(_unique("gone"))
    await driver.delete_project(project.id)
    with pytest.raises(VimNotFound):
        await driver.get_project(project.id)
    assert project.id not in {p.id for p in await driver.list_projects()}
    with pytest.raises(VimNotFound):
        await driver.delete_project(project.id)


async def test_server_addresses_name_their_subnet(
    driver: VimDriver, catalog: Catalog, project: Project, settle_timeout: float
) -> None:
    """Each NIC carries the subnet of its fixed IP, one of its network's subnets (opdata/escEvent show it)."""
    network = await driver.get_network(catalog.network)
    server = await _active_server(driver, catalog, project, settle_timeout)
    try:
        nic = server.address(0)
        assert nic is not None and nic.network_id == network.id
        assert nic.subnet_id in {s.id for s in network.subnets}
    finally:
        await driver.delete_server(server.id)


async def test_flavors(driver: VimDriver, catalog: Catalog) -> None:
    flavor = await driver.get_flavor(catalog.flavor)
    assert flavor.name == catalog.flavor and flavor.vcpus >= 1 and flavor.ram_mb > 0
    assert await driver.get_flavor(flavor.id) == flavor
    assert flavor in await driver.list_flavors()
    with pytest.raises(VimNotFound):
        await driver.get_flavor("m1.nonexistent")


async def test_networks(driver: VimDriver, catalog: Catalog) -> None:
    network = await driver.get_network(catalog.network)
    assert network.name == catalog.network and network.subnets
    assert network.subnets[0].network_id == network.id and "/" in network.subnets[0].cidr
    assert await driver.get_network(network.id) == network
    names = {n.name for n in await driver.list_networks()}
    assert {catalog.network, catalog.second_network} <= names
    with pytest.raises(VimNotFound):
        await driver.get_network("net-nonexistent")


async def test_call_counter(driver: VimDriver, catalog: Catalog) -> None:
    before = driver.calls.snapshot()
    await driver.list_flavors()
    await driver.list_flavors()
    with pytest.raises(VimNotFound):
        await driver.get_flavor("m1.nonexistent")
    assert driver.calls["list_flavors"] == before.get("list_flavors", 0) + 2
    assert driver.calls["get_flavor"] == before.get("get_flavor", 0) + 1
    assert driver.calls.total == sum(before.values()) + 3


# ---- servers ------------------------------------------------------------------------------------


async def test_create_server_reaches_active(
    driver: VimDriver, catalog: Catalog, project: Project, settle_timeout: float
) -> None:
    image = await _image(driver, catalog)
    created = await driver.create_server(
        "conformance-vm",
        project_id=project.id,
        flavor=catalog.flavor,
        image_id=image.id,
        networks=[PortSpec(catalog.network, catalog.free_fixed_ip), PortSpec(catalog.second_network)],
        metadata={"esc": "yes"},
    )
    assert created.status is ServerStatus.BUILD
    server = await _status(lambda: driver.get_server(created.id), settle_timeout, ServerStatus.ACTIVE)
    assert (server.id, server.name, server.project_id) == (created.id, "conformance-vm", project.id)
    assert server.image_id == image.id and server.flavor == catalog.flavor
    assert server.metadata["esc"] == "yes" and server.fault is None and server.task_state is None
    assert server.host_id and server.hostname and server.updated_at >= server.created_at
    nic0, nic1 = server.address(0), server.address(1)
    assert nic0 is not None and nic1 is not None
    assert (nic0.network, nic0.fixed_ip) == (catalog.network, catalog.free_fixed_ip)
    assert nic1.network == catalog.second_network and nic1.fixed_ip
    assert nic0.port_id != nic1.port_id and nic0.mac.count(":") == 5


async def test_list_servers_per_project(
    driver: VimDriver, catalog: Catalog, project: Project, settle_timeout: float
) -> None:
    other = await driver.ensure_project(_unique("other"))
    mine = await _active_server(driver, catalog, project, settle_timeout)
    theirs = await _active_server(driver, catalog, other, settle_timeout)
    assert [s.id for s in await driver.list_servers(project.id)] == [mine.id]
    assert [s.id for s in await driver.list_servers(other.id)] == [theirs.id]
    assert {mine.id, theirs.id} <= {s.id for s in await driver.list_servers()}


async def test_power_cycle_and_conflicts(
    driver: VimDriver, catalog: Catalog, project: Project, settle_timeout: float
) -> None:
    server = await _active_server(driver, catalog, project, settle_timeout)

    async def fetch() -> Server:
        return await driver.get_server(server.id)

    await driver.stop_server(server.id)
    await _status(fetch, settle_timeout, ServerStatus.SHUTOFF)
    with pytest.raises(VimConflict, match="stop"):
        await driver.stop_server(server.id)
    with pytest.raises(VimConflict):
        await driver.reboot_server(server.id, RebootType.SOFT)
    await driver.start_server(server.id)
    await _status(fetch, settle_timeout, ServerStatus.ACTIVE)
    with pytest.raises(VimConflict, match="start"):
        await driver.start_server(server.id)
    await driver.reboot_server(server.id, RebootType.SOFT)
    rebooting = await fetch()
    assert rebooting.status in (ServerStatus.REBOOT, ServerStatus.ACTIVE)
    await settled(fetch, lambda s: s.status is ServerStatus.ACTIVE and s.task_state is None, settle_timeout)
    await driver.reboot_server(server.id, RebootType.HARD)
    await settled(fetch, lambda s: s.status is ServerStatus.ACTIVE and s.task_state is None, settle_timeout)
    await driver.stop_server(server.id)
    await _status(fetch, settle_timeout, ServerStatus.SHUTOFF)
    await driver.reboot_server(server.id, RebootType.HARD)  # Nova accepts a hard reboot of a stopped server
    await _status(fetch, settle_timeout, ServerStatus.ACTIVE)


async def test_server_diagnostics(
    driver: VimDriver, catalog: Catalog, project: Project, settle_timeout: float
) -> None:
    """A running server reports CPU and memory use (what CPU/Memory KPIs read); a stopped one is a conflict."""
    server = await _active_server(driver, catalog, project, settle_timeout)
    diagnostics = await driver.get_server_diagnostics(server.id)
    assert diagnostics.server_id == server.id
    assert diagnostics.cpu_utilisation, "a running server reports its vCPUs"
    cpu, memory = diagnostics.cpu_percent(), diagnostics.memory_percent()
    assert cpu is not None and 0 <= cpu <= 100
    assert memory is not None and 0 <= memory <= 100
    assert diagnostics.memory_max_mb is not None and diagnostics.memory_max_mb > 0
    await driver.stop_server(server.id)
    await _status(lambda: driver.get_server(server.id), settle_timeout, ServerStatus.SHUTOFF)
    with pytest.raises(VimConflict, match="get_diagnostics"):
        await driver.get_server_diagnostics(server.id)
    with pytest.raises(VimNotFound):
        await driver.get_server_diagnostics(str(uuid.uuid4()))


async def test_delete_server(driver: VimDriver, catalog: Catalog, project: Project, settle_timeout: float) -> None:
    server = await _active_server(driver, catalog, project, settle_timeout)
    await driver.delete_server(server.id)
    error = await gone(lambda: driver.get_server(server.id), settle_timeout)
    assert server.id in error.message and error.code == 404
    assert server.id not in {s.id for s in await driver.list_servers(project.id)}
    # its fixed IP is free again
    nic = server.address(0)
    assert nic is not None
    again = await _active_server(
        driver, catalog, project, settle_timeout, networks=[PortSpec(catalog.network, nic.fixed_ip)]
    )
    assert again.addresses[0].fixed_ip == nic.fixed_ip


async def test_fixed_ip_conflicts(driver: VimDriver, catalog: Catalog, project: Project, settle_timeout: float) -> None:
    await _active_server(driver, catalog, project, settle_timeout, networks=[PortSpec(catalog.network, catalog.free_fixed_ip)])
    with pytest.raises(VimConflict, match=catalog.free_fixed_ip.replace(".", r"\.")):
        await driver.create_server(
            _unique("vm"), project_id=project.id, flavor=catalog.flavor, image_id=(await _image(driver, catalog)).id,
            networks=[PortSpec(catalog.network, catalog.free_fixed_ip)],
        )
    with pytest.raises(VimConflict):
        await driver.create_server(
            _unique("vm"), project_id=project.id, flavor=catalog.flavor, image_id=(await _image(driver, catalog)).id,
            networks=[PortSpec(catalog.network, catalog.outside_ip)],
        )
    assert len(await driver.list_servers(project.id)) == 1


async def test_create_server_bad_references(driver: VimDriver, catalog: Catalog, project: Project) -> None:
    image = await _image(driver, catalog)
    good = {"project_id": project.id, "flavor": catalog.flavor, "image_id": image.id, "networks": [PortSpec(catalog.network)]}
    for bad in ({"flavor": "m1.nonexistent"}, {"image_id": str(uuid.uuid4())}, {"networks": [PortSpec("net-nonexistent")]}):
        with pytest.raises(VimNotFound):
            await driver.create_server(_unique("vm"), **{**good, **bad})  # type: ignore[arg-type]
    assert await driver.list_servers(project.id) == []


async def test_not_found_everywhere(driver: VimDriver) -> None:
    missing = str(uuid.uuid4())
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: driver.get_server(missing),
        lambda: driver.stop_server(missing),
        lambda: driver.start_server(missing),
        lambda: driver.reboot_server(missing),
        lambda: driver.delete_server(missing),
        lambda: driver.create_server_image(missing, "x"),
        lambda: driver.get_image(missing),
        lambda: driver.delete_image(missing),
        lambda: driver.get_volume(missing),
        lambda: driver.delete_volume(missing),
        lambda: driver.get_volume_snapshot(missing),
        lambda: driver.delete_volume_snapshot(missing),
        lambda: driver.create_volume_snapshot(missing, "x"),
        lambda: driver.upload_volume_to_image(missing, "x"),
    ]
    for call in calls:
        with pytest.raises(VimNotFound) as info:
            await call()
        assert missing in info.value.message and isinstance(info.value, VimError)
    with pytest.raises(VimNotFound):
        await _download(driver.download_image(missing))
    assert await driver.list_images(ids=[missing]) == []


# ---- images ---------------------------------------------------------------------------------------


async def test_images_and_download(driver: VimDriver, catalog: Catalog) -> None:
    image = await _image(driver, catalog)
    assert image.status is ImageStatus.ACTIVE and image.size and image.checksum
    assert await driver.get_image(image.id) == image
    assert [i.id for i in await driver.list_images(ids=[image.id])] == [image.id]
    size, md5 = await _download(driver.download_image(image.id, chunk_size=256 * 1024))
    assert (size, md5) == (image.size, image.checksum)


async def test_snapshot_image_backed_server(
    driver: VimDriver, catalog: Catalog, project: Project, settle_timeout: float
) -> None:
    server = await _active_server(driver, catalog, project, settle_timeout)
    image_id = await driver.create_server_image(server.id, "snap-1", {"esc_vm": server.name})
    first = await driver.get_image(image_id)
    assert first.status in (ImageStatus.QUEUED, ImageStatus.SAVING, ImageStatus.ACTIVE)
    image = await _status(lambda: driver.get_image(image_id), settle_timeout, ImageStatus.ACTIVE)
    assert image.name == "snap-1" and image.project_id == project.id
    assert image.properties["esc_vm"] == server.name and image.volume_snapshot_ids() == ()
    assert image.size and image.checksum
    assert await _download(driver.download_image(image_id)) == (image.size, image.checksum)
    await settled(lambda: driver.get_server(server.id), lambda s: s.task_state is None, settle_timeout)
    await driver.delete_image(image_id)
    await gone(lambda: driver.get_image(image_id), settle_timeout)


# ---- volumes ---------------------------------------------------------------------------------------


async def _volume(driver: VimDriver, project: Project, timeout: float, **spec: object) -> Volume:
    volume = await driver.create_volume(_unique("vol"), project_id=project.id, **{"size_gb": 1, **spec})  # type: ignore[arg-type]
    assert volume.status is VolumeStatus.CREATING
    return await _status(lambda: driver.get_volume(volume.id), timeout, VolumeStatus.AVAILABLE)


async def test_volume_from_image(driver: VimDriver, catalog: Catalog, project: Project, settle_timeout: float) -> None:
    image = await _image(driver, catalog)
    volume = await _volume(driver, project, settle_timeout, image_id=image.id, size_gb=4)
    assert volume.bootable and volume.source_image_id == image.id and volume.size_gb == 4
    assert [v.id for v in await driver.list_volumes(project.id)] == [volume.id]
    assert [v.id for v in await driver.list_volumes(ids=[volume.id])] == [volume.id]
    await driver.delete_volume(volume.id)
    await gone(lambda: driver.get_volume(volume.id), settle_timeout)


async def test_attach_detach_volume(driver: VimDriver, catalog: Catalog, project: Project, settle_timeout: float) -> None:
    server = await _active_server(driver, catalog, project, settle_timeout)
    volume = await _volume(driver, project, settle_timeout)
    attachment = await driver.attach_volume(server.id, volume.id)
    assert (attachment.server_id, attachment.volume_id) == (server.id, volume.id) and attachment.device
    in_use = await _status(lambda: driver.get_volume(volume.id), settle_timeout, VolumeStatus.IN_USE)
    assert [(a.server_id, a.device) for a in in_use.attachments] == [(server.id, attachment.device)]
    assert volume.id in (await driver.get_server(server.id)).volumes_attached
    with pytest.raises(VimConflict):
        await driver.delete_volume(volume.id)
    with pytest.raises(VimConflict):
        await driver.attach_volume(server.id, volume.id)
    await driver.detach_volume(server.id, volume.id)
    detached = await _status(lambda: driver.get_volume(volume.id), settle_timeout, VolumeStatus.AVAILABLE)
    assert detached.attachments == ()
    assert volume.id not in (await driver.get_server(server.id)).volumes_attached
    with pytest.raises(VimNotFound):
        await driver.detach_volume(server.id, volume.id)


async def test_swap_volume(driver: VimDriver, catalog: Catalog, project: Project, settle_timeout: float) -> None:
    server = await _active_server(driver, catalog, project, settle_timeout)
    old = await _volume(driver, project, settle_timeout)
    new = await _volume(driver, project, settle_timeout)
    attachment = await driver.attach_volume(server.id, old.id)
    await _status(lambda: driver.get_volume(old.id), settle_timeout, VolumeStatus.IN_USE)
    await driver.swap_volume(server.id, old.id, new.id)
    swapped = await _status(lambda: driver.get_volume(new.id), settle_timeout, VolumeStatus.IN_USE)
    await _status(lambda: driver.get_volume(old.id), settle_timeout, VolumeStatus.AVAILABLE)
    assert [(a.server_id, a.device) for a in swapped.attachments] == [(server.id, attachment.device)]
    assert (await driver.get_server(server.id)).volumes_attached == (new.id,)
    with pytest.raises(VimNotFound):
        await driver.swap_volume(server.id, old.id, new.id)


async def test_volume_snapshots(driver: VimDriver, project: Project, settle_timeout: float) -> None:
    volume = await _volume(driver, project, settle_timeout, size_gb=2)
    snapshot = await driver.create_volume_snapshot(volume.id, "vs-1", description="conformance")
    assert snapshot.status is VolumeSnapshotStatus.CREATING and snapshot.volume_id == volume.id
    ready = await _status(lambda: driver.get_volume_snapshot(snapshot.id), settle_timeout, VolumeSnapshotStatus.AVAILABLE)
    assert (ready.size_gb, ready.project_id, ready.name) == (2, project.id, "vs-1")
    assert [s.id for s in await driver.list_volume_snapshots(project.id)] == [snapshot.id]
    assert [s.id for s in await driver.list_volume_snapshots(ids=[snapshot.id])] == [snapshot.id]
    with pytest.raises(VimConflict):
        await driver.delete_volume(volume.id)  # it still has a snapshot
    with pytest.raises(VimConflict):
        await driver.create_volume(_unique("small"), project_id=project.id, size_gb=1, snapshot_id=snapshot.id)
    restored = await _volume(driver, project, settle_timeout, size_gb=2, snapshot_id=snapshot.id)
    assert restored.source_snapshot_id == snapshot.id
    await driver.delete_volume_snapshot(snapshot.id)
    await gone(lambda: driver.get_volume_snapshot(snapshot.id), settle_timeout)
    await driver.delete_volume(volume.id)
    await gone(lambda: driver.get_volume(volume.id), settle_timeout)


# ---- boot from volume -----------------------------------------------------------------------------


async def _bfv_server(driver: VimDriver, catalog: Catalog, project: Project, timeout: float) -> Server:
    image = await _image(driver, catalog)
    root = BlockDevice(BlockDeviceSource.IMAGE, image.id, boot_index=0, volume_size_gb=1, delete_on_termination=True)
    return await _active_server(driver, catalog, project, timeout, image_id=None, block_devices=[root])


async def test_boot_from_volume(driver: VimDriver, catalog: Catalog, project: Project, settle_timeout: float) -> None:
    server = await _bfv_server(driver, catalog, project, settle_timeout)
    assert server.image_id is None and len(server.volumes_attached) == 1
    root = await driver.get_volume(server.volumes_attached[0])
    assert root.status is VolumeStatus.IN_USE and root.bootable
    assert [a.server_id for a in root.attachments] == [server.id]
    # an existing volume can be the root disk too
    spare = await _volume(driver, project, settle_timeout, image_id=(await _image(driver, catalog)).id)
    second = await _active_server(
        driver, catalog, project, settle_timeout, image_id=None,
        block_devices=[BlockDevice(BlockDeviceSource.VOLUME, spare.id, boot_index=0)],
    )
    assert second.volumes_attached == (spare.id,)
    with pytest.raises(VimConflict):  # already in use
        await driver.create_server(
            _unique("vm"), project_id=project.id, flavor=catalog.flavor, image_id=None, networks=[],
            block_devices=[BlockDevice(BlockDeviceSource.VOLUME, spare.id, boot_index=0)],
        )


async def test_swapped_in_root_volume_can_outlive_the_server(
    driver: VimDriver, catalog: Catalog, project: Project, settle_timeout: float
) -> None:
    """The restore path: an operator's bootable volume replaces the root disk and must survive the server."""
    server = await _bfv_server(driver, catalog, project, settle_timeout)
    root_id = server.volumes_attached[0]
    restored = await _volume(driver, project, settle_timeout, image_id=(await _image(driver, catalog)).id)
    await driver.swap_volume(server.id, root_id, restored.id, delete_on_termination=False)
    await _status(lambda: driver.get_volume(restored.id), settle_timeout, VolumeStatus.IN_USE)
    await _status(lambda: driver.get_volume(root_id), settle_timeout, VolumeStatus.AVAILABLE)
    await driver.delete_server(server.id)
    await gone(lambda: driver.get_server(server.id), settle_timeout)
    await _status(lambda: driver.get_volume(restored.id), settle_timeout, VolumeStatus.AVAILABLE)
    await driver.delete_volume(root_id)
    await driver.delete_volume(restored.id)


async def test_delete_server_releases_volumes(
    driver: VimDriver, catalog: Catalog, project: Project, settle_timeout: float
) -> None:
    server = await _bfv_server(driver, catalog, project, settle_timeout)
    root_id = server.volumes_attached[0]
    data = await _volume(driver, project, settle_timeout)
    await driver.attach_volume(server.id, data.id)
    await _status(lambda: driver.get_volume(data.id), settle_timeout, VolumeStatus.IN_USE)
    await driver.delete_server(server.id)
    await gone(lambda: driver.get_server(server.id), settle_timeout)
    await gone(lambda: driver.get_volume(root_id), settle_timeout)  # delete_on_termination
    kept = await _status(lambda: driver.get_volume(data.id), settle_timeout, VolumeStatus.AVAILABLE)
    assert kept.attachments == ()


async def test_snapshot_volume_backed_server_and_restore(
    driver: VimDriver, catalog: Catalog, project: Project, settle_timeout: float
) -> None:
    server = await _bfv_server(driver, catalog, project, settle_timeout)
    image_id = await driver.create_server_image(server.id, "bfv-snap")
    image = await _status(lambda: driver.get_image(image_id), settle_timeout, ImageStatus.ACTIVE)
    assert image.properties.get("bdm_v2") == "True" and image.size == 0
    mapping = image.block_device_mapping()
    assert len(mapping) == 1 and mapping[0]["boot_index"] == 0
    (snapshot_id,) = image.volume_snapshot_ids()
    snapshot: VolumeSnapshot = await _status(
        lambda: driver.get_volume_snapshot(snapshot_id), settle_timeout, VolumeSnapshotStatus.AVAILABLE
    )
    assert snapshot.volume_id == server.volumes_attached[0]
    # a volume from that snapshot
    volume = await _volume(driver, project, settle_timeout, snapshot_id=snapshot_id, size_gb=snapshot.size_gb)
    assert volume.source_snapshot_id == snapshot_id
    # booting the snapshot image restores the server from new volumes
    await settled(lambda: driver.get_server(server.id), lambda s: s.task_state is None, settle_timeout)
    restored = await _active_server(driver, catalog, project, settle_timeout, image_id=image_id)
    assert restored.image_id == image_id and len(restored.volumes_attached) == 1  # as Nova shows it
    root = await driver.get_volume(restored.volumes_attached[0])
    assert root.source_snapshot_id == snapshot_id and root.status is VolumeStatus.IN_USE


async def _uploaded(driver: VimDriver, volume: Volume, timeout: float, **options: bool) -> Image:
    """Upload ``volume`` to a new image and wait until it is active and the volume idle again."""
    image_id = await driver.upload_volume_to_image(volume.id, _unique("upload"), **options)
    busy = await driver.get_volume(volume.id)
    assert busy.status in (VolumeStatus.UPLOADING, VolumeStatus.AVAILABLE, VolumeStatus.IN_USE)
    image = await _status(lambda: driver.get_image(image_id), timeout, ImageStatus.ACTIVE)
    await settled(lambda: driver.get_volume(volume.id), lambda v: v.status is not VolumeStatus.UPLOADING, timeout,
                  "volume after its upload")
    return image


async def test_upload_volume_to_image(driver: VimDriver, catalog: Catalog, project: Project,
                                      settle_timeout: float) -> None:
    """Cinder "upload to image": the volume's bytes become an image of the volume's project, with data."""
    volume = await _volume(driver, project, settle_timeout, image_id=(await _image(driver, catalog)).id)
    image = await _uploaded(driver, volume, settle_timeout)
    assert image.project_id == project.id and image.disk_format == "raw" and image.container_format == "bare"
    assert image.size and image.checksum
    assert await _download(driver.download_image(image.id)) == (image.size, image.checksum)
    assert (await driver.get_volume(volume.id)).status is VolumeStatus.AVAILABLE
    await driver.delete_image(image.id)
    await gone(lambda: driver.get_image(image.id), settle_timeout)
    await driver.delete_volume(volume.id)
    await gone(lambda: driver.get_volume(volume.id), settle_timeout)


async def test_volume_backed_snapshot_data_reaches_an_image(
    driver: VimDriver, catalog: Catalog, project: Project, settle_timeout: float
) -> None:
    """The EXPORT path: a volume-backed server's snapshot image is empty; a volume made from its Cinder
    snapshot uploads to an image that holds data. An attached volume uploads only with ``force``."""
    server = await _bfv_server(driver, catalog, project, settle_timeout)
    with pytest.raises(VimConflict):
        await driver.upload_volume_to_image(server.volumes_attached[0], _unique("upload"))
    image_id = await driver.create_server_image(server.id, "bfv-export")
    empty = await _status(lambda: driver.get_image(image_id), settle_timeout, ImageStatus.ACTIVE)
    assert empty.size == 0
    (snapshot_id,) = empty.volume_snapshot_ids()
    snapshot = await _status(
        lambda: driver.get_volume_snapshot(snapshot_id), settle_timeout, VolumeSnapshotStatus.AVAILABLE
    )
    volume = await _volume(driver, project, settle_timeout, snapshot_id=snapshot_id, size_gb=snapshot.size_gb)
    image = await _uploaded(driver, volume, settle_timeout)
    assert image.size and image.checksum
    assert await _download(driver.download_image(image.id)) == (image.size, image.checksum)
    await driver.delete_image(image.id)
    await driver.delete_volume(volume.id)
    await gone(lambda: driver.get_volume(volume.id), settle_timeout)


async def test_unknown_volume_type(driver: VimDriver, catalog: Catalog, project: Project) -> None:
    """Cinder refuses a volume type it does not define, directly and in a boot request (via Nova)."""
    with pytest.raises(VimNotFound, match="Volume type with name no-such-type could not be found"):
        await driver.create_volume(_unique("vol"), project_id=project.id, size_gb=1, volume_type="no-such-type")
    image = await _image(driver, catalog)
    root = BlockDevice(BlockDeviceSource.IMAGE, image.id, volume_size_gb=1, volume_type="no-such-type")
    with pytest.raises(VimNotFound, match="Volume type no-such-type could not be found"):
        await driver.create_server(
            _unique("vm"), project_id=project.id, flavor=catalog.flavor, image_id=None, networks=[], block_devices=[root]
        )
    assert await driver.list_servers(project.id) == [] and await driver.list_volumes(project.id) == []


async def test_port_made_ahead_of_its_server(
    driver: VimDriver, catalog: Catalog, project: Project, settle_timeout: float
) -> None:
    """A port created first gives its address and MAC to the server it is plugged into, and outlives it."""
    port = await driver.create_port(project_id=project.id, network=catalog.network, name=_unique("port"))
    try:
        assert port.fixed_ip and port.mac
        with pytest.raises(VimConflict, match=port.fixed_ip.replace(".", r"\.")):
            await driver.create_port(project_id=project.id, network=catalog.network, name=_unique("port"),
                                     fixed_ip=port.fixed_ip)
        for _ in range(2):  # the second server plugs the same port: deleting the first left it
            server = await _active_server(driver, catalog, project, settle_timeout,
                                          networks=[PortSpec(catalog.network, port_id=port.id)])
            nic = server.address(0)
            assert nic is not None and (nic.port_id, nic.fixed_ip, nic.mac) == (port.id, port.fixed_ip, port.mac)
            await driver.delete_server(server.id)
            await gone(lambda: driver.get_server(server.id), settle_timeout)
    finally:
        await driver.delete_port(port.id)
    with pytest.raises(VimNotFound):
        await driver.delete_port(port.id)


# every test written here must be exported, or the runners that star-import this module skip it silently
_unexported = {name for name in list(globals()) if name.startswith("test_")} - set(__all__)
assert not _unexported, f"add to __all__: {sorted(_unexported)}"
