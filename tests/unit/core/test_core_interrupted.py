"""Work that ends abnormally: an undeploy that interrupted a START, exceptions that are not VIM failures,
and a resumed operation whose target was reached before the process died."""

from __future__ import annotations

import asyncio
import logging

import pytest

from esc_netconf.core.context import utc_now
from esc_netconf.core.model import OperationRecord
from esc_netconf.core.states import ActionType, ServiceState, VmState
from esc_netconf.vim.base import Server, VimFailure

from .conftest import FAIL, OK, Harness, group, spec

TWO = spec(group("g", 2, 2))


async def _stopped(harness: Harness) -> str:
    harness.core.apply_update("t1", None, TWO)
    await harness.idle()
    harness.core.service_action("t1", "dep", ActionType.STOP)
    await harness.idle()
    (dep,) = harness.core.deployments()
    assert dep.state is ServiceState.STOPPED
    return dep.dep_id


async def test_undeploy_that_interrupts_start_leaves_only_itself_recorded(harness: Harness) -> None:
    await _stopped(harness)
    harness.core.service_action("t1", "dep", ActionType.START)
    await asyncio.sleep(0.02)
    harness.core.apply_update("t1", TWO, None)
    harness.core.flush()  # the core commits in batches: what a crash now would leave
    assert [op.kind for op in harness.store.load().operations.values()] == ["UNDEPLOY"]
    mark = len(harness.events)
    await harness.restart()
    await harness.idle()
    kinds = harness.kinds(mark)
    assert [k for k in kinds if k[0] != "VM_UNDEPLOYED"] == [("SERVICE_UNDEPLOYED", OK, 200)]
    assert harness.core.deployments() == [] and await harness.servers() == []
    assert not harness.store.load().operations


async def test_restart_resumes_only_the_undeploy_of_a_deployment(harness: Harness) -> None:
    """A store written before the fix (or by any path) holding a START and the UNDEPLOY that interrupted it."""
    dep_id = await _stopped(harness)
    harness.core.service_action("t1", "dep", ActionType.START)
    harness.core.flush()  # the START's record, not a sleep that a loaded machine may outlast or fall short of
    (start,) = harness.store.load().operations.values()
    harness.core.apply_update("t1", TWO, None)
    harness.core.flush()
    harness.store.save_operation(start)  # as if the START record had survived
    mark = len(harness.events)
    await harness.restart()
    assert harness.core.busy_with(dep_id) == "UNDEPLOY"
    harness.core.flush()
    assert [op.kind for op in harness.store.load().operations.values()] == ["UNDEPLOY"]
    await harness.idle()
    kinds = harness.kinds(mark)
    assert not any(k[0] in ("VM_STARTED", "SERVICE_ALIVE") for k in kinds), kinds
    assert kinds[-1] == ("SERVICE_UNDEPLOYED", OK, 200) and harness.core.deployments() == []
    assert not harness.store.load().operations


async def test_a_vim_error_creating_the_project_fails_the_deploy_with_an_event(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    async def keystone_down(name: str) -> None:
        raise VimFailure("Keystone is unreachable (503)", code=503)

    monkeypatch.setattr(harness.sim, "ensure_project", keystone_down)
    harness.core.apply_update("t1", None, spec(group("g", 1, 1)))
    await harness.idle()
    (dep,) = harness.core.deployments()
    assert dep.state is ServiceState.ERROR and not harness.core.is_busy(dep.dep_id)
    assert harness.kinds() == [("CREATE_TENANT", FAIL, 500), ("SERVICE_ALIVE", FAIL, 500)]
    assert harness.events[0].tenant == "t1" and harness.events[0].status_message == "Keystone is unreachable (503)"
    assert harness.events[-1].status_message == "Keystone is unreachable (503)"
    assert harness.core.tenants() == []  # not created: not in opdata
    assert not harness.store.load().operations


async def test_an_unexpected_exception_fails_the_operation_with_its_final_event(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: object, **kwargs: object) -> Server:
        raise RuntimeError("driver bug")

    monkeypatch.setattr(harness.sim, "create_server", broken)
    harness.core.apply_update("t1", None, spec(group("g", 1, 1)))
    await harness.idle()
    (dep,) = harness.core.deployments()
    assert dep.state is ServiceState.ERROR and not harness.core.is_busy(dep.dep_id)
    assert harness.kinds()[-1] == ("SERVICE_ALIVE", FAIL, 500)
    assert "driver bug" in harness.events[-1].status_message
    assert all(vm.state is VmState.ERROR for vm in harness.core.vms(dep.dep_id))
    assert not harness.store.load().operations


async def test_an_unexpected_exception_in_a_stop_fails_the_service_with_service_stopped(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    harness.core.apply_update("t1", None, TWO)
    await harness.idle()

    async def broken(server_id: str) -> None:
        raise RuntimeError("driver bug")

    monkeypatch.setattr(harness.sim, "stop_server", broken)
    mark = len(harness.events)
    harness.core.service_action("t1", "dep", ActionType.STOP, transaction_id="tx-9")
    await harness.idle()
    (dep,) = harness.core.deployments()
    assert dep.state is ServiceState.ERROR
    assert harness.kinds(mark)[-1] == ("SERVICE_STOPPED", FAIL, 500)
    assert harness.events[-1].transaction_id == "tx-9"


@pytest.mark.parametrize("action", ["START", "REBOOT"])
async def test_a_resumed_service_action_whose_target_was_reached_finishes_quietly(
        harness: Harness, action: str, caplog: pytest.LogCaptureFixture) -> None:
    harness.core.apply_update("t1", None, spec(group("g", 1, 1)))
    await harness.idle()
    (dep,) = harness.core.deployments()
    # killed after the last save of the workflow (service ACTIVE) but before its record was finished
    harness.store.save_operation(OperationRecord("op-x", "SERVICE_ACTION", "t1", dep.dep_id, None,
                                                 {"action": action}))
    mark = len(harness.events)
    with caplog.at_level(logging.ERROR):
        await harness.restart()
        await harness.idle()
    assert harness.kinds(mark) == [] and not caplog.records
    assert harness.core.deployments()[0].state is ServiceState.ACTIVE
    assert not harness.store.load().operations


async def test_a_resumed_vm_stop_whose_target_was_reached_finishes_quietly(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    harness.core.apply_update("t1", None, TWO)
    await harness.idle()
    (dep,) = harness.core.deployments()
    vm = harness.core.vms(dep.dep_id)[0]
    harness.core.vm_action(vm.name, ActionType.STOP, force=True)
    await harness.idle()
    harness.store.save_operation(OperationRecord("op-y", "VM_ACTION", "t1", dep.dep_id, vm.vm_id,
                                                 {"action": "STOP"}))
    mark = len(harness.events)
    with caplog.at_level(logging.ERROR):
        await harness.restart()
        await harness.idle()
    assert harness.kinds(mark) == [] and not caplog.records
    assert harness.core.vms(dep.dep_id)[0].state is VmState.SHUTOFF


async def test_a_resumed_recovery_skips_a_vm_it_had_recovered(harness: Harness,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    harness.core.apply_update("t1", None, spec(group("g", 1, 1)))
    await harness.idle()
    (dep,) = harness.core.deployments()
    (vm,) = harness.core.vms(dep.dep_id)
    started = utc_now()
    harness.core.recovery_vm_action(vm.name)
    await harness.idle()
    assert vm.state is VmState.ALIVE and harness.kinds()[-1] == ("VM_RECOVERY_COMPLETE", OK, 200)
    harness.store.save_operation(OperationRecord("op-r", "RECOVERY", "t1", dep.dep_id, None, {"vms": vm.vm_id},
                                                 started))
    mark = len(harness.events)
    with caplog.at_level(logging.ERROR):
        await harness.restart()
        await harness.idle()
    assert harness.kinds(mark) == [] and not caplog.records and not harness.store.load().operations


async def test_a_resumed_recovery_that_had_not_begun_is_carried_out(harness: Harness) -> None:
    harness.core.apply_update("t1", None, spec(group("g", 1, 1)))
    await harness.idle()
    (dep,) = harness.core.deployments()
    (vm,) = harness.core.vms(dep.dep_id)
    harness.store.save_operation(OperationRecord("op-r", "RECOVERY", "t1", dep.dep_id, None, {"vms": vm.vm_id},
                                                 utc_now()))
    mark = len(harness.events)
    await harness.restart()
    await harness.idle()
    assert harness.kinds(mark) == [("VM_RECOVERY_INIT", OK, 200), ("VM_RECOVERY_REBOOT", OK, 200),
                                   ("VM_RECOVERY_COMPLETE", OK, 200)]
    assert harness.core.vms(dep.dep_id)[0].state is VmState.ALIVE
