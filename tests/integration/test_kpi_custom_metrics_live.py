"""Custom metrics end to end: SNMP from a real agent and an operator's script drive a live server's rules.

One live server (simulated VIM) and one real ``snmpd`` on loopback.  The group's KPIs:
``VM_OVERLOADED`` is an SNMP GET of the agent's object (the agent named as ``metric_collector/proxy``, a
node outside the simulated cloud), ``VM_UNDERLOADED`` a CUSTOM_SCRIPT run from ``<data-dir>/scripts``,
``VM_DEGRADED`` an SNMP text answered by the simulated guest (``vim.sim.guest.default.snmp.<oid>``).
Crossing the thresholds scales the elastic group out and back in (escEvents ``VM_SCALE_*``); the KPI
events themselves are not escEvent types (CONTRACT section 3) and appear in the server's log only.
A definition that cannot be read is refused at commit with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import samples
from tests.integration.cli.cli_helpers import escadm
from tests.integration.conftest import FAST_PROPERTIES
from tests.integration.esc_client import EscClient, EventWatcher, RpcFailed
from tests.integration.server_process import ServerProcess
from tests.integration.snmp_agent import COMMUNITY, SnmpAgent, snmpd_path

TENANT = "custom-metrics"
DEGRADED_OID = "1.3.6.1.4.1.99.7.0"
KPI_EVENTS = {"VM_OVERLOADED", "VM_UNDERLOADED", "VM_DEGRADED"}

pytestmark = pytest.mark.skipif(snmpd_path() is None, reason="snmpd (Debian package snmpd; .ci/run installs it) "
                                                              "is not installed")


def kpi(event: str, collector: str, cond: str, value: str, properties: dict[str, str], *, proxy: str = "",
        metric_type: str = "UINT32") -> str:
    given = "".join(f"<property><name>{k}</name><value>{v}</value></property>" for k, v in properties.items())
    return (
        f"<kpi><event_name>{event}</event_name><metric_value>{value}</metric_value><metric_cond>{cond}</metric_cond>"
        f"<metric_type>{metric_type}</metric_type><metric_occurrences_true>1</metric_occurrences_true>"
        f"<metric_occurrences_false>1</metric_occurrences_false><metric_collector><type>{collector}</type>"
        f"<nicid>0</nicid>{f'<proxy>{proxy}</proxy>' if proxy else ''}<poll_frequency>1</poll_frequency>"
        f"<polling_unit>seconds</polling_unit><continuous_alarm>false</continuous_alarm>"
        f"<properties>{given}</properties></metric_collector></kpi>"
    )


def rule(event: str, *actions: str) -> str:
    return f"<rule><event_name>{event}</event_name>" + "".join(f"<action>{a}</action>" for a in actions) + "</rule>"


def deployment(kpis: list[str]) -> str:
    rules = [rule("VM_OVERLOADED", "ALWAYS log", "TRUE servicescaleup.sh"),
             rule("VM_UNDERLOADED", "ALWAYS log", "TRUE servicescaledown.sh"), rule("VM_DEGRADED", "ALWAYS log")]
    group = samples.vm_group("g", min_active=1, max_active=2).replace(
        "<scaling>", f"<kpi_data>{''.join(kpis)}</kpi_data><rules><admin_rules>{''.join(rules)}</admin_rules></rules>"
                     "<scaling>")
    return samples.deployment(TENANT, "metrics", [group])


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[ServerProcess, EscClient, EventWatcher, SnmpAgent]]:
    agent = SnmpAgent(tmp_path / "snmpd").start()
    proc = ServerProcess(tmp_path / "data", properties=FAST_PROPERTIES, extra_args=["--log-level", "INFO"]).start()
    client, watcher = EscClient(proc.netconf_port), EventWatcher(proc.netconf_port)
    yield proc, client, watcher, agent
    client.close()
    watcher.close()
    if proc.running():
        proc.stop()
    agent.stop()


def logged(server: ServerProcess, text: str, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(text in line for line in list(server.output)):
            return True
        time.sleep(0.1)
    return False


def test_snmp_and_script_kpis_scale_the_group_out_and_in(
        live: tuple[ServerProcess, EscClient, EventWatcher, SnmpAgent]) -> None:
    server, client, watcher, agent = live
    scripts = server.data_dir / "scripts"
    scripts.mkdir()
    load = server.data_dir.parent / "load"  # what the script reports, written by the test
    load.write_text("50\n")
    (scripts / "load.sh").write_text('#!/bin/sh\n# $1: the VM address, $2: its generated name, $3: the file\nhead -n 1 "$3"\n')
    (scripts / "load.sh").chmod(0o755)
    agent.set(1, "50")
    snmp = {"oid": agent.oid(1), "community": COMMUNITY, "port": str(agent.port)}
    kpis = [kpi("VM_OVERLOADED", "SNMP", "GE", "80", snmp, proxy="127.0.0.1"),
            kpi("VM_UNDERLOADED", "CUSTOM_SCRIPT", "LE", "20", {"script_filename": "load.sh", "args": str(load),
                                                                "timeout": "5"}),
            kpi("VM_DEGRADED", "SNMP", "EQ", "DEGRADED", {"oid": DEGRADED_OID}, metric_type="STRING")]

    with pytest.raises(RpcFailed) as refused:  # a definition that cannot be read: refused, nothing deployed
        client.edit(deployment([kpi("VM_OVERLOADED", "SNMP", "GE", "80", {**snmp, "port": "0"})]))
    assert refused.value.error_code == "400" and "kpi [VM_OVERLOADED]: property 'port'" in (refused.value.message or "")

    client.edit(deployment(kpis))
    watcher.until("SERVICE_ALIVE")
    time.sleep(1.5)  # a poll at 50: neither threshold is crossed
    assert len(client.vm_states(TENANT, "metrics")) == 1

    agent.set(1, "95")  # the real agent reports load: out to max_active (the new VM reads 95 too: no further)
    watcher.until("VM_SCALE_OUT_COMPLETE", timeout=20)
    assert logged(server, "KPI event VM_OVERLOADED TRUE")
    assert len(client.vm_states(TENANT, "metrics")) == 2

    agent.set(1, "50")
    load.write_text("5\n")  # the script reports low load: back in to min_active
    watcher.until("VM_SCALE_IN_COMPLETE", timeout=20)
    assert logged(server, "KPI event VM_UNDERLOADED TRUE")
    deadline = time.monotonic() + 10
    while len(client.vm_states(TENANT, "metrics")) != 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(client.vm_states(TENANT, "metrics")) == 1

    result = escadm(server.rest_url, "vimmanager", "set", "--config", f"vim.sim.guest.default.snmp.{DEGRADED_OID}=DEGRADED")
    assert result.returncode == 0, result.stderr
    assert logged(server, "KPI event VM_DEGRADED TRUE")  # the simulated guest's SNMP answer; its rule logs

    seen = {e.type for e in watcher.events}
    assert {"VM_SCALE_OUT_INIT", "VM_SCALE_OUT_COMPLETE", "VM_SCALE_IN_INIT", "VM_SCALE_IN_COMPLETE"} <= seen
    assert not seen & KPI_EVENTS  # KPI events are not escEvent types
