"""Simulated upload-to-image: a volume's bytes (those of its source) become an image; deleting it early ends it."""

from __future__ import annotations

from esc_netconf.vim.base import ImageStatus, Project, VolumeStatus
from esc_netconf.vim.sim import FaultMode, SimCloud
from esc_netconf.vim.sim.content import content_md5
from esc_netconf.vim.sim.volumes import BLANK_VOLUME_DATA
from tests.unit.vim.sim.helpers import LONG, FakeClock, Knobs


async def test_uploaded_image_holds_the_data_the_volume_came_from(
    cloud: SimCloud, project: Project, clock: FakeClock
) -> None:
    (cirros,) = await cloud.list_images(name="cirros")
    volume = await cloud.create_volume("v", project_id=project.id, size_gb=1, image_id=cirros.id)
    clock.advance(LONG)
    snapshot = await cloud.create_volume_snapshot(volume.id, "s")
    clock.advance(LONG)
    copy = await cloud.create_volume("c", project_id=project.id, size_gb=1, snapshot_id=snapshot.id)
    clock.advance(LONG)
    image_id = await cloud.upload_volume_to_image(copy.id, "up", disk_format="qcow2")
    assert (await cloud.get_image(image_id)).status is ImageStatus.SAVING
    assert (await cloud.get_volume(copy.id)).status is VolumeStatus.UPLOADING
    clock.advance(LONG)
    image = await cloud.get_image(image_id)
    assert (image.status, image.size, image.checksum) == (ImageStatus.ACTIVE, cirros.size, cirros.checksum)
    assert (image.disk_format, image.project_id, image.min_disk) == ("qcow2", project.id, 1)
    assert (await cloud.get_volume(copy.id)).status is VolumeStatus.AVAILABLE


async def test_a_blank_volume_uploads_its_own_bytes(cloud: SimCloud, project: Project, clock: FakeClock) -> None:
    volume = await cloud.create_volume("blank", project_id=project.id, size_gb=1)
    clock.advance(LONG)
    image = await cloud.get_image(await cloud.upload_volume_to_image(volume.id, "up"))
    clock.advance(LONG)
    image = await cloud.get_image(image.id)
    assert (image.size, image.checksum) == (BLANK_VOLUME_DATA, content_md5(volume.id, BLANK_VOLUME_DATA))


async def test_deleting_the_image_ends_a_stuck_upload(
    cloud: SimCloud, project: Project, clock: FakeClock, knobs: Knobs
) -> None:
    volume = await cloud.create_volume("v", project_id=project.id, size_gb=1)
    clock.advance(LONG)
    knobs.fault("volume.upload", FaultMode.TIMEOUT)
    image_id = await cloud.upload_volume_to_image(volume.id, "up")
    clock.advance(LONG)
    assert (await cloud.get_volume(volume.id)).status is VolumeStatus.UPLOADING
    await cloud.delete_image(image_id)
    assert (await cloud.get_volume(volume.id)).status is VolumeStatus.AVAILABLE
    await cloud.delete_volume(volume.id)  # and it can go
