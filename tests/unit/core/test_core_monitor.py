"""The monitor judges only VMs that did not change while the server listing was in flight, and gives the loop
turns during a pass."""

from __future__ import annotations

import asyncio

import pytest

from esc_netconf.core import monitor as monitor_module
from esc_netconf.core.pacing import TurnBudget
from esc_netconf.core.states import ActionType, VmState
from esc_netconf.vim.base import Server, ServerStatus

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


async def test_a_pass_gives_the_loop_turns_between_deployments_and_still_finds_the_lost_vm(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no budget at all, a pass gives the loop a turn at every deployment; what it judges is unchanged.
    The listing answers without suspending, so the turns counted are the pass's own."""
    assert harness.core._monitor_task is not None
    harness.core._monitor_task.cancel()
    for name in ("a", "b", "c", "d"):
        harness.core.apply_update("t1", None, spec(group("g", 1, 1), name=name))
    await harness.idle()
    deps = harness.core.deployments()
    assert len(deps) == 4
    (lost,) = harness.core.vms(deps[2].dep_id)
    assert lost.server_id is not None
    await harness.sim.stop_server(lost.server_id)  # out of band
    real = harness.sim.list_servers
    for _ in range(200):
        listing = await real(None)
        if any(s.id == lost.server_id and s.status is ServerStatus.SHUTOFF and not s.task_state for s in listing):
            break
        await asyncio.sleep(0.01)

    async def at_once(project_id: str | None = None) -> list[Server]:
        return [s for s in listing if project_id is None or s.project_id == project_id]

    monkeypatch.setattr(harness.sim, "list_servers", at_once)
    monkeypatch.setattr(monitor_module, "TurnBudget", lambda: TurnBudget(0.0))
    turns = 0

    async def ticker() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    turns = 0
    await harness.core.monitor_once()
    ticking.cancel()
    # the first walk, the tenant's judging and the recovery walk each give a turn per deployment
    assert turns >= 3 * len(deps), turns
    monkeypatch.setattr(harness.sim, "list_servers", real)
    assert [vm.vm_id for dep in deps for vm in harness.core.vms(dep.dep_id) if vm.state is not VmState.ALIVE] \
        == [lost.vm_id]
    await harness.idle()
    assert lost.state is VmState.ALIVE and harness.kinds()[-1][0] == "VM_RECOVERY_COMPLETE"
