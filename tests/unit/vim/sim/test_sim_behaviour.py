"""Sim-only behaviour: timing, OpenStack wording, out-of-band hooks, closing."""

from __future__ import annotations

from pathlib import Path

import pytest

from esc_netconf.vim.base import (
    BlockDevice,
    BlockDeviceSource,
    ImageStatus,
    PortSpec,
    Project,
    RebootType,
    ServerStatus,
    VimConflict,
    VimFailure,
    VimNotFound,
)
from esc_netconf.vim.sim import NOMINAL_DELAYS, SimCloud, SimSettings
from esc_netconf.vim.sim.messages import FORCED_ERROR
from tests.unit.vim.sim.helpers import LONG, FakeClock, Knobs, boot


async def test_build_timing_follows_the_delay_scale(
    cloud: SimCloud, project: Project, clock: FakeClock, knobs: Knobs
) -> None:
    knobs.settings = SimSettings(delay_scale=2.0)
    server = await boot(cloud, project, clock, settle=False)
    assert (server.status, server.task_state) == (ServerStatus.BUILD, "scheduling")
    build = NOMINAL_DELAYS["server.build"] * 2.0
    clock.advance(build * 0.5)
    mid = await cloud.get_server(server.id)
    assert (mid.status, mid.task_state) == (ServerStatus.BUILD, "spawning")
    clock.advance(build * 0.5)
    done = await cloud.get_server(server.id)
    assert (done.status, done.task_state) == (ServerStatus.ACTIVE, None)
    assert (done.updated_at - done.created_at).total_seconds() == pytest.approx(build)


async def test_zero_scale_is_instantaneous(cloud: SimCloud, project: Project, clock: FakeClock, knobs: Knobs) -> None:
    knobs.settings = SimSettings(delay_scale=0)
    server = await boot(cloud, project, clock, settle=False)
    assert (await cloud.get_server(server.id)).status is ServerStatus.ACTIVE


async def test_conflict_wording_is_novas(cloud: SimCloud, project: Project, clock: FakeClock) -> None:
    server = await boot(cloud, project, clock, settle=False)
    with pytest.raises(VimConflict) as info:
        await cloud.stop_server(server.id)
    assert info.value.message == f"Cannot 'stop' instance {server.id} while it is in vm_state building"
    assert info.value.code == 409
    clock.advance(LONG)
    await cloud.stop_server(server.id)
    with pytest.raises(VimConflict, match="while it is in task_state powering-off"):
        await cloud.stop_server(server.id)
    clock.advance(LONG)
    with pytest.raises(VimConflict, match="while it is in vm_state stopped"):
        await cloud.stop_server(server.id)


async def test_snapshot_holds_the_server_briefly(cloud: SimCloud, project: Project, clock: FakeClock) -> None:
    server = await boot(cloud, project, clock)
    image_id = await cloud.create_server_image(server.id, "snap")
    assert (await cloud.get_image(image_id)).status is ImageStatus.QUEUED
    with pytest.raises(VimConflict, match="task_state image_snapshot"):
        await cloud.reboot_server(server.id)
    with pytest.raises(VimConflict, match="createImage"):
        await cloud.create_server_image(server.id, "again")
    clock.advance(NOMINAL_DELAYS["server.snapshot.capture"])
    assert (await cloud.get_image(image_id)).status is ImageStatus.SAVING
    await cloud.reboot_server(server.id, RebootType.SOFT)


async def test_force_server_status(cloud: SimCloud, project: Project, clock: FakeClock) -> None:
    server = await boot(cloud, project, clock)
    await cloud.force_server_status(server.id, ServerStatus.SHUTOFF)
    assert (await cloud.get_server(server.id)).status is ServerStatus.SHUTOFF
    await cloud.start_server(server.id)
    await cloud.force_server_status(server.id, ServerStatus.ERROR, fault="host compute-3 lost power")
    clock.advance(LONG)  # the start in flight is forgotten
    failed = await cloud.get_server(server.id)
    assert (failed.status, failed.fault, failed.task_state) == (ServerStatus.ERROR, "host compute-3 lost power", None)
    await cloud.force_server_status(server.id, ServerStatus.ERROR)
    assert (await cloud.get_server(server.id)).fault == FORCED_ERROR
    await cloud.reboot_server(server.id, RebootType.HARD)
    clock.advance(LONG)
    assert (await cloud.get_server(server.id)).status is ServerStatus.ACTIVE
    with pytest.raises(VimFailure):
        await cloud.force_server_status(server.id, ServerStatus.BUILD)
    with pytest.raises(VimNotFound):
        await cloud.force_server_status("missing", ServerStatus.ERROR)


async def test_delete_is_idempotent_while_deleting(cloud: SimCloud, project: Project, clock: FakeClock) -> None:
    server = await boot(cloud, project, clock)
    await cloud.delete_server(server.id)
    await cloud.delete_server(server.id)
    assert (await cloud.get_server(server.id)).task_state == "deleting"
    clock.advance(LONG)
    with pytest.raises(VimNotFound, match=f"Instance {server.id} could not be found."):
        await cloud.get_server(server.id)


async def test_settings_are_read_on_every_call(state_dir: Path, clock: FakeClock) -> None:
    reads: list[SimSettings] = []

    def live() -> SimSettings:
        reads.append(SimSettings())
        return reads[-1]

    cloud = SimCloud(state_dir, live, clock=clock)
    try:
        await cloud.list_flavors()
        await cloud.list_servers()
        assert len(reads) == 2
    finally:
        await cloud.close()


async def test_calls_are_counted_including_download(cloud: SimCloud) -> None:
    (image,) = await cloud.list_images(name="cirros")
    cloud.download_image(image.id)  # counted when asked for, even if never read
    assert cloud.calls["download_image"] == 1 and cloud.calls["list_images"] == 1


async def test_closed_cloud_refuses_calls(cloud: SimCloud) -> None:
    await cloud.close()
    await cloud.close()
    with pytest.raises(VimFailure, match="closed"):
        await cloud.list_servers()


async def test_boot_from_image_requires_a_size(cloud: SimCloud, project: Project) -> None:
    (image,) = await cloud.list_images(name="cirros")
    with pytest.raises(VimFailure, match="non-zero size") as info:
        await cloud.create_server(
            "bfv", project_id=project.id, flavor="m1.tiny", image_id=None, networks=[PortSpec("net-mgmt")],
            block_devices=[BlockDevice(BlockDeviceSource.IMAGE, image.id)],
        )
    assert info.value.code == 400
    with pytest.raises(VimFailure, match="Boot sequence"):
        await cloud.create_server("none", project_id=project.id, flavor="m1.tiny", image_id=None, networks=[])
    assert await cloud.list_servers(project.id) == [] and await cloud.list_volumes(project.id) == []
