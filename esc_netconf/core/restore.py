"""Restore a VM from an out-of-band volume: the volume swap of a service update.

Theory of operation
-------------------
The seed restores a VNF that boots from a volume like this: a bootable volume is made from the VM's volume
snapshot out of band, then a service update deletes the group's original volume and adds one naming that
volume (``external_id``).  ESC then swaps the volume under the running server: no redeploy, so the server
keeps its id (and its ports, addresses, host); the original volume is detached and stays in the VIM for the
operator to clean up.  (Restoring an image-backed VM needs no code here: an update of ``image`` is stored
and the next redeploy, by ``recoveryVmAction`` or by recovery, builds from it; see ``recovery``.)

Three phases, so that a refusal changes nothing and a crash loses nothing:

1. ``check_volume_swaps`` (synchronous, from ``EscCore.check_update``): the *shape* of the change:
   which deleted volume each external one replaces (``planning.plan_volume_swaps``), not together with
   scaling, a boot volume only for a group of one VM (a disk cannot boot two servers), and every VM in a
   state whose server the VIM can swap a volume of (ACTIVE or SHUTOFF: ``ALIVE``, ``MONITOR_DISABLED``,
   ``INERT``, ``SHUTOFF``).  Whether the external volume exists, is ``available``, bootable, or multiattach
   can only be asked of the VIM, which a synchronous check cannot do: those refusals are reported by the
   workflow as ``VM_UPDATED`` FAILURE (nothing touched), then ``SERVICE_UPDATED`` FAILURE.
2. ``swap_intent`` (from ``EscCore.apply_update``, while the old spec is still known): the swaps, as JSON
   in the UPDATE ``OperationRecord``'s params, so a resumed update knows them after the spec was replaced.
3. ``swap_volumes`` (the UPDATE workflow, one VM after another: a multiattach volume can be taken by one
   attachment at a time): per VM, look the old volume up on the server (the spec entry's place in
   ``volume_build_order`` is its device's place), check the external volume, record
   ``{"old", "new"}`` under ``swap:<vm_id>:<slot>`` in the operation's params *before* calling
   ``swap_volume``, wait until the VIM shows the new volume attached and the old one not, then note the
   server, add "volume swapped" (old id -> new id) to the VM's history, publish ``VM_UPDATED`` and mark the
   entry done.  A resumed swap asks the VIM which side of the call it is on: the new volume attached (done,
   just wait), the old one still attached and not detaching (call again), otherwise wait.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from esc_netconf.core import vmsteps
from esc_netconf.core.context import CoreContext
from esc_netconf.core.errors import InvalidRequest, StateConflict, VimOperationFailed
from esc_netconf.core.events import EventType
from esc_netconf.core.jobs import members
from esc_netconf.core.model import DeploymentRecord, DeploymentSpec, OperationRecord, VmRecord, VolumeSpec
from esc_netconf.core.planning import VolumeSwap, plan_group, plan_volume_swaps
from esc_netconf.core.states import VmState, VmTrigger
from esc_netconf.vim.base import Server, VimError, VimNotFound, Volume, VolumeStatus

#: The operation param holding the planned swaps (JSON list).
SWAPS_PARAM = "volume_swaps"
#: VM states whose server is ACTIVE or SHUTOFF, the states the VIM swaps a volume in.
SWAPPABLE = frozenset({VmState.ALIVE, VmState.MONITOR_DISABLED, VmState.INERT, VmState.SHUTOFF})
#: History entry type of a done swap (opdata shows it).
HISTORY_TYPE = "volume swapped"


def planned_swaps(dep: DeploymentRecord, new: DeploymentSpec) -> list[VolumeSwap]:
    """The swaps that updating ``dep`` to ``new`` asks for, over the groups present before and after.

    :raises InvalidRequest: an ambiguous or incomplete swap (see ``plan_volume_swaps``).
    """
    swaps: list[VolumeSwap] = []
    for group in new.vm_groups:
        before = dep.spec.group(group.name)
        if before is not None:
            try:
                swaps += plan_volume_swaps(before, group)
            except InvalidRequest as exc:
                raise InvalidRequest(f"Deployment [{dep.tenant}/{dep.name}] {exc.message}") from None
    return swaps


def check_volume_swaps(ctx: CoreContext, dep: DeploymentRecord, new: DeploymentSpec) -> None:
    """Refuse a volume swap that cannot work, before anything changes.

    :raises InvalidRequest: the swap is ambiguous, or comes with scaling of the same group.
    :raises StateConflict: a boot volume swap for a group of several VMs, or a VM in a state whose server
        the VIM cannot swap a volume of.
    """
    where = f"Deployment [{dep.tenant}/{dep.name}]"
    for swap in planned_swaps(dep, new):
        vms = members(ctx, dep, swap.group)
        group = new.group(swap.group)
        assert group is not None
        plan = plan_group(group, len(vms))
        if vms and (plan.scale_out or plan.scale_in):
            raise InvalidRequest(f"{where} vm_group [{swap.group}]: a volume swap and scaling cannot be done "
                                 f"in one update; change the volumes and the scaling in separate updates.")
        if swap.new.boot_index == 0 and len(vms) > 1:
            raise StateConflict(f"{where} vm_group [{swap.group}] has {len(vms)} VMs; external boot volume "
                                f"[{swap.new.external_id}] can restore only one VM (a volume boots one server).")
        for vm in vms:
            if vm.state not in SWAPPABLE:
                raise StateConflict(f"{where}: VM [{vm.name}] is in {vm.state.value}; its volume cannot be "
                                    f"swapped now.")


def swap_intent(dep: DeploymentRecord, new: DeploymentSpec) -> dict[str, str]:
    """The UPDATE operation's params recording the swaps (empty when there are none)."""
    swaps = planned_swaps(dep, new)
    if not swaps:
        return {}
    plain = [{"group": s.group, "slot": s.slot, "old": s.old.to_dict(), "new": s.new.to_dict()} for s in swaps]
    return {SWAPS_PARAM: json.dumps(plain)}


def _intended(op: OperationRecord) -> list[VolumeSwap]:
    raw = op.params.get(SWAPS_PARAM)
    if not raw:
        return []
    return [VolumeSwap(item["group"], int(item["slot"]), VolumeSpec.from_dict(item["old"]),
                       VolumeSpec.from_dict(item["new"])) for item in json.loads(raw)]


@dataclass(frozen=True, slots=True)
class SwapResult:
    """What ``swap_volumes`` did: the failures, and whether one left a VM in ERROR (the VIM was changed)."""

    failures: tuple[VimOperationFailed, ...] = ()
    vm_broken: bool = False


class _Untouched(VimOperationFailed):
    """A swap refused before the VIM was asked to change anything (the VM is as it was)."""


async def swap_volumes(ctx: CoreContext, dep: DeploymentRecord, op: OperationRecord) -> SwapResult:
    """Carry out (or resume) the swaps recorded in ``op``: VM_UPDATED per VM, SUCCESS or FAILURE."""
    failures: list[VimOperationFailed] = []
    broken = False
    for swap in _intended(op):
        vms = members(ctx, dep, swap.group)
        for vm in vms:
            try:
                await _swap_one(ctx, dep, op, vm, swap, sharing=len(vms))
            except VimOperationFailed as exc:
                failures.append(exc)
                if not isinstance(exc, _Untouched):
                    broken = True
                    if vm.state in SWAPPABLE and vm.state is not VmState.SHUTOFF:
                        vm.monitored = False
                        ctx.vm_to(vm, VmTrigger.FAIL, f"volume swap failed: {exc.message}")
                    else:
                        vm.remember(ctx.clock(), f"volume swap failed: {exc.message}")
                        ctx.save_vm(vm)
                ctx.vm_event(dep, vm, EventType.VM_UPDATED, exc.message, ok=False)
    return SwapResult(tuple(failures), broken)


def _key(vm: VmRecord, swap: VolumeSwap) -> str:
    return f"swap:{vm.vm_id}:{swap.slot}"


def _record(ctx: CoreContext, op: OperationRecord, key: str, entry: dict[str, str]) -> None:
    op.params[key] = json.dumps(entry)
    ctx.store.save_operation(op)


async def _swap_one(ctx: CoreContext, dep: DeploymentRecord, op: OperationRecord, vm: VmRecord,
                    swap: VolumeSwap, sharing: int) -> None:
    key = _key(vm, swap)
    entry: dict[str, str] | None = json.loads(op.params[key]) if key in op.params else None
    if entry is not None and entry.get("done"):
        return
    server = await vmsteps.find_server(ctx, vm)
    if server is None:
        raise _Untouched(f"The server of VM [{vm.name}] no longer exists in the VIM.")
    new_id = str(swap.new.external_id)
    if entry is None:
        old_id = await _old_volume(ctx, vm, server, swap)
        await _check_external(ctx, vm, server, swap, sharing)
        entry = {"old": old_id, "new": new_id}
        _record(ctx, op, key, entry)  # the intent, before the VIM is asked
        await _call_swap(ctx, server, old_id, new_id)
    elif not await _attached(ctx, entry["new"], server.id) and await _still_attached(ctx, entry["old"], server.id):
        await _call_swap(ctx, server, entry["old"], entry["new"])
    group = dep.spec.group(vm.group)
    timeout = float(group.bootup_time if group else 300)
    await _wait_swapped(ctx, vm, server, entry["old"], entry["new"], timeout)
    await vmsteps.note_server(ctx, vm, await _get_server(ctx, server.id))
    vm.remember(ctx.clock(), HISTORY_TYPE, f"{entry['old']} -> {entry['new']}")
    ctx.save_vm(vm)
    _record(ctx, op, key, {**entry, "done": "yes"})
    ctx.vm_event(dep, vm, EventType.VM_UPDATED,
                 f"VM volume [{swap.old.name}] {entry['old']} swapped for [{swap.new.name}] {entry['new']}.")


async def _get_server(ctx: CoreContext, server_id: str) -> Server:
    try:
        return await ctx.driver.get_server(server_id)
    except VimError as exc:
        raise VimOperationFailed(exc.message) from exc


async def _volume(ctx: CoreContext, volume_id: str) -> Volume | None:
    try:
        return await ctx.driver.get_volume(volume_id)
    except VimNotFound:
        return None
    except VimError as exc:
        raise VimOperationFailed(exc.message) from exc


async def _old_volume(ctx: CoreContext, vm: VmRecord, server: Server, swap: VolumeSwap) -> str:
    """The VIM volume the spec entry ``swap.old`` became on this server.

    An entry naming an external volume that is not attached (an earlier swap to it was refused) stands for
    whatever volume is still on its device, found by its place like any other entry.
    """
    if swap.old.external_id and swap.old.external_id in server.volumes_attached:
        return swap.old.external_id
    devices: list[tuple[str, str]] = []
    for volume_id in server.volumes_attached:
        volume = await _volume(ctx, volume_id)
        device = next((a.device for a in volume.attachments if a.server_id == server.id), None) if volume else None
        if device is not None:
            devices.append((device, volume_id))
    devices.sort()
    if swap.slot >= len(devices):
        raise _Untouched(f"VM [{vm.name}] has {len(devices)} volume(s) attached; volume [{swap.old.name}] "
                         f"cannot be found among them.")
    return devices[swap.slot][1]


async def _check_external(ctx: CoreContext, vm: VmRecord, server: Server, swap: VolumeSwap, sharing: int) -> None:
    """Refuse an external volume the VIM could not (or should not) swap in, before changing anything."""
    new_id = str(swap.new.external_id)
    volume = await _volume(ctx, new_id)
    if volume is None:
        raise _Untouched(f"Volume [{new_id}] ({swap.new.name}) not found.")
    if any(a.server_id == server.id for a in volume.attachments):
        raise _Untouched(f"Volume [{new_id}] is already attached to VM [{vm.name}].")
    if sharing > 1 and not volume.multiattach:
        raise _Untouched(f"Volume [{new_id}] is not multiattach; it cannot replace the volume of "
                         f"{sharing} VMs of vm_group [{swap.group}].")
    usable = volume.status is VolumeStatus.AVAILABLE or (volume.status is VolumeStatus.IN_USE and volume.multiattach)
    if not usable:
        raise _Untouched(f"Volume [{new_id}] is {volume.status.value}; it must be available to be swapped in.")
    if swap.new.boot_index == 0 and not volume.bootable:
        raise _Untouched(f"Volume [{new_id}] is not bootable; it cannot replace boot volume [{swap.old.name}].")


async def _call_swap(ctx: CoreContext, server: Server, old_id: str, new_id: str) -> None:
    try:
        # the restored volume is the operator's (out of band): deleting the server must not delete it
        await ctx.driver.swap_volume(server.id, old_id, new_id, delete_on_termination=False)
    except VimError as exc:
        raise VimOperationFailed(exc.message) from exc


async def _attached(ctx: CoreContext, volume_id: str, server_id: str) -> bool:
    volume = await _volume(ctx, volume_id)
    return volume is not None and any(a.server_id == server_id for a in volume.attachments)


async def _still_attached(ctx: CoreContext, volume_id: str, server_id: str) -> bool:
    """Attached and not on its way out (a swap already asked for leaves it ``detaching``)."""
    volume = await _volume(ctx, volume_id)
    return (volume is not None and volume.status is not VolumeStatus.DETACHING
            and any(a.server_id == server_id for a in volume.attachments))


async def _wait_swapped(ctx: CoreContext, vm: VmRecord, server: Server, old_id: str, new_id: str,
                        timeout: float) -> None:
    """Wait until the VIM shows ``new_id`` in-use on the server and ``old_id`` detached from it."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                new = await _volume(ctx, new_id)
                if new is None:
                    raise VimOperationFailed(f"Volume [{new_id}] disappeared while being swapped into VM [{vm.name}].")
                if new.status is VolumeStatus.ERROR:
                    raise VimOperationFailed(f"Volume [{new_id}] went to error while being swapped into "
                                             f"VM [{vm.name}].")
                mine = any(a.server_id == server.id for a in new.attachments)
                if mine and new.status is VolumeStatus.IN_USE and not await _attached(ctx, old_id, server.id):
                    return
                await asyncio.sleep(ctx.settings.poll_interval)
    except TimeoutError:
        raise VimOperationFailed(f"Volume swap of VM [{vm.name}] ({old_id} -> {new_id}) did not finish within "
                                 f"{timeout:g} seconds.") from None
