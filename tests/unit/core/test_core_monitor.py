"""The monitor judges only VMs that did not change while the server listing was in flight."""

from __future__ import annotations

import asyncio

import pytest

from esc_netconf.core.states import ActionType, VmState
from esc_netconf.vim.base import Server

from .conftest import Harness, group, spec


async def test_a_vm_started_during_a_slow_listing_is_not_judged_by_it(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    assert harness.core._monitor_task is not None
    harness.core._monitor_task.cancel()  # drive the monitor by hand
    harness.core.apply_update("t1", None, spec(group("g", 2, 2)))
    await harness.idle()
    (dep,) = harness.core.deployments()
    first, second = harness.core.vms(dep.dep_id)
    harness.core.vm_action(second.name, ActionType.STOP, force=True)
    await harness.idle()
    assert second.state is VmState.SHUTOFF
    real = harness.sim.list_servers
    listed, release = asyncio.Event(), asyncio.Event()

    async def slow_listing(project_id: str | None = None) -> list[Server]:
        result = await real(project_id)
        listed.set()
        await release.wait()  # a slow VIM answer: what it says is already old when it arrives
        return result

    monkeypatch.setattr(harness.sim, "list_servers", slow_listing)
    monitor = asyncio.create_task(harness.core.monitor_once())
    await asyncio.wait_for(listed.wait(), 5)
    monkeypatch.setattr(harness.sim, "list_servers", real)
    harness.core.vm_action(second.name, ActionType.START)
    await harness.idle()
    assert second.state is VmState.ALIVE
    mark = len(harness.events)
    release.set()
    await asyncio.wait_for(monitor, 5)
    await harness.idle()
    assert second.state is VmState.ALIVE and first.state is VmState.ALIVE
    assert harness.kinds(mark) == []


async def test_a_vm_whose_server_went_down_is_still_recovered(harness: Harness) -> None:
    assert harness.core._monitor_task is not None
    harness.core._monitor_task.cancel()
    harness.core.apply_update("t1", None, spec(group("g", 1, 1)))
    await harness.idle()
    (dep,) = harness.core.deployments()
    (vm,) = harness.core.vms(dep.dep_id)
    assert vm.server_id is not None
    await harness.sim.stop_server(vm.server_id)  # out of band
    for _ in range(200):
        await harness.core.monitor_once()
        if vm.state is not VmState.ALIVE:
            break
        await asyncio.sleep(0.01)
    assert harness.core.is_busy(dep.dep_id)  # recovery started
    await harness.idle()
    assert vm.state is VmState.ALIVE and harness.kinds()[-1][0] == "VM_RECOVERY_COMPLETE"
