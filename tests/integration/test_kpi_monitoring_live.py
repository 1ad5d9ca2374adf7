"""ESC's monitoring engine end to end: KPIs polled from the simulated guests decide alive, recovery and scaling.

A live server on loopback with the simulated VIM; the guests are shaped with ``escadm vimmanager set``
(``vim.sim.guest.<vm>.ping|cpu``, ``default`` for every VM) as an operator would, and every outcome is read
from the escEvent stream and the opdata.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import samples
from tests.integration.cli.cli_helpers import escadm
from tests.integration.conftest import FAST_PROPERTIES
from tests.integration.esc_client import EscClient, Event, EventWatcher
from tests.integration.server_process import ServerProcess

TENANT = "kpi-tenant"


def kpi(event: str, collector: str, cond: str, value: str, *, metric_type: str = "UINT32", true: int = 1,
        false: int = 1, poll: int = 1, continuous: bool = False) -> str:
    return (
        f"<kpi><event_name>{event}</event_name><metric_value>{value}</metric_value><metric_cond>{cond}</metric_cond>"
        f"<metric_type>{metric_type}</metric_type><metric_occurrences_true>{true}</metric_occurrences_true>"
        f"<metric_occurrences_false>{false}</metric_occurrences_false><metric_collector><type>{collector}</type>"
        f"<nicid>0</nicid><poll_frequency>{poll}</poll_frequency><polling_unit>seconds</polling_unit>"
        f"<continuous_alarm>{str(continuous).lower()}</continuous_alarm></metric_collector></kpi>"
    )


def rule(event: str, *actions: str) -> str:
    return f"<rule><event_name>{event}</event_name>" + "".join(f"<action>{a}</action>" for a in actions) + "</rule>"


PING = kpi("VM_ALIVE", "ICMPPing", "GT", "1", false=3)
RECOVER = rule("VM_ALIVE", "ALWAYS log", "FALSE recover autohealing")


def group(name: str, kpis: list[str], rules: list[str], **options: int) -> str:
    xml = samples.vm_group(name, **options)  # type: ignore[arg-type]
    monitoring = f"<kpi_data>{''.join(kpis)}</kpi_data><rules><admin_rules>{''.join(rules)}</admin_rules></rules>"
    return xml.replace("<scaling>", monitoring + "<scaling>")


def set_guest(server: ServerProcess, *settings: str) -> None:
    result = escadm(server.rest_url, "vimmanager", "set", "--config", *settings)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[ServerProcess, EscClient, EventWatcher]]:
    proc = ServerProcess(tmp_path / "data", properties=FAST_PROPERTIES).start()
    client, watcher = EscClient(proc.netconf_port), EventWatcher(proc.netconf_port)
    yield proc, client, watcher
    client.close()
    watcher.close()
    if proc.running():
        proc.stop()


def kinds(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.type, e.status) for e in events]


def test_guest_that_never_answers_is_recovered_after_bootup_time_then_fails(live: tuple[ServerProcess, EscClient, EventWatcher]) -> None:
    server, client, watcher = live
    set_guest(server, "vim.sim.guest.default.ping=down")
    started = time.monotonic()
    client.edit(samples.deployment(TENANT, "silent", [group("g", [PING], [RECOVER], bootup_time=2,
                                                            recovery_wait_time=1, min_active=1, max_active=1)]))
    events = watcher.until("SERVICE_ALIVE", timeout=60)
    seen = kinds(events)
    init = seen.index(("VM_RECOVERY_INIT", "SUCCESS"))
    assert seen[:init] == [("CREATE_TENANT", "SUCCESS"), ("VM_DEPLOYED", "SUCCESS")], seen  # never VM_ALIVE
    assert seen[init:] == [("VM_RECOVERY_INIT", "SUCCESS"), ("VM_RECOVERY_REBOOT", "FAILURE"),
                           ("VM_RECOVERY_UNDEPLOYED", "SUCCESS"), ("VM_RECOVERY_DEPLOYED", "SUCCESS"),
                           ("VM_RECOVERY_COMPLETE", "FAILURE"), ("SERVICE_ALIVE", "FAILURE")], seen
    assert "VM_ALIVE KPI" in (events[-2].fields.get("status_message") or str(events[-2].fields))
    assert time.monotonic() - started >= 2 + 1 + 2  # bootup_time, recovery_wait_time, bootup_time again
    assert client.service_state(TENANT, "silent") == "SERVICE_ERROR_STATE"
    assert set(client.vm_states(TENANT, "silent").values()) == {"VM_ERROR_STATE"}


def test_guest_that_answers_after_the_reboot_is_recovered(live: tuple[ServerProcess, EscClient, EventWatcher]) -> None:
    server, client, watcher = live
    set_guest(server, "vim.sim.guest.default.ping=down")
    client.edit(samples.deployment(TENANT, "late", [group("g", [PING], [RECOVER], bootup_time=2,
                                                          recovery_wait_time=20, min_active=1, max_active=1)]))
    watcher.until("VM_RECOVERY_INIT", timeout=30)
    set_guest(server, "vim.sim.guest.default.ping=up")
    events = watcher.until("SERVICE_ALIVE", timeout=30)
    assert kinds(events) == [("VM_RECOVERY_REBOOT", "SUCCESS"), ("VM_RECOVERY_COMPLETE", "SUCCESS"),
                             ("SERVICE_ALIVE", "SUCCESS")]
    assert set(client.vm_states(TENANT, "late").values()) == {"VM_ALIVE_STATE"}


def test_ping_down_after_alive_recovers_after_occurrences_false_polls(live: tuple[ServerProcess, EscClient, EventWatcher]) -> None:
    server, client, watcher = live
    client.edit(samples.deployment(TENANT, "pinged", [group("g", [PING], [RECOVER], bootup_time=5,
                                                            recovery_wait_time=20, min_active=1, max_active=1)]))
    events = watcher.until("SERVICE_ALIVE")
    assert ("VM_ALIVE", "SUCCESS") in kinds(events)
    vm = next(e.vmname for e in events if e.type == "VM_ALIVE")
    assert vm is not None
    time.sleep(2.5)  # answering polls change nothing
    assert [e for e in watcher.events if e.type == "VM_RECOVERY_INIT"] == []
    set_guest(server, f"vim.sim.guest.{vm}.ping=down")
    down = time.monotonic()
    init = watcher.until("VM_RECOVERY_INIT", timeout=20)[-1]
    assert init.vmname == vm
    assert time.monotonic() - down >= 2.0  # metric_occurrences_false=3 polls, 1 s apart
    set_guest(server, f"vim.sim.guest.{vm}.ping=up")
    events = watcher.until("VM_RECOVERY_COMPLETE", timeout=30)
    assert kinds(events)[-2:] == [("VM_RECOVERY_REBOOT", "SUCCESS"), ("VM_RECOVERY_COMPLETE", "SUCCESS")]
    assert client.vm_states(TENANT, "pinged") == {vm: "VM_ALIVE_STATE"}


def test_disabled_monitor_is_not_polled_and_enable_rearms(live: tuple[ServerProcess, EscClient, EventWatcher]) -> None:
    server, client, watcher = live
    client.edit(samples.deployment(TENANT, "quiet", [group("g", [PING], [RECOVER], bootup_time=5,
                                                           recovery_wait_time=20, min_active=1, max_active=1)]))
    vm = next(e.vmname for e in watcher.until("SERVICE_ALIVE") if e.type == "VM_ALIVE")
    assert vm is not None
    client.vm_action("DISABLE_MONITOR", vm)
    watcher.until("VM_MONITOR_UNSET")
    set_guest(server, f"vim.sim.guest.{vm}.ping=down")
    time.sleep(4.5)  # well over 3 polls
    assert [e for e in watcher.events if e.type == "VM_RECOVERY_INIT"] == []
    client.vm_action("ENABLE_MONITOR", vm)
    init = watcher.until("VM_RECOVERY_INIT", timeout=20)[-1]
    assert init.vmname == vm


@pytest.mark.parametrize("continuous", [False, True])
def test_cpu_rules_scale_the_group_and_continuous_alarm_re_raises(
        live: tuple[ServerProcess, EscClient, EventWatcher], continuous: bool) -> None:
    server, client, watcher = live
    set_guest(server, "vim.sim.guest.default.cpu=50")
    kpis = [kpi("VM_OVERLOADED", "CPU", "GE", "80.5", metric_type="FLOAT", continuous=continuous),
            kpi("VM_UNDERLOADED", "CPU", "LE", "20", metric_type="INT16", true=2, continuous=continuous)]
    rules = [rule("VM_OVERLOADED", "ALWAYS log", "TRUE servicescaleup.sh"),
             rule("VM_UNDERLOADED", "ALWAYS log", "TRUE servicescaledown.sh")]
    client.edit(samples.deployment(TENANT, "elastic", [group("g", kpis, rules, min_active=1, max_active=3)]))
    vm = next(e.vmname for e in watcher.until("SERVICE_ALIVE") if e.type == "VM_ALIVE")
    set_guest(server, f"vim.sim.guest.{vm}.cpu=95")  # only the first VM is loaded
    watcher.until("VM_SCALE_OUT_COMPLETE", timeout=20)
    if continuous:  # the loaded VM raises again on every poll: out to max_active, no further
        watcher.until("VM_SCALE_OUT_COMPLETE", timeout=20)
    time.sleep(3)
    outs = [e for e in watcher.events if e.type == "VM_SCALE_OUT_COMPLETE"]
    assert len(outs) == (2 if continuous else 1) and all(e.status == "SUCCESS" for e in outs)
    assert len(client.vm_states(TENANT, "elastic")) == (3 if continuous else 2)

    set_guest(server, f"vim.sim.guest.{vm}.cpu=5", "vim.sim.guest.default.cpu=5")
    ins = watcher.until("VM_SCALE_IN_COMPLETE", count=2 if continuous else 1, timeout=30)
    assert all(e.status == "SUCCESS" for e in ins if e.type == "VM_SCALE_IN_COMPLETE")
    time.sleep(3)  # never below min_active
    assert list(client.vm_states(TENANT, "elastic")) == [vm]


def test_stopped_service_is_not_polled_and_start_waits_for_the_kpi(live: tuple[ServerProcess, EscClient, EventWatcher]) -> None:
    server, client, watcher = live
    client.edit(samples.deployment(TENANT, "paused", [group("g", [PING], [RECOVER], bootup_time=2,
                                                            recovery_wait_time=20, min_active=1, max_active=1)]))
    vm = next(e.vmname for e in watcher.until("SERVICE_ALIVE") if e.type == "VM_ALIVE")
    client.service_action("STOP", TENANT, "paused")
    watcher.until("SERVICE_STOPPED")
    set_guest(server, f"vim.sim.guest.{vm}.ping=down")
    time.sleep(4.5)  # a stopped VM has no collectors
    assert [e for e in watcher.events if e.type == "VM_RECOVERY_INIT"] == []
    client.service_action("START", TENANT, "paused")
    events = watcher.until("VM_RECOVERY_INIT", timeout=20)  # START re-armed VM_ALIVE: not met within bootup_time
    assert ("VM_ALIVE", "SUCCESS") not in kinds(events[:-1])
    set_guest(server, f"vim.sim.guest.{vm}.ping=up")
    events = watcher.until("SERVICE_ALIVE", timeout=30)
    assert kinds(events) == [("VM_RECOVERY_REBOOT", "SUCCESS"), ("VM_RECOVERY_COMPLETE", "SUCCESS"),
                             ("SERVICE_ALIVE", "SUCCESS")]
    assert client.service_state(TENANT, "paused") == "SERVICE_ACTIVE_STATE"
    assert client.vm_states(TENANT, "paused") == {vm: "VM_ALIVE_STATE"}


def test_kill_during_a_kpi_recovery_converges(tmp_path: Path) -> None:
    """kill -9 while a recovery started by VM_ALIVE FALSE waits for the rebooted guest; the restarted server
    (whose runtime guest settings are gone, so the guest answers again) finishes it and monitors afresh."""
    proc = ServerProcess(tmp_path / "data", properties=FAST_PROPERTIES).start()
    client, watcher = EscClient(proc.netconf_port), EventWatcher(proc.netconf_port)
    try:
        client.edit(samples.deployment(TENANT, "killed", [group("g", [PING], [RECOVER], bootup_time=5,
                                                                recovery_wait_time=30, min_active=1, max_active=1)]))
        vm = next(e.vmname for e in watcher.until("SERVICE_ALIVE") if e.type == "VM_ALIVE")
        set_guest(proc, f"vim.sim.guest.{vm}.ping=down")
        watcher.until("VM_RECOVERY_INIT", timeout=20)
        time.sleep(0.5)  # inside the reboot's wait for the guest
        assert client.vm_states(TENANT, "killed") == {vm: "VM_RECOVERY_REBOOTING_STATE"}
    finally:
        client.close()
        watcher.close()
    proc.kill()
    proc.start()
    client = EscClient(proc.netconf_port)
    try:
        client.wait_vm_states(TENANT, "killed", {vm: "VM_ALIVE_STATE"}, timeout=60)
        assert client.service_state(TENANT, "killed") == "SERVICE_ACTIVE_STATE"
        history = client.opdata(TENANT, "killed").xpath("//*[local-name()='history']//*[local-name()='type']/text()")
        assert any(str(entry).startswith("recovered by reboot") for entry in history), history
    finally:
        client.close()
        proc.stop()


def test_bad_guest_settings_are_refused_naming_the_key(live: tuple[ServerProcess, EscClient, EventWatcher]) -> None:
    server, _, _ = live
    result = escadm(server.rest_url, "vimmanager", "set", "--config", "vim.sim.guest.default.cpu=150")
    assert result.returncode != 0
    assert "vim.sim.guest.default.cpu" in result.stderr and "0 to 100" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    refused = escadm(server.rest_url, "vimmanager", "set", "--config", "vim.sim.guest.vm1.disk=5")
    assert refused.returncode != 0 and "ping|cpu|memory" in refused.stderr
