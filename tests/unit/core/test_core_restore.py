"""Restoring a VNF from its backup: an image change redeployed by recovery, and the volume swap of an update."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from esc_netconf.core import restore
from esc_netconf.core.errors import InvalidRequest, StateConflict
from esc_netconf.core.model import (DeploymentRecord, DeploymentSpec, OperationRecord, ScalingSpec, VmGroupSpec,
                                    VolumeSpec)
from esc_netconf.core.planning import plan_volume_swaps
from esc_netconf.core.states import ActionType, ServiceState, VmState
from esc_netconf.vim.base import ImageStatus, Volume, VolumeSnapshotStatus, VolumeStatus
from esc_netconf.vim.sim import FaultMode

from .conftest import FAIL, OK, Harness, group, spec

BOOT = VolumeSpec("boot", size=1, sizeunit="GiB", bus="virtio", type="LVM", boot_index=0, image="cirros")
DATA = VolumeSpec("data", size=1, sizeunit="GiB", boot_index=None)


def volume_group(lo: int = 1, hi: int = 1, volumes: tuple[VolumeSpec, ...] = (BOOT,)) -> VmGroupSpec:
    return group("g", lo, hi).with_changes(volumes=volumes)


def restored(external_id: str, *, boot_index: int | None = 0, name: str = "restored") -> VolumeSpec:
    return VolumeSpec(name, boot_index=boot_index, external_id=external_id)


def replaced(old: DeploymentSpec, volumes: tuple[VolumeSpec, ...]) -> DeploymentSpec:
    (g,) = old.vm_groups
    return spec(g.with_changes(volumes=volumes))


async def poll(read: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], timeout: float = 10.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            value = await read()
            if done(value):
                return value
            await asyncio.sleep(0.01)


async def deployed(harness: Harness, g: VmGroupSpec) -> DeploymentRecord:
    harness.core.apply_update("t1", None, spec(g))
    await harness.idle()
    (dep,) = harness.core.deployments()
    assert dep.state is ServiceState.ACTIVE
    return dep


async def out_of_band_volume(harness: Harness, from_volume: str, *, multiattach: bool = False) -> Volume:
    """A bootable volume made from a snapshot of ``from_volume``, as an operator makes it for a restore."""
    sim = harness.sim
    snap = await sim.create_volume_snapshot(from_volume, "backup", force=True)
    await poll(lambda: sim.get_volume_snapshot(snap.id), lambda s: s.status is VolumeSnapshotStatus.AVAILABLE)
    source = await sim.get_volume(from_volume)
    volume = await sim.create_volume("restore-me", project_id=source.project_id, size_gb=source.size_gb,
                                     snapshot_id=snap.id, multiattach=multiattach)
    ready: Volume = await poll(lambda: sim.get_volume(volume.id), lambda v: v.status is VolumeStatus.AVAILABLE)
    return ready


# ---- planning (pure) ----------------------------------------------------------------------------


def test_plan_pairs_deleted_and_external_by_boot_index() -> None:
    old = volume_group(volumes=(BOOT, DATA))
    (swap,) = plan_volume_swaps(old, old.with_changes(volumes=(DATA, restored("vol-1"))))
    assert (swap.old, swap.new.external_id, swap.slot) == (BOOT, "vol-1", 0)
    (swap,) = plan_volume_swaps(old, old.with_changes(volumes=(BOOT, restored("vol-2", boot_index=None))))
    assert (swap.old, swap.slot) == (DATA, 1)
    kept = dataclasses.replace(DATA, external_id="vol-3")
    (swap,) = plan_volume_swaps(old, old.with_changes(volumes=(BOOT, kept)))
    assert (swap.old, swap.new) == (DATA, kept)
    assert plan_volume_swaps(old, old.with_changes(volumes=(BOOT,))) == ()  # a plain removal is no swap


def test_plan_refuses_an_external_volume_that_replaces_nothing() -> None:
    old = volume_group(volumes=(BOOT,))
    with pytest.raises(InvalidRequest, match=r"no deleted volume with boot_index 0"):
        plan_volume_swaps(old, old.with_changes(volumes=(BOOT, restored("vol-1"))))
    with pytest.raises(InvalidRequest, match="one external volume replaces several"):
        plan_volume_swaps(volume_group(volumes=(BOOT, DATA)), old.with_changes(volumes=(
            restored("vol-1"), restored("vol-1", boot_index=None, name="other"))))


# ---- the boot volume swap -----------------------------------------------------------------------


async def test_boot_volume_swap_keeps_the_server_and_the_old_volume(harness: Harness) -> None:
    dep = await deployed(harness, volume_group())
    (vm,) = harness.core.vms(dep.dep_id)
    server_id, (old_volume,) = vm.server_id, vm.volume_ids
    assert server_id is not None
    external = await out_of_band_volume(harness, old_volume)
    new = replaced(dep.spec, (restored(external.id),))
    harness.core.check_update("t1", dep.spec, new)
    mark = len(harness.events)
    harness.core.apply_update("t1", dep.spec, new)
    await harness.idle()

    assert harness.kinds(mark) == [("VM_UPDATED", OK, 200), ("SERVICE_UPDATED", OK, 200)]
    assert harness.events[mark].vm_source and harness.events[mark].vm_source.vmname == vm.name
    assert old_volume in harness.events[mark].status_message and external.id in harness.events[mark].status_message
    server = await harness.sim.get_server(server_id)
    assert server.id == server_id and server.volumes_attached == (external.id,)
    kept = await harness.sim.get_volume(old_volume)  # detached, not deleted
    assert kept.status is VolumeStatus.AVAILABLE and kept.attachments == ()
    swapped_in = await harness.sim.get_volume(external.id)
    assert swapped_in.status is VolumeStatus.IN_USE and swapped_in.attachments[0].server_id == server_id
    assert vm.server_id == server_id and vm.volume_ids == [external.id] and vm.state is VmState.ALIVE
    entry = vm.history[-1]
    assert (entry.type, entry.detail) == ("volume swapped", f"{old_volume} -> {external.id}")
    assert dep.state is ServiceState.ACTIVE and not harness.core.is_busy(dep.dep_id)
    assert harness.sim.calls["swap_volume"] == 1 and harness.sim.calls["create_server"] == 1
    assert harness.store.load().operations == {}


async def test_swap_on_a_stopped_service(harness: Harness) -> None:
    dep = await deployed(harness, volume_group())
    harness.core.service_action("t1", "dep", ActionType.STOP)
    await harness.idle()
    (vm,) = harness.core.vms(dep.dep_id)
    external = await out_of_band_volume(harness, vm.volume_ids[0])
    mark = len(harness.events)
    harness.core.apply_update("t1", dep.spec, replaced(dep.spec, (restored(external.id),)))
    await harness.idle()
    assert harness.kinds(mark) == [("VM_UPDATED", OK, 200), ("SERVICE_UPDATED", OK, 200)]
    assert vm.volume_ids == [external.id] and vm.state is VmState.SHUTOFF and dep.state is ServiceState.STOPPED


async def test_redeploy_after_a_boot_volume_swap_boots_from_the_external_volume(harness: Harness) -> None:
    g = volume_group()
    dep = await deployed(harness, g)
    (vm,) = harness.core.vms(dep.dep_id)
    external = await out_of_band_volume(harness, vm.volume_ids[0])
    harness.core.apply_update("t1", dep.spec, replaced(dep.spec, (restored(external.id),)))
    await harness.idle()
    harness.core.apply_update("t1", dep.spec, None)  # the spec of a fresh deploy names the external volume
    await harness.idle()
    survivor = await harness.sim.create_volume("boot-again", project_id=external.project_id, size_gb=1,
                                               image_id=(await harness.sim.list_images(name="cirros"))[0].id)
    await poll(lambda: harness.sim.get_volume(survivor.id), lambda v: v.status is VolumeStatus.AVAILABLE)
    harness.core.apply_update("t1", None, spec(g.with_changes(volumes=(restored(survivor.id),))))
    await harness.idle()
    (dep,) = harness.core.deployments()
    (vm,) = harness.core.vms(dep.dep_id)
    assert dep.state is ServiceState.ACTIVE and vm.volume_ids == [survivor.id]


# ---- refusals -----------------------------------------------------------------------------------


async def test_check_update_refuses_what_cannot_work(harness: Harness) -> None:
    dep = await deployed(harness, volume_group(2, 2, volumes=(BOOT, DATA)))
    g = dep.spec.vm_groups[0]
    with pytest.raises(StateConflict, match=r"has 2 VMs; external boot volume \[vol-x\] can restore only one VM"):
        harness.core.check_update("t1", dep.spec, replaced(dep.spec, (DATA, restored("vol-x"))))
    with pytest.raises(InvalidRequest, match="no deleted volume with boot_index 0"):
        harness.core.check_update("t1", dep.spec, replaced(dep.spec, (BOOT, DATA, restored("vol-x"))))
    data_swap = (BOOT, restored("vol-x", boot_index=None))
    harness.core.check_update("t1", dep.spec, replaced(dep.spec, data_swap))  # shape fine; the VIM decides
    one = ScalingSpec(1, 1)
    with pytest.raises(InvalidRequest, match="a volume swap and scaling cannot be done in one update"):
        harness.core.check_update("t1", dep.spec, spec(g.with_changes(volumes=data_swap, scaling=one)))
    harness.core.check_update("t1", dep.spec, spec(g.with_changes(scaling=one)))  # scaling alone is fine
    assert not harness.core.is_busy(dep.dep_id) and harness.sim.calls["swap_volume"] == 0


async def test_vm_in_a_state_without_swap_is_refused(harness: Harness) -> None:
    dep = await deployed(harness, volume_group())
    (vm,) = harness.core.vms(dep.dep_id)
    vm.state = VmState.ERROR
    with pytest.raises(StateConflict, match=r"is in VM_ERROR_STATE; its volume cannot be swapped now"):
        harness.core.apply_update("t1", dep.spec, replaced(dep.spec, (restored("vol-x"),)))
    assert dep.spec.vm_groups[0].volumes == (BOOT,) and not harness.core.is_busy(dep.dep_id)


async def test_unknown_external_volume_fails_without_touching_the_vm(harness: Harness) -> None:
    dep = await deployed(harness, volume_group())
    (vm,) = harness.core.vms(dep.dep_id)
    before = list(vm.volume_ids)
    mark = len(harness.events)
    harness.core.apply_update("t1", dep.spec, replaced(dep.spec, (restored("no-such-volume"),)))
    await harness.idle()
    assert harness.kinds(mark) == [("VM_UPDATED", FAIL, 500), ("SERVICE_UPDATED", FAIL, 500)]
    assert harness.events[mark].status_message == "Volume [no-such-volume] (restored) not found."
    assert vm.volume_ids == before and vm.state is VmState.ALIVE and dep.state is ServiceState.ACTIVE
    assert harness.sim.calls["swap_volume"] == 0


async def test_volume_in_use_elsewhere_or_not_bootable_is_refused(harness: Harness) -> None:
    dep = await deployed(harness, volume_group())
    (vm,) = harness.core.vms(dep.dep_id)
    blank = await harness.sim.create_volume("blank", project_id=harness.core.tenants()[0].project_id, size_gb=1)
    await poll(lambda: harness.sim.get_volume(blank.id), lambda v: v.status is VolumeStatus.AVAILABLE)
    mark = len(harness.events)
    harness.core.apply_update("t1", dep.spec, replaced(dep.spec, (restored(blank.id),)))
    await harness.idle()
    assert harness.kinds(mark) == [("VM_UPDATED", FAIL, 500), ("SERVICE_UPDATED", FAIL, 500)]
    assert "is not bootable" in harness.events[mark].status_message
    assert (await harness.sim.get_volume(vm.volume_ids[0])).status is VolumeStatus.IN_USE


async def test_data_volume_of_two_vms_needs_multiattach(harness: Harness) -> None:
    dep = await deployed(harness, volume_group(2, 2, volumes=(DATA,)))
    vms = harness.core.vms(dep.dep_id)
    single = await out_of_band_volume(harness, vms[0].volume_ids[0])
    mark = len(harness.events)
    harness.core.apply_update("t1", dep.spec, replaced(dep.spec, (restored(single.id, boot_index=None),)))
    await harness.idle()
    assert harness.kinds(mark) == [("VM_UPDATED", FAIL, 500)] * 2 + [("SERVICE_UPDATED", FAIL, 500)]
    assert "is not multiattach" in harness.events[mark].status_message

    (dep,) = harness.core.deployments()
    shared = await out_of_band_volume(harness, vms[0].volume_ids[0], multiattach=True)
    mark = len(harness.events)
    # the spec already names ``restored``: replace that entry by another external volume under a new name
    harness.core.apply_update("t1", dep.spec, replaced(dep.spec, (restored(shared.id, boot_index=None,
                                                                          name="shared"),)))
    await harness.idle()
    assert harness.kinds(mark) == [("VM_UPDATED", OK, 200)] * 2 + [("SERVICE_UPDATED", OK, 200)]
    volume = await harness.sim.get_volume(shared.id)
    assert {a.server_id for a in volume.attachments} == {vm.server_id for vm in vms}


# ---- durability ---------------------------------------------------------------------------------


async def test_swap_interrupted_after_the_vim_call_is_not_repeated(harness: Harness,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    dep = await deployed(harness, volume_group())
    (vm,) = harness.core.vms(dep.dep_id)
    old_volume, server_id = vm.volume_ids[0], vm.server_id
    external = await out_of_band_volume(harness, old_volume)
    called = asyncio.Event()
    original = harness.sim.swap_volume

    async def swap_then_hang(server: str, old: str, new: str, **flags: bool | None) -> None:
        await original(server, old, new, **flags)
        called.set()
        await asyncio.Event().wait()  # the controller dies before it sees the answer

    monkeypatch.setattr(harness.sim, "swap_volume", swap_then_hang)
    harness.core.apply_update("t1", dep.spec, replaced(dep.spec, (restored(external.id),)))
    async with asyncio.timeout(10):
        await called.wait()
    (op,) = harness.store.load().operations.values()
    (key,) = [k for k in op.params if k.startswith("swap:")]
    assert json.loads(op.params[key]) == {"old": old_volume, "new": external.id}
    mark = len(harness.events)
    await harness.restart()
    await harness.idle()
    assert harness.kinds(mark) == [("VM_UPDATED", OK, 200), ("SERVICE_UPDATED", OK, 200)]
    assert harness.sim.calls["swap_volume"] == 0  # the new process saw the swap done in the VIM
    (vm,) = harness.core.vms(dep.dep_id)
    assert vm.server_id == server_id and vm.volume_ids == [external.id]
    assert [h.type for h in vm.history].count("volume swapped") == 1


async def test_swap_recorded_but_never_sent_is_sent_on_restart(harness: Harness) -> None:
    dep = await deployed(harness, volume_group())
    (vm,) = harness.core.vms(dep.dep_id)
    old_volume = vm.volume_ids[0]
    external = await out_of_band_volume(harness, old_volume)
    new = replaced(dep.spec, (restored(external.id),))
    params = restore.swap_intent(dep, new)
    params[f"swap:{vm.vm_id}:0"] = json.dumps({"old": old_volume, "new": external.id})
    await harness.core.stop()  # as if killed between recording the intent and calling the VIM
    dep.spec = new
    harness.store.save_deployment(dep)
    harness.store.save_operation(OperationRecord("op-1", "UPDATE", "t1", dep.dep_id, None, params))
    mark = len(harness.events)
    await harness.restart()
    await harness.idle()
    assert harness.kinds(mark) == [("VM_UPDATED", OK, 200), ("SERVICE_UPDATED", OK, 200)]
    assert harness.sim.calls["swap_volume"] == 1
    server = await harness.sim.get_server(vm.server_id or "")
    assert server.volumes_attached == (external.id,)


# ---- restore from a snapshot image (path a) -----------------------------------------------------


async def test_image_update_to_a_snapshot_then_recovery_rebuilds_from_it(harness: Harness) -> None:
    dep = await deployed(harness, group("g", 1, 1))
    (vm,) = harness.core.vms(dep.dep_id)
    old_server = vm.server_id or ""
    image_id = await harness.sim.create_server_image(old_server, "snap-1")
    await poll(lambda: harness.sim.get_image(image_id), lambda i: i.status is ImageStatus.ACTIVE)
    mark = len(harness.events)
    harness.core.apply_update("t1", dep.spec, spec(group("g", 1, 1, image="snap-1")))
    await harness.idle()
    assert harness.kinds(mark) == [("SERVICE_UPDATED", OK, 200)] and vm.server_id == old_server
    harness.core.recovery_vm_action(vm.name)
    await harness.idle()
    assert harness.kinds(mark)[1:] == [("VM_RECOVERY_INIT", OK, 200), ("VM_RECOVERY_UNDEPLOYED", OK, 200),
                                       ("VM_RECOVERY_DEPLOYED", OK, 200), ("VM_RECOVERY_COMPLETE", OK, 200)]
    server = await harness.sim.get_server(vm.server_id or "")
    assert server.id != old_server and server.image_id == image_id and server.name == vm.name
    assert vm.image == "snap-1" and vm.state is VmState.ALIVE


async def test_recovery_redeploy_after_a_boot_volume_swap(harness: Harness) -> None:
    """The swapped-in volume is the operator's: it is attached without delete_on_termination, survives
    the old server, and the rebuilt VM boots from it again (the restore is not undone by a recovery)."""
    dep = await deployed(harness, volume_group())
    (vm,) = harness.core.vms(dep.dep_id)
    external = await out_of_band_volume(harness, vm.volume_ids[0])
    harness.core.apply_update("t1", dep.spec, replaced(dep.spec, (restored(external.id),)))
    await harness.idle()
    old_server = vm.server_id
    harness.faults["server.reboot"] = FaultMode.ERROR
    mark = len(harness.events)
    harness.core.recovery_vm_action(vm.name)
    await harness.idle()
    assert harness.kinds(mark) == [("VM_RECOVERY_INIT", OK, 200), ("VM_RECOVERY_REBOOT", FAIL, 500),
                                   ("VM_RECOVERY_UNDEPLOYED", OK, 200), ("VM_RECOVERY_DEPLOYED", OK, 200),
                                   ("VM_RECOVERY_COMPLETE", OK, 200)]
    assert vm.server_id != old_server and vm.state is VmState.ALIVE
    assert vm.volume_ids == [external.id]
