"""The VIM side of one VM: build, delete, power off, power on, hard reboot.

Each step is written to be *resumable*: it can be called again after a restart with the record as it was
persisted and it continues rather than repeats.  ``build`` adopts a server found by the VM's unique name when
the record has no server id yet (the process died between the VIM's answer and the write), ``power_off`` of a
server that is already SHUTOFF just waits, and so on.  VIM errors leave here as ``VimOperationFailed``
carrying the VIM's own message; a 409 on a power action is an error unless the server turns out to be
heading where we want it already.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable

from esc_netconf.core.context import CoreContext, netmask_of
from esc_netconf.core.day0 import pools
from esc_netconf.core.day0.payload import build_payload
from esc_netconf.core.errors import VimOperationFailed
from esc_netconf.core.model import VmGroupSpec, VmInterface, VmRecord
from esc_netconf.core.planning import volume_build_order
from esc_netconf.vim.base import (BlockDevice, BlockDeviceSource, PortSpec, RebootType, Server, ServerStatus,
                                  VimConflict, VimError, VimNotFound, VolumeStatus)

_GIB = {"GiB": 1.0, "GB": 1.0, "MiB": 1 / 1024, "MB": 1 / 1024, "TiB": 1024.0, "TB": 1024.0,
        "PiB": 1024.0**2, "EiB": 1024.0**3}


async def _project(ctx: CoreContext, vm: VmRecord) -> str:
    return (await ctx.ensure_tenant(vm.tenant)).project_id


async def find_server(ctx: CoreContext, vm: VmRecord) -> Server | None:
    """The VM's server: by id when known, else by its unique name (a create that was never recorded)."""
    if vm.server_id is None and vm.vm_id in ctx.fresh:
        return None
    try:
        if vm.server_id is not None:
            return await ctx.driver.get_server(vm.server_id)
        servers = await ctx.driver.list_servers(await _project(ctx, vm))
    except VimNotFound:
        return None
    except VimError as exc:
        raise VimOperationFailed(exc.message) from exc
    return next((s for s in servers if s.name == vm.name), None)


async def _image_id(ctx: CoreContext, name: str) -> str:
    images = await ctx.driver.list_images(name=name)
    if images:
        return images[0].id
    try:
        return (await ctx.driver.get_image(name)).id
    except VimNotFound:
        raise VimOperationFailed(f"Image [{name}] not found.") from None


async def _volume_exists(ctx: CoreContext, volume_id: str) -> bool:
    """Whether the VIM still has the volume (one being deleted counts as gone).

    A restored volume is swapped in with ``delete_on_termination`` off, so a redeploy that deletes the
    old server leaves it for the new one; if someone deleted it out of band meanwhile, the VM is rebuilt
    from its image, as a VM whose volume was made by ESC.
    """
    try:
        volume = await ctx.driver.get_volume(volume_id)
    except VimNotFound:
        return False
    except VimError as exc:
        raise VimOperationFailed(exc.message) from exc
    return volume.status not in (VolumeStatus.DELETING, VolumeStatus.ERROR_DELETING)


async def _block_devices(ctx: CoreContext, group: VmGroupSpec, image: str) -> tuple[str | None, list[BlockDevice]]:
    """The image to boot from (None when a volume with boot_index 0 is the root disk) and the volumes."""
    boot_image: str | None = await _image_id(ctx, image)
    devices: list[BlockDevice] = []
    for volume in volume_build_order(group.volumes):
        size = max(1, math.ceil((volume.size or 1) * _GIB.get(volume.sizeunit or "GiB", 1.0)))
        if volume.boot_index == 0 and volume.external_id and await _volume_exists(ctx, volume.external_id):
            # a restored boot volume: boot from it as it is
            devices.append(BlockDevice(BlockDeviceSource.VOLUME, volume.external_id, boot_index=0,
                                       disk_bus=volume.bus))
            boot_image = None
        elif volume.boot_index == 0:
            source_image = await _image_id(ctx, volume.image) if volume.image else boot_image
            devices.append(BlockDevice(BlockDeviceSource.IMAGE, source_image, boot_index=0, volume_size_gb=size,
                                       delete_on_termination=True, disk_bus=volume.bus, volume_type=volume.type))
            boot_image = None
        elif volume.external_id:
            devices.append(BlockDevice(BlockDeviceSource.VOLUME, volume.external_id, boot_index=volume.boot_index,
                                       disk_bus=volume.bus))
        else:
            devices.append(BlockDevice(BlockDeviceSource.BLANK, None, boot_index=volume.boot_index,
                                       volume_size_gb=size, delete_on_termination=True, disk_bus=volume.bus,
                                       volume_type=volume.type))
    return boot_image, devices


CREATE_ANSWER_GRACE = 120.0
"""How long a cancelled deploy still waits for the VIM's answer to a create it had sent."""


async def _create_recorded(ctx: CoreContext, vm: VmRecord, request: Awaitable[Server]) -> Server:
    """Send a create; if we are cancelled meanwhile (an undeploy took over), still record the server.

    A real driver's call runs on a thread that cannot be interrupted: the VIM creates the server whether
    or not we still wait. Recording its id before giving in to the cancel lets the undeploy that cancelled
    us find and delete it, instead of leaving a server no record knows.
    """
    pending = asyncio.ensure_future(request)
    try:
        return await asyncio.shield(pending)
    except asyncio.CancelledError:
        try:
            async with asyncio.timeout(CREATE_ANSWER_GRACE):
                created = await pending
        except (VimError, TimeoutError):
            raise asyncio.CancelledError() from None
        vm.server_id = created.id
        ctx.save_vm(vm)
        raise


async def note_server(ctx: CoreContext, vm: VmRecord, server: Server) -> None:
    """Copy what the VIM says about the server into the record: its id, host, volumes, and per NIC the
    address, MAC, port, network and subnet ids, with the subnet's netmask and gateway."""
    vm.server_id = server.id
    vm.host_id = server.host_id or None
    vm.hostname = server.hostname or None
    vm.volume_ids = list(server.volumes_attached)
    addresses = {a.nic: a for a in server.addresses}
    interfaces: list[VmInterface] = []
    for nic in vm.interfaces:
        address = addresses.get(nic.nicid)
        if address is None:
            # A port made ahead (day-0) keeps its MAC and id while the server is away; otherwise only the address.
            interfaces.append(VmInterface(
                nic.nicid, nic.network, nic.ip_address,
                nic.mac_address if nic.reserved_port else None, nic.port_id if nic.reserved_port else None,
                reserved_port=nic.reserved_port))
            continue
        subnet = await ctx.subnet(address.network_id, address.subnet_id) if address.subnet_id else None
        interfaces.append(VmInterface(
            nic.nicid, nic.network, address.fixed_ip, address.mac, address.port_id,
            network_id=address.network_id or None, subnet_id=address.subnet_id or None,
            netmask=netmask_of(subnet.cidr) if subnet else None, gateway=subnet.gateway_ip if subnet else None,
            reserved_port=nic.reserved_port))
    vm.interfaces = interfaces


async def build(ctx: CoreContext, vm: VmRecord, group: VmGroupSpec) -> Server:
    """Create the VM's server (or adopt the one already there) and wait until it is ACTIVE.

    The server id is persisted the moment the VIM returns it.

    :raises VimOperationFailed: the VIM refused, the server went to ERROR, or ``bootup_time`` passed.
    """
    project_id = await _project(ctx, vm)
    server = await find_server(ctx, vm)
    if server is None:
        try:
            if pools.allocate(group, vm, ctx.vms_of(vm.dep_id, vm.group)):  # a VM recorded before it had pools
                ctx.save_vm(vm)
            day0 = await build_payload(ctx, vm, group)
            image_id, devices = await _block_devices(ctx, group, vm.image or group.image)
            server = await _create_recorded(ctx, vm, ctx.driver.create_server(
                vm.name, project_id=project_id, flavor=vm.flavor or group.flavor, image_id=image_id,
                networks=[PortSpec(i.network, i.ip_address, i.port_id) if i.reserved_port else
                          PortSpec(i.network, i.ip_address) for i in vm.interfaces], block_devices=devices,
                metadata={"esc_vm_id": vm.vm_id, "esc_deployment": vm.deployment},
                user_data=day0.user_data, config_drive=day0.config_drive, files=day0.files or None))
        except VimError as exc:
            raise VimOperationFailed(exc.message) from exc
        finally:
            ctx.fresh.discard(vm.vm_id)
        vm.server_id = server.id
        ctx.save_vm(vm)
    elif vm.server_id != server.id:
        vm.server_id = server.id
        ctx.save_vm(vm)
    ready = await ctx.poller.wait(project_id, server.id, {ServerStatus.ACTIVE}, timeout=group.bootup_time,
                                  what=f"VM [{vm.name}]")
    assert ready is not None
    await note_server(ctx, vm, ready)
    ctx.save_vm(vm)
    return ready


async def destroy(ctx: CoreContext, vm: VmRecord) -> None:
    """Delete the VM's server if there is one and wait until it is gone.

    :raises VimOperationFailed: the VIM refused or the server lingered past ``delete_timeout``.
    """
    server = await find_server(ctx, vm)
    if server is None:
        return
    try:
        await ctx.driver.delete_server(server.id)
    except VimNotFound:
        return
    except VimError as exc:
        raise VimOperationFailed(exc.message) from exc
    await ctx.poller.wait(server.project_id, server.id, frozenset(), gone_ok=True,
                          timeout=ctx.settings.delete_timeout, what=f"VM [{vm.name}]")


async def _server_or_fail(ctx: CoreContext, vm: VmRecord) -> Server:
    server = await find_server(ctx, vm)
    if server is None:
        raise VimOperationFailed(f"The server of VM [{vm.name}] no longer exists in the VIM.")
    return server


def _heading_off(server: Server) -> bool:
    # a SHUTOFF server powering on is not: its SHUTOFF is about to end, a wait for it would never be met
    return server.task_state == "powering-off" or (server.status is ServerStatus.SHUTOFF
                                                   and server.task_state != "powering-on")


def _heading_on(server: Server) -> bool:
    # likewise an ACTIVE server powering off is not heading on
    return server.task_state == "powering-on" or (server.status is not ServerStatus.SHUTOFF
                                                  and server.task_state != "powering-off")


async def _after_conflict(ctx: CoreContext, vm: VmRecord, conflict: VimConflict,
                          heading: Callable[[Server], bool]) -> None:
    """The VIM refused a power action with 409: go on only if the server is already where we want it.

    Why: a 409 means either that someone else's identical request won the race (the server is already
    powering off/on: waiting is right) or that the server is busy with something else, e.g. a snapshot
    (``task_state=image_snapshot``): then the status we would wait for never comes, so fail now with the
    VIM's own message rather than after ``bootup_time`` of silence.
    """
    server = await _server_or_fail(ctx, vm)
    if not heading(server):
        raise VimOperationFailed(conflict.message) from conflict


async def power_off(ctx: CoreContext, vm: VmRecord, timeout: float, *, rebooting: bool = False) -> None:
    """Stop the server and wait for SHUTOFF (a server already stopping or stopped is just awaited).

    ``rebooting``: the off half of a reboot, whose on half follows.  A server already powering on then means
    this reboot was resumed after a restart that came once its power-on was asked: the off half is done, and
    stopping again would be refused (409) while a wait for SHUTOFF would never be met.

    :raises VimOperationFailed: the VIM refused (a 409 only when the server is not powering off anyway),
        the server went to ERROR, or ``timeout`` passed.
    """
    server = await _server_or_fail(ctx, vm)
    if rebooting and server.task_state == "powering-on":
        return
    if not _heading_off(server):
        try:
            await ctx.driver.stop_server(server.id)
        except VimConflict as exc:
            await _after_conflict(ctx, vm, exc, _heading_off)
        except VimError as exc:
            raise VimOperationFailed(exc.message) from exc
    await ctx.poller.wait(server.project_id, server.id, {ServerStatus.SHUTOFF}, timeout=timeout,
                          what=f"VM [{vm.name}]")


async def power_on(ctx: CoreContext, vm: VmRecord, timeout: float) -> None:
    """Start the server and wait for ACTIVE (a server already starting or running is just awaited).

    :raises VimOperationFailed: as ``power_off``.
    """
    server = await _server_or_fail(ctx, vm)
    if not _heading_on(server):
        try:
            await ctx.driver.start_server(server.id)
        except VimConflict as exc:
            await _after_conflict(ctx, vm, exc, _heading_on)
        except VimError as exc:
            raise VimOperationFailed(exc.message) from exc
    ready = await ctx.poller.wait(server.project_id, server.id, {ServerStatus.ACTIVE}, timeout=timeout,
                                  what=f"VM [{vm.name}]")
    assert ready is not None
    await note_server(ctx, vm, ready)


async def hard_reboot(ctx: CoreContext, vm: VmRecord, timeout: float) -> None:
    """Hard-reboot the server (accepted from ACTIVE, SHUTOFF and ERROR) and wait for ACTIVE."""
    server = await _server_or_fail(ctx, vm)
    try:
        await ctx.driver.reboot_server(server.id, RebootType.HARD)
    except VimError as exc:
        raise VimOperationFailed(exc.message) from exc
    ready = await ctx.poller.wait(server.project_id, server.id, {ServerStatus.ACTIVE}, timeout=timeout,
                                  what=f"VM [{vm.name}]")
    assert ready is not None
    await note_server(ctx, vm, ready)
