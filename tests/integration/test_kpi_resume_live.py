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
from tests.integration.test_kpi_monitoring_live import PING, RECOVER, TENANT, group, set_guest


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
