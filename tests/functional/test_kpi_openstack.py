"""ESC's monitoring engine against a real Nova: what the fake compute driver of the tier can show.

* CPU and Memory KPIs read Nova's server diagnostics (the fake driver reports a fixed 15 % on its one vCPU
  and 0 MiB used of its memory): the CPU rule and the Memory rule each scale their elastic group out once,
  to ``max_active``, with real servers.
* An ``ICMPPing`` VM_ALIVE KPI pings the address Neutron gave the server: on a network whose subnet is in
  127.0.0.0/8 (Neutron allows a loopback subnet without DHCP) the echo is answered by this machine, so the
  VM becomes alive through a real echo; on an IPv6-only network the collector sends nothing (it speaks IPv4)
  and the VM never answers: it is recovered after ``bootup_time`` (reboot, then redeploy, in Nova) and the
  events say so.  No packet leaves loopback: the tier's usual networks (10.x) route off this machine, so the
  KPI tests never ping them.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator

import pytest
from tests.functional.conftest import configured_cloud, record_scenario
from tests.functional.test_lifecycle_openstack import (  # noqa: F401  (fixtures)
    STEP_TIMEOUT,
    esc,
    servers_of,
    tenant,
    types,
    vim,
)
from tests.integration import samples
from tests.integration.esc_client import EscClient, Event, EventWatcher
from tests.integration.server_process import ServerProcess
from tests.integration.test_kpi_monitoring_live import PING, RECOVER, group, kpi, rule

from esc_netconf.collectors import DiagnosticsCollector
from esc_netconf.core.collectors import Metric, Probe
from esc_netconf.vim.base import ServerStatus, VimDriver

pytestmark = pytest.mark.timeout(600)

LOOPBACK_CIDR = "127.77.0.0/24"
IPV6_CIDR = "fd00:e5c:77::/64"
#: bootup_time also bounds the wait for Nova's ACTIVE (1.5-4 s on the tier), so it leaves room for that.
BOOTUP = 10


def kinds(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.type, e.status) for e in events]


@pytest.fixture
def kpi_networks() -> Iterator[dict[str, str]]:
    """Two shared networks of this test's own: ``loopback`` (127.77.0.0/24, no DHCP) and ``ipv6`` (IPv6 only).

    Requested before ``esc``/``vim`` so that it is torn down after the servers are gone (their ports with them).
    """
    import openstack

    conn = openstack.connect(cloud=configured_cloud())
    suffix = uuid.uuid4().hex[:8]
    made: dict[str, str] = {}
    ids: list[str] = []
    try:
        for kind, version, cidr in (("loopback", 4, LOOPBACK_CIDR), ("ipv6", 6, IPV6_CIDR)):
            network = conn.network.create_network(name=f"kpi-{kind}-{suffix}", is_shared=True)
            ids.append(network.id)
            conn.network.create_subnet(network_id=network.id, name=f"kpi-{kind}-{suffix}-subnet", ip_version=version,
                                       cidr=cidr, is_dhcp_enabled=False, gateway_ip=None)
            made[kind] = network.name
        yield made
    finally:
        deadline = time.monotonic() + 60
        for network_id in ids:
            while True:
                for port in conn.network.ports(network_id=network_id):
                    with contextlib.suppress(Exception):  # Nova may be deleting it too
                        conn.network.delete_port(port.id)
                try:
                    conn.network.delete_network(network_id, ignore_missing=True)
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(1)
        conn.close()


async def test_cpu_and_memory_from_nova_diagnostics_scale_their_groups_out(
    esc: tuple[ServerProcess, EscClient, EventWatcher], vim: VimDriver, tenant: str  # noqa: F811
) -> None:
    _, client, watcher = esc
    loaded = [kpi("VM_OVERLOADED", "CPU", "GE", "10", metric_type="FLOAT", poll=2)]  # the fake driver says 15 %
    idle = [kpi("VM_MEMORY_IDLE", "Memory", "LE", "1", metric_type="FLOAT", poll=2)]  # and 0 MiB used
    started = time.monotonic()
    client.edit(samples.deployment(tenant, "kpi-load", [
        group("cpu", loaded, [rule("VM_OVERLOADED", "ALWAYS log", "TRUE servicescaleup.sh")], min_active=1,
              max_active=2),
        group("mem", idle, [rule("VM_MEMORY_IDLE", "TRUE servicescaleup.sh")], min_active=1, max_active=2),
    ]))
    events = watcher.until("SERVICE_ALIVE", timeout=STEP_TIMEOUT)
    assert types(events).count("VM_ALIVE") == 2
    events = watcher.until("VM_SCALE_OUT_COMPLETE", count=2, timeout=STEP_TIMEOUT)
    record_scenario("KPI: CPU and Memory from Nova diagnostics -> both groups scaled out", time.monotonic() - started)
    outs = [e for e in watcher.events if e.type == "VM_SCALE_OUT_COMPLETE"]
    assert sorted(e.fields["vm_group"] for e in outs) == ["cpu", "mem"] and {e.status for e in outs} == {"SUCCESS"}
    states = client.vm_states(tenant, "kpi-load")
    assert len(states) == 4 and set(states.values()) == {"VM_ALIVE_STATE"}
    cloud = await servers_of(vim, tenant)
    assert set(cloud) == set(states) and {s.status for s in cloud.values()} == {ServerStatus.ACTIVE}
    # what the rules read, through the collector the server uses: one Nova request per VM for both metrics
    collector = DiagnosticsCollector(vim)
    probes = [Probe(name, server.id, None) for name, server in cloud.items()]
    began = time.monotonic()
    assert await collector.collect(Metric.CPU, probes) == [15.0] * 4
    record_scenario("KPI: CPU of 4 VMs through Nova diagnostics (one batch)", time.monotonic() - began)
    assert await collector.collect(Metric.MEMORY, probes) == [0.0] * 4
    time.sleep(5)  # both groups are at max_active: the rules keep raising, nothing more is built
    assert len([e for e in watcher.events if e.type == "VM_SCALE_OUT_INIT"]) == 2
    assert len(await servers_of(vim, tenant)) == 4


async def test_icmp_alive_through_a_real_echo_and_recovery_of_a_vm_that_never_answers(
    kpi_networks: dict[str, str], esc: tuple[ServerProcess, EscClient, EventWatcher],  # noqa: F811
    vim: VimDriver, tenant: str,  # noqa: F811
) -> None:
    _, client, watcher = esc
    started = time.monotonic()
    client.edit(samples.deployment(tenant, "kpi-echo", [
        group("g", [PING], [RECOVER], network=kpi_networks["loopback"], bootup_time=30, min_active=1, max_active=1)]))
    events = watcher.until("SERVICE_ALIVE", timeout=STEP_TIMEOUT)
    record_scenario("KPI: ICMPPing VM_ALIVE answered on a loopback Neutron address", time.monotonic() - started)
    assert kinds(events)[-3:] == [("VM_DEPLOYED", "SUCCESS"), ("VM_ALIVE", "SUCCESS"), ("SERVICE_ALIVE", "SUCCESS")]
    (answering,) = (await servers_of(vim, tenant)).values()
    assert answering.addresses[0].fixed_ip.startswith("127.77.0.")

    started = time.monotonic()
    client.edit(samples.deployment(tenant, "kpi-silent", [
        group("g", [PING], [RECOVER], network=kpi_networks["ipv6"], bootup_time=BOOTUP, recovery_wait_time=1,
              min_active=1, max_active=1)]))
    events = watcher.until("SERVICE_ALIVE", timeout=STEP_TIMEOUT)
    elapsed = time.monotonic() - started
    record_scenario("KPI: ICMPPing never answered -> recovered, then failed", elapsed)
    seen = kinds(events)
    said = [(e.type, e.status, e.fields.get("status_message")) for e in events]  # why, when it goes otherwise
    assert ("VM_RECOVERY_INIT", "SUCCESS") in seen, said
    init = seen.index(("VM_RECOVERY_INIT", "SUCCESS"))
    assert ("VM_ALIVE", "SUCCESS") not in seen and ("VM_DEPLOYED", "SUCCESS") in seen[:init], said
    assert seen[init:] == [("VM_RECOVERY_INIT", "SUCCESS"), ("VM_RECOVERY_REBOOT", "FAILURE"),
                           ("VM_RECOVERY_UNDEPLOYED", "SUCCESS"), ("VM_RECOVERY_DEPLOYED", "SUCCESS"),
                           ("VM_RECOVERY_COMPLETE", "FAILURE"), ("SERVICE_ALIVE", "FAILURE")], said
    assert elapsed >= 2 * BOOTUP  # the first VM's bootup_time, then the redeployed VM's
    assert client.service_state(tenant, "kpi-silent") == "SERVICE_ERROR_STATE"
    silent = [s for s in (await servers_of(vim, tenant)).values() if ":" in s.addresses[0].fixed_ip]
    assert len(silent) == 1 and silent[0].status is ServerStatus.ACTIVE  # the redeployed server, in Nova
    assert client.service_state(tenant, "kpi-echo") == "SERVICE_ACTIVE_STATE"  # the answering VM is unaffected
