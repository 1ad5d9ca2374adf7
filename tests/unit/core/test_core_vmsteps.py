"""Power steps against a VIM that refuses with 409: fail at once with its message, or go on when the
server is already heading where we want it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from esc_netconf.core.states import ActionType, VmState
from esc_netconf.vim.base import VimConflict
from esc_netconf.vim.sim import SimCloud, SimSettings

from .conftest import FAIL, OK, Harness, group, spec


async def _one_vm(harness: Harness) -> str:
    harness.core.apply_update("t1", None, spec(group("g", 1, 1)))
    await harness.idle()
    (dep,) = harness.core.deployments()
    (vm,) = harness.core.vms(dep.dep_id)
    return vm.name


async def test_stop_of_a_server_being_snapshotted_fails_at_once_with_the_vim_message(
        harness: Harness, tmp_path: Path) -> None:
    name = await _one_vm(harness)
    vm = harness.core.find_vm(name)
    assert vm is not None and vm.server_id is not None
    # someone snapshots the server out of band; the capture lasts about 2.5 s (bootup_time is 5 s)
    slow = SimCloud(harness.sim_dir, lambda: SimSettings(delay_scale=5.0))
    try:
        await slow.create_server_image(vm.server_id, "out-of-band")
        mark = len(harness.events)
        started = time.monotonic()
        harness.core.vm_action(name, ActionType.STOP, force=True)
        await harness.idle()
        assert time.monotonic() - started < 2.0
        (event,) = harness.events[mark:]
        assert (event.event_type.value, event.status.value, event.status_code) == ("VM_STOPPED", FAIL, 500)
        assert "image_snapshot" in event.status_message and "Cannot 'stop'" in event.status_message
    finally:
        await slow.close()


async def test_a_conflict_while_the_server_already_powers_off_is_not_a_failure(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    name = await _one_vm(harness)
    real = harness.sim.stop_server

    async def stop_then_conflict(server_id: str) -> None:
        await real(server_id)  # another client's stop won the race
        raise VimConflict(f"Cannot 'stop' instance {server_id} while it is in task_state powering-off")

    monkeypatch.setattr(harness.sim, "stop_server", stop_then_conflict)
    mark = len(harness.events)
    harness.core.vm_action(name, ActionType.STOP, force=True)
    await harness.idle()
    assert harness.kinds(mark) == [("VM_STOPPED", OK, 200)]
    vm = harness.core.find_vm(name)
    assert vm is not None and vm.state is VmState.SHUTOFF


async def test_a_conflict_on_start_while_the_server_already_powers_on_is_not_a_failure(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    name = await _one_vm(harness)
    harness.core.vm_action(name, ActionType.STOP, force=True)
    await harness.idle()
    real = harness.sim.start_server

    async def start_then_conflict(server_id: str) -> None:
        await real(server_id)
        raise VimConflict(f"Cannot 'start' instance {server_id} while it is in task_state powering-on")

    monkeypatch.setattr(harness.sim, "start_server", start_then_conflict)
    mark = len(harness.events)
    harness.core.vm_action(name, ActionType.START)
    await harness.idle()
    assert harness.kinds(mark) == [("VM_STARTED", OK, 200), ("VM_ALIVE", OK, 200)]
