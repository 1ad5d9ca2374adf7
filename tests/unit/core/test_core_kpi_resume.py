"""kill -9 (a restart of core and cloud) while a START or REBOOT waits for the VM_ALIVE KPI, or while the
recovery it began because the KPI was not met runs: the resumed operation converges, counters start afresh,
nothing is recovered twice and every event is published once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from esc_netconf.core.model import KpiSpec, RuleSpec, VmGroupSpec
from esc_netconf.core.states import ActionType, ServiceState, VmState
from esc_netconf.vim.sim import SimSettings
from tests.unit.core.conftest import DELAY_SCALE, OK, Harness, group, spec

PING = KpiSpec("VM_ALIVE", "1", "GT", "UINT32", "ICMPPing", 0, 1, "seconds", occurrences_true=1, occurrences_false=2)
RECOVER = RuleSpec("VM_ALIVE", ("FALSE recover autohealing",))


def watched(*, bootup: int, recovery_wait: int) -> VmGroupSpec:
    return group("g", 1, 1).with_changes(kpis=(PING,), rules=(RECOVER,), bootup_time=bootup,
                                         recovery_wait_time=recovery_wait)


async def _deployed(h: Harness, g: VmGroupSpec) -> tuple[str, str]:
    """Deploy one VM and wait until it is alive; its deployment id and generated name."""
    h.core.apply_update("t", None, spec(g))
    await h.idle()
    (dep,) = h.core.deployments()
    (vm,) = h.core.vms(dep.dep_id)
    assert vm.state is VmState.ALIVE
    return dep.dep_id, vm.name


def _count(h: Harness, since: int, *kinds: str) -> dict[str, int]:
    return {kind: sum(1 for k in h.kinds(since) if k[0] == kind) for kind in kinds}


@pytest.mark.parametrize("action", [ActionType.START, ActionType.REBOOT])
async def test_restart_during_the_kpi_bootup_wait(tmp_path: Path, action: ActionType) -> None:
    guests: dict[str, str] = {}
    h = Harness(tmp_path / "sim", guests=guests)
    await h.core.start()
    try:
        dep_id, name = await _deployed(h, watched(bootup=30, recovery_wait=30))
        if action is ActionType.START:
            h.core.service_action("t", "dep", ActionType.STOP)
            await h.idle()
        guests[f"vim.sim.guest.{name}.ping"] = "down"
        since = len(h.events)
        h.core.service_action("t", "dep", action)
        waiting = VmState.STARTING if action is ActionType.START else VmState.REBOOTING
        await h.wait_for(lambda: h.core.vms(dep_id)[0].state is waiting
                         and h.sim.calls["start_server"] + h.sim.calls["reboot_server"] > 0, timeout=10)
        await h.restart()  # the power-on was asked; the KPI wait is in flight
        guests[f"vim.sim.guest.{name}.ping"] = "up"
        await h.idle(20)
        done = "VM_STARTED" if action is ActionType.START else "VM_REBOOTED"
        assert _count(h, since, done, "VM_ALIVE", "SERVICE_ALIVE", "VM_RECOVERY_INIT") == {
            done: 1, "VM_ALIVE": 1, "SERVICE_ALIVE": 1, "VM_RECOVERY_INIT": 0}
        assert ("SERVICE_ALIVE", OK, 200) in h.kinds(since)
        assert h.core.vms(dep_id)[0].state is VmState.ALIVE and h.core.vms(dep_id)[0].monitored
    finally:
        await h.core.stop()
        await h.sim.close()


@dataclass
class _SlowableHarness(Harness):
    """A harness whose cloud's delays can be stretched for a while (the sim reads its settings per request)."""

    delay_scale: float = DELAY_SCALE

    def _settings(self) -> SimSettings:
        return SimSettings(delay_scale=self.delay_scale, faults=dict(self.faults))


async def test_a_reboot_resumed_while_its_server_powers_on_converges(tmp_path: Path) -> None:
    """kill -9 once the reboot's power-on was asked, before the server is ACTIVE again (SHUTOFF, powering-on):
    the resumed reboot does not wait for a SHUTOFF that is over (nor stop the server again), it waits for
    ACTIVE and ends once, as a reboot killed at any other step does."""
    h = _SlowableHarness(tmp_path / "sim", guests={})
    await h.core.start()
    try:
        dep_id, _ = await _deployed(h, watched(bootup=30, recovery_wait=30))
        since = len(h.events)
        h.delay_scale = 0.2  # a power-on of 0.3 s: the restart below surely lands inside it
        h.core.service_action("t", "dep", ActionType.REBOOT)
        await h.wait_for(lambda: h.sim.calls["start_server"] > 0, timeout=10)
        (server,) = await h.servers()
        assert server.task_state == "powering-on"
        await h.restart()
        await h.idle(20)
        assert h.sim.calls["stop_server"] == h.sim.calls["start_server"] == 0  # the new core asked for nothing
        assert _count(h, since, "VM_REBOOTED", "VM_ALIVE", "SERVICE_ALIVE", "VM_RECOVERY_INIT") == {
            "VM_REBOOTED": 1, "VM_ALIVE": 1, "SERVICE_ALIVE": 1, "VM_RECOVERY_INIT": 0}
        assert h.core.vms(dep_id)[0].state is VmState.ALIVE and h.core.vms(dep_id)[0].monitored
    finally:
        await h.core.stop()
        await h.sim.close()


@pytest.mark.parametrize(("action", "of_one_vm"), [(ActionType.START, False), (ActionType.REBOOT, False),
                                                  (ActionType.START, True)])
async def test_restart_during_the_recovery_a_start_or_reboot_began(tmp_path: Path, action: ActionType,
                                                                   of_one_vm: bool) -> None:
    guests: dict[str, str] = {}
    h = Harness(tmp_path / "sim", guests=guests)
    await h.core.start()
    try:
        dep_id, name = await _deployed(h, watched(bootup=1, recovery_wait=30))
        if action is ActionType.START:
            if of_one_vm:
                h.core.vm_action(name, ActionType.STOP, force=True)
            else:
                h.core.service_action("t", "dep", ActionType.STOP)
            await h.idle()
        guests[f"vim.sim.guest.{name}.ping"] = "down"
        since = len(h.events)
        if of_one_vm:
            h.core.vm_action(name, action)
        else:
            h.core.service_action("t", "dep", action)
        await h.wait_for(lambda: h.has_event_type("VM_RECOVERY_INIT", since), timeout=10)
        await h.wait_for(lambda: h.sim.calls["reboot_server"] == 1)  # the recovery's hard reboot (REBOOT stops, starts)
        assert h.core.vms(dep_id)[0].state is VmState.RECOVERY_REBOOTING
        await h.restart()  # the recovery's reboot was asked; its KPI wait is in flight
        guests[f"vim.sim.guest.{name}.ping"] = "up"
        await h.idle(20)
        assert _count(h, since, "VM_RECOVERY_INIT", "VM_RECOVERY_REBOOT", "VM_RECOVERY_COMPLETE",
                      "VM_RECOVERY_UNDEPLOYED", "VM_ALIVE") == {
            "VM_RECOVERY_INIT": 1, "VM_RECOVERY_REBOOT": 1, "VM_RECOVERY_COMPLETE": 1, "VM_RECOVERY_UNDEPLOYED": 0,
            "VM_ALIVE": 0}
        ends = [("VM_RECOVERY_COMPLETE", OK, 200)] + ([] if of_one_vm else [("SERVICE_ALIVE", OK, 200)])
        assert [k for k in h.kinds(since) if k[0] in ("VM_RECOVERY_COMPLETE", "SERVICE_ALIVE")] == ends
        vm = h.core.vms(dep_id)[0]
        assert vm.state is VmState.ALIVE and vm.monitored and vm.recovery_source is None
        assert h.core.find_deployment("t", "dep").state is ServiceState.ACTIVE  # type: ignore[union-attr]
    finally:
        await h.core.stop()
        await h.sim.close()


async def test_restart_while_a_redeployed_vm_waits_for_its_kpi_finishes_the_recovery(tmp_path: Path) -> None:
    """The recovery a deploy began (VM_ALIVE not met within bootup_time) had redeployed the VM and waited for
    the new server's KPI: the resumed deploy completes that recovery, it does not announce a fresh VM_ALIVE."""
    guests = {"vim.sim.guest.default.ping": "down"}
    h = Harness(tmp_path / "sim", guests=guests)
    await h.core.start()
    try:
        h.core.apply_update("t", None, spec(watched(bootup=1, recovery_wait=1)))
        await h.wait_for(lambda: h.has_event_type("VM_RECOVERY_DEPLOYED"), timeout=15)
        (dep,) = h.core.deployments()
        vm = h.core.vms(dep.dep_id)[0]
        assert vm.state is VmState.INERT and vm.recovery_source is not None
        await h.restart()
        guests["vim.sim.guest.default.ping"] = "up"
        await h.idle(20)
        assert _count(h, 0, "VM_RECOVERY_INIT", "VM_RECOVERY_DEPLOYED", "VM_RECOVERY_COMPLETE", "VM_ALIVE") == {
            "VM_RECOVERY_INIT": 1, "VM_RECOVERY_DEPLOYED": 1, "VM_RECOVERY_COMPLETE": 1, "VM_ALIVE": 0}
        assert [k for k in h.kinds() if k[0] in ("VM_RECOVERY_COMPLETE", "SERVICE_ALIVE")] == [
            ("VM_RECOVERY_COMPLETE", OK, 200), ("SERVICE_ALIVE", OK, 200)]
        vm = h.core.vms(dep.dep_id)[0]
        assert vm.state is VmState.ALIVE and vm.recovery_source is None
    finally:
        await h.core.stop()
        await h.sim.close()


OVERLOADED = KpiSpec("VM_OVERLOADED", "80", "GE", "FLOAT", "CPU", 0, 1, "seconds")
SCALE_UP = RuleSpec("VM_OVERLOADED", ("TRUE servicescaleup.sh",))
SCALE_OUT_EVENTS = ("VM_SCALE_OUT_INIT", "VM_SCALE_OUT_DEPLOYED", "VM_SCALE_OUT_COMPLETE", "VM_ALIVE",
                    "VM_RECOVERY_INIT")


async def test_restart_while_a_kpi_scale_out_waits_for_the_new_vms_kpi(tmp_path: Path) -> None:
    """kill -9 once a scale-out's new VM is deployed and waits for its VM_ALIVE KPI (the guest does not
    answer yet), and again while the resumed scale-out waits: it waits for that same VM (no second server),
    which becomes ALIVE and monitored, and its INIT, DEPLOYED and COMPLETE are each published once."""
    first = "vim.sim.guest.default.ping"
    guests: dict[str, str] = {}
    h = Harness(tmp_path / "sim", guests=guests)
    await h.core.start()
    try:
        g = group("g", 1, 2).with_changes(kpis=(PING, OVERLOADED), rules=(RECOVER, SCALE_UP), bootup_time=30,
                                          recovery_wait_time=30)
        dep_id, name = await _deployed(h, g)
        guests.update({first: "down", f"vim.sim.guest.{name}.ping": "up"})  # new guests stay silent for now
        since = len(h.events)
        guests[f"vim.sim.guest.{name}.cpu"] = "95"
        await h.wait_for(lambda: h.has_event_type("VM_SCALE_OUT_DEPLOYED", since), timeout=10)
        guests[f"vim.sim.guest.{name}.cpu"] = "10"
        (new,) = [vm for vm in h.core.vms(dep_id) if vm.name != name]
        assert new.state is VmState.INERT and h.core.is_busy(dep_id)
        await h.restart()  # the new VM's KPI wait is in flight
        assert h.core.is_busy(dep_id), "the scale-out was resumed"
        await h.restart()  # and the resumed one's
        assert h.core.is_busy(dep_id), "the scale-out was resumed"
        guests[first] = "up"
        await h.idle(20)
        assert _count(h, since, *SCALE_OUT_EVENTS) == {
            "VM_SCALE_OUT_INIT": 1, "VM_SCALE_OUT_DEPLOYED": 1, "VM_SCALE_OUT_COMPLETE": 1, "VM_ALIVE": 0,
            "VM_RECOVERY_INIT": 0}
        assert ("VM_SCALE_OUT_COMPLETE", OK, 200) in h.kinds(since)
        vms = {vm.name: vm for vm in h.core.vms(dep_id)}
        assert set(vms) == {name, new.name} and all(vm.state is VmState.ALIVE and vm.monitored for vm in vms.values())
        assert len(await h.servers()) == 2
        assert h.core.find_deployment("t", "dep").state is ServiceState.ACTIVE  # type: ignore[union-attr]
    finally:
        await h.core.stop()
        await h.sim.close()


async def test_restart_while_a_kpi_scale_in_deletes_its_vm(tmp_path: Path) -> None:
    """kill -9 while a scale-in's server is being deleted: the resumed scale-in deletes it (the VM stays
    UNDEPLOYING no longer) and its INIT and COMPLETE are each published once."""
    guests = {"vim.sim.guest.default.cpu": "50"}
    h = _SlowableHarness(tmp_path / "sim", guests=guests)
    await h.core.start()
    try:
        underloaded = KpiSpec("VM_UNDERLOADED", "20", "LE", "FLOAT", "CPU", 0, 1, "seconds")
        g = group("g", 1, 2).with_changes(kpis=(PING, OVERLOADED, underloaded), rules=(RECOVER, SCALE_UP, RuleSpec(
            "VM_UNDERLOADED", ("TRUE servicescaledown.sh",))), bootup_time=30, recovery_wait_time=30)
        dep_id, name = await _deployed(h, g)
        guests[f"vim.sim.guest.{name}.cpu"] = "95"
        await h.wait_for(lambda: h.has_event_type("VM_SCALE_OUT_COMPLETE"), timeout=10)
        await h.idle()
        since = len(h.events)
        h.delay_scale = 0.3  # a delete of about half a second: the restart below lands inside it
        guests.update({"vim.sim.guest.default.cpu": "5", f"vim.sim.guest.{name}.cpu": "50"})
        await h.wait_for(lambda: h.has_event_type("VM_SCALE_IN_INIT", since), timeout=10)
        assert len(await h.servers()) == 2
        await h.restart()
        guests["vim.sim.guest.default.cpu"] = "50"
        await h.idle(20)
        assert _count(h, since, "VM_SCALE_IN_INIT", "VM_SCALE_IN_COMPLETE") == {
            "VM_SCALE_IN_INIT": 1, "VM_SCALE_IN_COMPLETE": 1}
        assert ("VM_SCALE_IN_COMPLETE", OK, 200) in h.kinds(since)
        assert [vm.name for vm in h.core.vms(dep_id)] == [name] and len(await h.servers()) == 1
        assert h.core.find_deployment("t", "dep").state is ServiceState.ACTIVE  # type: ignore[union-attr]
    finally:
        await h.core.stop()
        await h.sim.close()
