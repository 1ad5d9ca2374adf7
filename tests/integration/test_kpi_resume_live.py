"""kill -9 while a service START waits on the recovery it began because the VM_ALIVE KPI was not met within
bootup_time: the restarted server finishes that recovery (it does not power the VM on again, recover it twice
or call the START done while the VM is still recovering), and every event is in the log once.

The whole event log is read back with ncclient by a ``startTime`` replay subscription, across the kill.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lxml import etree
from ncclient import manager

from tests.integration import samples
from tests.integration.conftest import FAST_PROPERTIES
from tests.integration.esc_client import EscClient, Event, EventWatcher, parse_event
from tests.integration.server_process import ServerProcess
from tests.integration.test_kpi_monitoring_live import PING, RECOVER, TENANT, group, set_guest


def replayed_events(port: int) -> list[Event]:
    """Every escEvent the server's log holds, in order (a replay that ends at ``replayComplete``)."""
    with manager.connect(host="127.0.0.1", port=port, username="admin", password="admin", hostkey_verify=False,
                         allow_agent=False, look_for_keys=False, timeout=30) as nc:
        nc.create_subscription(stream_name="escEvent", start_time="2000-01-01T00:00:00Z",
                               stop_time=(datetime.now(UTC) + timedelta(seconds=5)).isoformat())
        events = []
        while True:
            notification = nc.take_notification(block=True, timeout=10)
            assert notification is not None, "no replayComplete"
            payload = etree.fromstring(notification.notification_xml.encode())
            if payload.find(".//{*}replayComplete") is not None:
                return events
            body = payload.find(f"{{{samples.ESC_NS}}}escEvent")
            if body is not None:
                events.append(parse_event(body))


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
        events = replayed_events(proc.netconf_port)
        stopped = max(i for i, e in enumerate(events) if e.type == "SERVICE_STOPPED")
        assert [(e.type, e.status) for e in events[stopped + 1:]] == [
            ("VM_RECOVERY_INIT", "SUCCESS"), ("VM_RECOVERY_REBOOT", "SUCCESS"), ("VM_RECOVERY_COMPLETE", "SUCCESS"),
            ("SERVICE_ALIVE", "SUCCESS")]
    finally:
        client.close()
        proc.stop()
