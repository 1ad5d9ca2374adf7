"""kill -9 while a service START waits on the recovery it began because the VM_ALIVE KPI was not met within
bootup_time: the restarted server finishes that recovery (it does not power the VM on again, recover it twice
or call the START done while the VM is still recovering), and every event is in the log once.

The whole event log is read back with ncclient by a ``startTime`` replay subscription, across the kill.
"""

from __future__ import annotations

import time
from pathlib import Path


from tests.integration import samples
from tests.integration.conftest import FAST_PROPERTIES
from tests.integration.esc_client import EscClient, EventWatcher, replayed_esc_events
from tests.integration.server_process import ServerProcess
from tests.integration.test_kpi_monitoring_live import PING, RECOVER, TENANT, group, kpi, rule, set_guest


def test_kill_during_the_recovery_a_start_began_converges(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path / "data", properties=FAST_PROPERTIES).start()
    client, watcher = EscClient(proc.netconf_port), EventWatcher(proc.netconf_port)
    try:
        client.edit(samples.deployment(TENANT, "restarted", [group("g", [PING], [RECOVER], bootup_time=1,
                                                                   recovery_wait_time=30, min_active=1, max_active=1)]))
        vm = next(e.vmname for e in watcher.until("SERVICE_ALIVE") if e.type == "VM_ALIVE")
        client.service_action("STOP", TENANT, "restarted")
        watcher.until("SERVICE_STOPPED")
        set_guest(proc, f"vim.sim.guest.{vm}.ping=down")
        client.service_action("START", TENANT, "restarted")
        watcher.until("VM_RECOVERY_INIT", timeout=20)  # not alive within bootup_time after the power-on
        time.sleep(0.3)  # inside the recovery's wait for the rebooted guest
        assert client.vm_states(TENANT, "restarted") == {vm: "VM_RECOVERY_REBOOTING_STATE"}
    finally:
        client.close()
        watcher.close()
    proc.kill()
    proc.start()
    set_guest(proc, f"vim.sim.guest.{vm}.ping=up")  # the guest answers now, whatever survived the kill
    client = EscClient(proc.netconf_port)
    try:
        deadline = time.monotonic() + 30
        while client.service_state(TENANT, "restarted") != "SERVICE_ACTIVE_STATE":
            assert time.monotonic() < deadline, (client.service_state(TENANT, "restarted"),
                                                 client.vm_states(TENANT, "restarted"))
            time.sleep(0.2)
        assert client.vm_states(TENANT, "restarted") == {vm: "VM_ALIVE_STATE"}
        events = replayed_esc_events(proc.netconf_port)
        stopped = max(i for i, e in enumerate(events) if e.type == "SERVICE_STOPPED")
        assert [(e.type, e.status) for e in events[stopped + 1:]] == [
            ("VM_RECOVERY_INIT", "SUCCESS"), ("VM_RECOVERY_REBOOT", "SUCCESS"), ("VM_RECOVERY_COMPLETE", "SUCCESS"),
            ("SERVICE_ALIVE", "SUCCESS")]
    finally:
        client.close()
        proc.stop()


def test_kill_while_a_kpi_scale_out_waits_for_the_new_vms_kpi_finishes_it(tmp_path: Path) -> None:
    """kill -9 once a CPU rule's scale-out deployed its new VM and waits for that VM's VM_ALIVE KPI (its
    guest silent): the restarted server (whose runtime guest settings are gone, so the guest answers)
    finishes that scale-out with the same VM, and each of its events is in the replay log once."""
    proc = ServerProcess(tmp_path / "data", properties=FAST_PROPERTIES).start()
    client, watcher = EscClient(proc.netconf_port), EventWatcher(proc.netconf_port)
    try:
        overloaded = kpi("VM_OVERLOADED", "CPU", "GE", "80.5", metric_type="FLOAT")
        client.edit(samples.deployment(TENANT, "scaling", [group(
            "g", [PING, overloaded], [RECOVER, rule("VM_OVERLOADED", "TRUE servicescaleup.sh")], bootup_time=30,
            recovery_wait_time=30, min_active=1, max_active=2)]))
        first = next(e.vmname for e in watcher.until("SERVICE_ALIVE") if e.type == "VM_ALIVE")
        set_guest(proc, "vim.sim.guest.default.ping=down", f"vim.sim.guest.{first}.ping=up",
                  f"vim.sim.guest.{first}.cpu=95")
        new = watcher.until("VM_SCALE_OUT_DEPLOYED", timeout=20)[-1].vmname
        assert new != first and client.vm_states(TENANT, "scaling") == {first: "VM_ALIVE_STATE",
                                                                        new: "VM_INERT_STATE"}
    finally:
        client.close()
        watcher.close()
    proc.kill()
    proc.start()
    client = EscClient(proc.netconf_port)
    try:
        client.wait_vm_states(TENANT, "scaling", {first: "VM_ALIVE_STATE", new: "VM_ALIVE_STATE"})
        assert client.service_state(TENANT, "scaling") == "SERVICE_ACTIVE_STATE"
        events = replayed_esc_events(proc.netconf_port)
        alive = max(i for i, e in enumerate(events) if e.type == "SERVICE_ALIVE")
        assert [(e.type, e.status, e.vmname) for e in events[alive + 1:]] == [
            ("VM_SCALE_OUT_INIT", "SUCCESS", new), ("VM_SCALE_OUT_DEPLOYED", "SUCCESS", new),
            ("VM_SCALE_OUT_COMPLETE", "SUCCESS", new)]
    finally:
        client.close()
        proc.stop()
