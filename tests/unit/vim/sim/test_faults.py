"""Fault injection per operation: ``error`` ends in the failure status, ``timeout`` never ends.

Each case sets a resource up with faults off, turns the fault on (the settings are live), makes
the request, lets an hour pass on the fake clock and looks at the resource.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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
    VolumeSnapshotStatus,
    VolumeStatus,
)
from esc_netconf.vim.sim import FaultMode, SimCloud, SimOperation
from esc_netconf.vim.sim.messages import NO_VALID_HOST
from tests.unit.vim.sim.helpers import LONG, FakeClock, Knobs, boot

Probe = Callable[[], Awaitable[tuple[str, str | None]]]
"""Returns (status, detail): detail is the task_state or fault message."""
Action = Callable[[], Awaitable[object]]
Setup = Callable[[SimCloud, Project, FakeClock], Awaitable[tuple[Action, Probe]]]


@dataclass(frozen=True)
class Case:
    operation: SimOperation
    setup: Setup
    on_error: tuple[str, str | None]
    on_timeout: tuple[str, str | None]


async def _server_create(cloud: SimCloud, project: Project, clock: FakeClock) -> tuple[Action, Probe]:
    ids: list[str] = []

    async def act() -> None:
        ids.append((await boot(cloud, project, clock, settle=False)).id)

    async def probe() -> tuple[str, str | None]:
        server = await cloud.get_server(ids[0])
        return server.status.value, server.fault or server.task_state

    return act, probe


def _server_action(call: Callable[[SimCloud, str], Awaitable[None]], stopped: bool = False) -> Setup:
    async def setup(cloud: SimCloud, project: Project, clock: FakeClock) -> tuple[Action, Probe]:
        server = await boot(cloud, project, clock)
        if stopped:
            await cloud.stop_server(server.id)
            clock.advance(LONG)

        async def probe() -> tuple[str, str | None]:
            current = await cloud.get_server(server.id)
            return current.status.value, (current.fault.split(":")[0] if current.fault else current.task_state)

        return (lambda: call(cloud, server.id)), probe

    return setup


async def _image_create(cloud: SimCloud, project: Project, clock: FakeClock) -> tuple[Action, Probe]:
    server = await boot(cloud, project, clock)
    ids: list[str] = []

    async def act() -> None:
        ids.append(await cloud.create_server_image(server.id, "snap"))

    async def probe() -> tuple[str, str | None]:
        return (await cloud.get_image(ids[0])).status.value, None

    return act, probe


async def _image_delete(cloud: SimCloud, project: Project, clock: FakeClock) -> tuple[Action, Probe]:
    (image,) = await cloud.list_images(name="ubuntu-22.04")

    async def act() -> None:
        try:
            await cloud.delete_image(image.id)
        except VimFailure as error:
            assert error.code == 500 and image.id in error.message

    async def probe() -> tuple[str, str | None]:
        return (await cloud.get_image(image.id)).status.value, None

    return act, probe


async def _volume_create(cloud: SimCloud, project: Project, clock: FakeClock) -> tuple[Action, Probe]:
    ids: list[str] = []

    async def act() -> None:
        ids.append((await cloud.create_volume("v", project_id=project.id, size_gb=1)).id)

    async def probe() -> tuple[str, str | None]:
        return (await cloud.get_volume(ids[0])).status.value, None

    return act, probe


async def _volume_snapshot(cloud: SimCloud, project: Project, clock: FakeClock) -> tuple[Action, Probe]:
    volume = await cloud.create_volume("v", project_id=project.id, size_gb=1)
    clock.advance(LONG)
    ids: list[str] = []

    async def act() -> None:
        ids.append((await cloud.create_volume_snapshot(volume.id, "s")).id)

    async def probe() -> tuple[str, str | None]:
        return (await cloud.get_volume_snapshot(ids[0])).status.value, None

    return act, probe


async def _volume_snapshot_delete(cloud: SimCloud, project: Project, clock: FakeClock) -> tuple[Action, Probe]:
    volume = await cloud.create_volume("v", project_id=project.id, size_gb=1)
    clock.advance(LONG)
    snapshot = await cloud.create_volume_snapshot(volume.id, "s")
    clock.advance(LONG)

    async def probe() -> tuple[str, str | None]:
        return (await cloud.get_volume_snapshot(snapshot.id)).status.value, None

    return (lambda: cloud.delete_volume_snapshot(snapshot.id)), probe


async def _volume_upload(cloud: SimCloud, project: Project, clock: FakeClock) -> tuple[Action, Probe]:
    volume = await cloud.create_volume("v", project_id=project.id, size_gb=1)
    clock.advance(LONG)
    ids: list[str] = []

    async def act() -> None:
        ids.append(await cloud.upload_volume_to_image(volume.id, "up"))

    async def probe() -> tuple[str, str | None]:
        return (await cloud.get_image(ids[0])).status.value, (await cloud.get_volume(volume.id)).status.value

    return act, probe


CASES = [
    Case(SimOperation.SERVER_CREATE, _server_create, ("ERROR", NO_VALID_HOST), ("BUILD", "scheduling")),
    Case(SimOperation.SERVER_STOP, _server_action(lambda c, s: c.stop_server(s)),
         ("ERROR", "Failed to power off instance " ), ("ACTIVE", "powering-off")),
    Case(SimOperation.SERVER_START, _server_action(lambda c, s: c.start_server(s), stopped=True),
         ("ERROR", "Failed to power on instance "), ("SHUTOFF", "powering-on")),
    Case(SimOperation.SERVER_REBOOT, _server_action(lambda c, s: c.reboot_server(s, RebootType.SOFT)),
         ("ERROR", "Failed to reboot instance "), ("REBOOT", "rebooting")),
    Case(SimOperation.SERVER_DELETE, _server_action(lambda c, s: c.delete_server(s)),
         ("ERROR", "Failed to terminate instance "), ("ACTIVE", "deleting")),
    Case(SimOperation.IMAGE_CREATE, _image_create, ("killed", None), ("saving", None)),
    Case(SimOperation.IMAGE_DELETE, _image_delete, ("active", None), ("pending_delete", None)),
    Case(SimOperation.VOLUME_CREATE, _volume_create, ("error", None), ("creating", None)),
    Case(SimOperation.VOLUME_SNAPSHOT, _volume_snapshot, ("error", None), ("creating", None)),
    Case(SimOperation.VOLUME_SNAPSHOT_DELETE, _volume_snapshot_delete, ("error_deleting", None), ("deleting", None)),
    Case(SimOperation.VOLUME_UPLOAD, _volume_upload, ("killed", "available"), ("saving", "uploading")),
]


def _normalise(seen: tuple[str, str | None], expected: tuple[str, str | None]) -> tuple[str, str | None]:
    """Fault messages carry the server id after the expected prefix; compare the prefix only."""
    status, detail = seen
    if detail and expected[1] and detail.startswith(expected[1].rstrip()):
        return status, expected[1]
    return status, detail


@pytest.mark.parametrize("mode", [FaultMode.ERROR, FaultMode.TIMEOUT])
@pytest.mark.parametrize("case", CASES, ids=[c.operation.value for c in CASES])
async def test_fault(case: Case, mode: FaultMode, cloud: SimCloud, project: Project, clock: FakeClock, knobs: Knobs) -> None:
    act, probe = await case.setup(cloud, project, clock)
    knobs.fault(case.operation.value, mode)
    await act()
    clock.advance(LONG)
    expected = case.on_error if mode is FaultMode.ERROR else case.on_timeout
    assert _normalise(await probe(), expected) == expected


async def test_every_operation_has_a_case() -> None:
    assert {c.operation for c in CASES} == set(SimOperation)


async def test_fault_applies_only_to_requests_made_while_set(
    cloud: SimCloud, project: Project, clock: FakeClock, knobs: Knobs
) -> None:
    before = await boot(cloud, project, clock, settle=False)
    knobs.fault("server.create", FaultMode.ERROR)
    during = await boot(cloud, project, clock, settle=False)
    knobs.fault("server.create", FaultMode.NONE)
    clock.advance(LONG)
    assert (await cloud.get_server(before.id)).status is ServerStatus.ACTIVE
    assert (await cloud.get_server(during.id)).status is ServerStatus.ERROR


async def test_failed_boot_from_volume_leaves_volume_available(
    cloud: SimCloud, project: Project, clock: FakeClock, knobs: Knobs
) -> None:
    (image,) = await cloud.list_images(name="cirros")
    knobs.fault("server.create", FaultMode.ERROR)
    server = await cloud.create_server(
        "bfv", project_id=project.id, flavor="m1.tiny", image_id=None, networks=[PortSpec("net-data")],
        block_devices=[BlockDevice(BlockDeviceSource.IMAGE, image.id, volume_size_gb=1)],
    )
    clock.advance(LONG)
    assert (await cloud.get_server(server.id)).status is ServerStatus.ERROR
    (volume,) = await cloud.list_volumes(project.id)
    assert volume.status is VolumeStatus.AVAILABLE and volume.attachments == ()


async def test_stuck_image_cannot_be_downloaded(cloud: SimCloud, project: Project, clock: FakeClock, knobs: Knobs) -> None:
    server = await boot(cloud, project, clock)
    knobs.fault("image.create", FaultMode.TIMEOUT)
    image_id = await cloud.create_server_image(server.id, "stuck")
    clock.advance(LONG)
    assert (await cloud.get_image(image_id)).status is ImageStatus.SAVING
    with pytest.raises(VimConflict, match="saving"):
        assert [chunk async for chunk in cloud.download_image(image_id)] == []


async def test_volume_snapshot_error_still_lets_volume_be_snapshot_again(
    cloud: SimCloud, project: Project, clock: FakeClock, knobs: Knobs
) -> None:
    volume = await cloud.create_volume("v", project_id=project.id, size_gb=1)
    clock.advance(LONG)
    knobs.fault("volume.snapshot", FaultMode.ERROR)
    failed = await cloud.create_volume_snapshot(volume.id, "bad")
    knobs.fault("volume.snapshot", FaultMode.NONE)
    clock.advance(LONG)
    good = await cloud.create_volume_snapshot(volume.id, "good")
    clock.advance(LONG)
    assert (await cloud.get_volume_snapshot(failed.id)).status is VolumeSnapshotStatus.ERROR
    assert (await cloud.get_volume_snapshot(good.id)).status is VolumeSnapshotStatus.AVAILABLE
