"""What an NSO-style subscriber reads from escEvent, checked against opdata and the VIM on a live server.

One subscriber session follows a whole life: the tenant created by config (CREATE_TENANT, then in opdata
with its project id), the management IP learned from VM_DEPLOYED's ``vm_source/interfaces``, a reboot
recovery and a redeploy recovery through every step event (``vm_target/vmid`` = the new server's id in the
VIM = opdata's ``vm_id``), a service reboot and an ENABLE_MONITOR ending with SERVICE_ALIVE, a recovery
cancelled by DISABLE_MONITOR, and the tenant deleted (DELETE_TENANT).  Every event captured is one of ESC's
own types.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from lxml import etree

from esc_netconf.vim.base import ServerStatus, Subnet
from esc_netconf.vim.sim import SimCloud, SimSettings
from tests.integration import samples
from tests.integration.cli.cli_helpers import escadm
from tests.integration.esc_client import BASE, NS, EscClient, Event, EventWatcher, RpcFailed
from tests.integration.server_process import ServerProcess

TENANT, DEP = "nso-tenant", "vnf"

ESC_TYPES = set("""CREATE_TENANT DELETE_TENANT VM_DEPLOYED VM_ALIVE SERVICE_ALIVE VM_UNDEPLOYED SERVICE_UNDEPLOYED
    SERVICE_UPDATED VM_UPDATED VM_STOPPED SERVICE_STOPPED VM_STARTED VM_REBOOTED VM_MONITOR_SET VM_MONITOR_UNSET
    SERVICE_MONITOR_UNSET VM_RECOVERY_INIT VM_RECOVERY_REBOOT VM_RECOVERY_UNDEPLOYED VM_RECOVERY_DEPLOYED
    VM_RECOVERY_COMPLETE VM_RECOVERY_CANCELLED VM_SCALE_OUT_INIT VM_SCALE_OUT_DEPLOYED VM_SCALE_OUT_COMPLETE
    VM_SCALE_IN_INIT VM_SCALE_IN_COMPLETE ESC_IN_SERVICE ESC_OUT_OF_SERVICE VM_BACKUP_INIT VM_BACKUP_CREATED
    VM_BACKUP_COMPLETE VM_SNAPSHOT_DELETING VM_SNAPSHOT_DELETED""".split())


def _sim(server: ServerProcess) -> SimCloud:
    return SimCloud(server.data_dir / "sim", lambda: SimSettings(delay_scale=0.02))


def server_id(server: ServerProcess, name: str) -> str:
    async def find() -> str:
        cloud = _sim(server)
        try:
            return next(s.id for s in await cloud.list_servers() if s.name == name)
        finally:
            await cloud.close()

    return asyncio.run(find())


def subnet_of(server: ServerProcess, network_id: str) -> Subnet:
    async def find() -> Subnet:
        cloud = _sim(server)
        try:
            (subnet,) = (await cloud.get_network(network_id)).subnets
            return subnet
        finally:
            await cloud.close()

    return asyncio.run(find())


def kill(server: ServerProcess, name: str, status: ServerStatus) -> None:
    async def force() -> None:
        cloud = _sim(server)
        try:
            victim = next(s for s in await cloud.list_servers() if s.name == name)
            await cloud.force_server_status(victim.id, status)
        finally:
            await cloud.close()

    asyncio.run(force())


def vm_instance(client: EscClient, name: str) -> dict[str, str]:
    """opdata's vm_instance of the VM ``name``: vm_id and NIC 0's leaves."""
    dep = client.opdata(TENANT, DEP)
    (instance,) = dep.xpath(f"e:vm_group/e:vm_instance[e:name='{name}']", namespaces=NS)
    nic = instance.find("e:interfaces/e:interface[e:nicid='0']", namespaces=NS)
    assert nic is not None
    leaves = {el.tag.split("}")[1]: el.text or "" for el in nic}
    return {"vm_id": instance.findtext("e:vm_id", namespaces=NS) or "", **leaves}


def nic0(part: dict[str, object]) -> dict[str, str]:
    interfaces = part["interfaces"]
    assert isinstance(interfaces, dict)
    interface = interfaces["interface"]
    assert isinstance(interface, dict) and interface["nicid"] == "0"
    return interface


YANG_DIR = Path(__file__).resolve().parents[2] / "yang"


def yanglint(kind: str, document: etree._Element, tmp_path: Path) -> None:
    """libyang's yanglint, an independent validator, accepts ``document`` (a notification or get data)."""
    tool = shutil.which("yanglint")
    if tool is None:
        pytest.skip("yanglint (Debian libyang2-tools) is not installed; .ci/run installs it")
    path = tmp_path / f"doc-{uuid.uuid4().hex}.xml"
    path.write_bytes(etree.tostring(document))
    result = subprocess.run([tool, "-t", kind, str(YANG_DIR / "esc.yang"), str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, (result.stdout, result.stderr, etree.tostring(document))


def full_opdata(client: EscClient) -> etree._Element:
    reply = client.call(f'<get xmlns="{BASE}"><filter type="xpath" select="esc_datamodel/opdata"/></get>')
    found = reply.find(".//e:esc_datamodel", namespaces=NS)
    assert found is not None
    return found


def recovery_steps(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.type, e.status) for e in events if e.type.startswith("VM_RECOVERY")]


def test_a_subscriber_follows_a_vnf_through_deploy_recoveries_and_tenant_life(tmp_path: Path) -> None:
    properties = {"vim.sim.delay.scale": "0.02", "vim.monitor.poll.secs": "0.2"}
    server = ServerProcess(tmp_path / "data", properties=properties).start()
    client, watcher = EscClient(server.netconf_port), EventWatcher(server.netconf_port)
    try:
        client.edit(samples.deployment(TENANT, DEP, [samples.vm_group("g", min_active=1, max_active=1,
                                                                      recovery_wait_time=2)]))
        events = watcher.until("SERVICE_ALIVE")
        assert events[0].type == "CREATE_TENANT" and events[0].status == "SUCCESS"
        assert events[0].fields["tenant"] == TENANT and events[0].status_message == "Tenant successfully created"
        tenant_id = client.call(f'<get xmlns="{BASE}"><filter type="xpath" select="esc_datamodel/opdata/tenants/'
                                f"tenant[name='{TENANT}']/tenant_id\"/></get>").findtext(".//e:tenant_id",
                                                                                          namespaces=NS)
        assert tenant_id and events[0].fields["tenant_id"] == tenant_id

        # the management IP and the server id, from VM_DEPLOYED, as NSO reads them
        deployed = next(e for e in events if e.type == "VM_DEPLOYED")
        name = deployed.vmname or ""
        source = deployed.fields["vm_source"]
        assert deployed.status_message == f"OpenStack Driver: VM successfully created, VM Name: [{name}]"
        first_id = server_id(server, name)
        opdata = vm_instance(client, name)
        assert source["vmid"] == first_id == opdata["vm_id"]
        mgmt = nic0(source)
        assert mgmt["ip_address"] and mgmt["ip_address"] == opdata["ip_address"]
        assert mgmt["mac_address"] == opdata["mac_address"] and mgmt["port_id"] == opdata["port_id"]
        assert mgmt["network"] == opdata["network"] and mgmt["subnet"] == opdata["subnet"] and mgmt["subnet"]
        subnet = subnet_of(server, mgmt["network"])
        assert mgmt["subnet"] == subnet.id and mgmt["gateway"] == subnet.gateway_ip and mgmt["type"] == "virtual"
        assert mgmt["netmask"] == str(ipaddress.ip_network(subnet.cidr).netmask) == opdata["netmask"]
        alive = next(e for e in events if e.type == "VM_ALIVE")
        assert alive.status_message == f"VM_Alive event received, VM ID: [{name}]"

        # reboot recovery: the server comes back, same id
        kill(server, name, ServerStatus.SHUTOFF)
        events = watcher.until("VM_RECOVERY_COMPLETE", timeout=60)
        assert recovery_steps(events) == [("VM_RECOVERY_INIT", "SUCCESS"), ("VM_RECOVERY_REBOOT", "SUCCESS"),
                                          ("VM_RECOVERY_COMPLETE", "SUCCESS")]
        complete = events[-1]
        assert complete.status_message == f"Recovery: Successfully recovered VM [{name}]."
        assert complete.fields["vm_source"]["vmid"] == complete.fields["vm_target"]["vmid"] == first_id
        assert vm_instance(client, name)["vm_id"] == first_id

        # redeploy recovery: reboots fail, the VM is rebuilt as a new server with the same name
        assert escadm(server.rest_url, "vimmanager", "set", "--config",
                      "vim.sim.fault.server.reboot=error").returncode == 0
        kill(server, name, ServerStatus.ERROR)
        events = watcher.until("VM_RECOVERY_COMPLETE", timeout=60)
        assert recovery_steps(events) == [("VM_RECOVERY_INIT", "SUCCESS"), ("VM_RECOVERY_REBOOT", "FAILURE"),
                                          ("VM_RECOVERY_UNDEPLOYED", "SUCCESS"), ("VM_RECOVERY_DEPLOYED", "SUCCESS"),
                                          ("VM_RECOVERY_COMPLETE", "SUCCESS")]
        second_id = server_id(server, name)
        assert second_id != first_id
        for event in events:
            if event.type in ("VM_RECOVERY_DEPLOYED", "VM_RECOVERY_COMPLETE"):
                assert event.fields["vm_source"]["vmid"] == first_id, event
                assert event.fields["vm_target"]["vmid"] == second_id, event
                assert event.vmname == name
        opdata = vm_instance(client, name)
        assert opdata["vm_id"] == second_id
        yanglint("get", full_opdata(client), tmp_path)
        assert nic0(events[-1].fields["vm_target"])["ip_address"] == opdata["ip_address"]
        assert escadm(server.rest_url, "vimmanager", "set", "--config",
                      "vim.sim.fault.server.reboot=none").returncode == 0

        # a service reboot and an ENABLE_MONITOR end with SERVICE_ALIVE
        client.service_action("REBOOT", TENANT, DEP)
        events = watcher.until("SERVICE_ALIVE")
        assert [e.type for e in events] == ["VM_REBOOTED", "VM_ALIVE", "SERVICE_ALIVE"]
        client.service_action("DISABLE_MONITOR", TENANT, DEP)
        watcher.until("SERVICE_MONITOR_UNSET")
        client.service_action("ENABLE_MONITOR", TENANT, DEP)
        events = watcher.until("SERVICE_ALIVE")
        assert [e.type for e in events] == ["VM_MONITOR_SET", "SERVICE_ALIVE"]
        assert events[-1].status_message == "Service group set monitor successfully"

        # a recovery interrupted by DISABLE_MONITOR is cancelled (the reboot hangs meanwhile)
        assert escadm(server.rest_url, "vimmanager", "set", "--config",
                      "vim.sim.fault.server.reboot=timeout").returncode == 0
        kill(server, name, ServerStatus.SHUTOFF)
        watcher.until("VM_RECOVERY_INIT", timeout=60)
        client.service_action("DISABLE_MONITOR", TENANT, DEP)
        events = watcher.until("SERVICE_MONITOR_UNSET")
        assert [e.type for e in events] == ["VM_RECOVERY_CANCELLED", "SERVICE_MONITOR_UNSET"]
        assert client.vm_states(TENANT, DEP)[name] == "VM_ERROR_STATE"
        assert escadm(server.rest_url, "vimmanager", "set", "--config",
                      "vim.sim.fault.server.reboot=none").returncode == 0

        # names whose generated VM names would exceed the 255 characters of vmName are refused, never cut
        with pytest.raises(RpcFailed) as refused:
            client.edit(samples.deployment(TENANT, "d" * 150, [samples.vm_group("g" * 57)]))
        assert refused.value.tag == "invalid-value" and refused.value.error_code == "400"
        assert "at most 206 characters together (they have 207)" in (refused.value.message or "")
        assert client.vm_states(TENANT, DEP) == {name: "VM_ERROR_STATE"}  # nothing else changed

        # deleting the tenant undeploys its deployment, then deletes the tenant
        client.edit(f'<config xmlns="{BASE}"><esc_datamodel xmlns="{samples.ESC_NS}"><tenants>'
                    f'<tenant xmlns:nc="{BASE}" nc:operation="delete"><name>{TENANT}</name></tenant>'
                    "</tenants></esc_datamodel></config>")
        events = watcher.until("DELETE_TENANT", timeout=60)
        assert [e.type for e in events][-2:] == ["SERVICE_UNDEPLOYED", "DELETE_TENANT"]
        assert events[-1].status == "SUCCESS" and events[-1].fields["tenant_id"] == tenant_id
        remaining = client.call(f'<get xmlns="{BASE}"><filter type="xpath" '
                                'select="esc_datamodel/opdata/tenants"/></get>')
        assert remaining.find(".//e:tenant", namespaces=NS) is None
        assert {e.type for e in watcher.events} <= ESC_TYPES, "only ESC's event types are ever sent"
        for payload in watcher.payloads:
            yanglint("notif", payload, tmp_path)
    finally:
        client.close()
        watcher.close()
        server.stop()
