"""A data dir written before the ESC opdata change (the server at commit af2dfff) keeps working.

``tests/fixtures/datadir_af2dfff`` was made by that server: tenant ``legacy``, deployment ``olddep`` with one
ALIVE VM, stopped cleanly.  This server migrates it (``0005_esc_opdata``) and shows the deployment in opdata
under ESC's keys, with a ``service_id`` that stays the same across restarts and ``vm_id`` = the VIM server id.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

from esc_netconf.store.database import Database
from esc_netconf.vim.sim import SimCloud, SimSettings
from tests.integration.conftest import FAST_PROPERTIES
from tests.integration.esc_client import NS, EscClient
from tests.integration.server_process import ServerProcess

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "datadir_af2dfff"


def _servers(data_dir: Path) -> dict[str, str]:
    async def listing() -> dict[str, str]:
        cloud = SimCloud(data_dir / "sim", lambda: SimSettings())
        try:
            return {s.name: s.id for s in await cloud.list_servers()}
        finally:
            await cloud.close()

    return asyncio.run(listing())


def _deployment(client: EscClient) -> tuple[str, str, str, dict[str, str]]:
    reply = client.call(
        '<get xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><filter type="xpath" select="esc_datamodel/opdata/'
        "tenants/tenant[name='legacy']/deployments[deployment_name='olddep'][service_name='-']"
        "[service_version='-']\"/></get>")
    dep = reply.find(".//e:deployments", namespaces=NS)
    assert dep is not None, "the old deployment is found under its three ESC keys"
    instances = {i.findtext("e:name", namespaces=NS) or "": i.findtext("e:vm_id", namespaces=NS) or ""
                 for i in dep.findall("e:vm_group/e:vm_instance", namespaces=NS)}
    return (dep.findtext("e:deployment_id", namespaces=NS) or "", dep.findtext("e:service_id", namespaces=NS) or "",
            dep.findtext("e:state_machine/e:state", namespaces=NS) or "", instances)


def _network_ids(client: EscClient) -> list[str]:
    reply = client.call(
        '<get xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><filter type="xpath" select="esc_datamodel/opdata/'
        "tenants/tenant[name='legacy']/deployments/vm_group/vm_instance/interfaces/interface/network\"/></get>")
    return [n for n in reply.xpath(".//e:network/text()", namespaces=NS) if n != "net-mgmt"]


def test_a_data_dir_from_before_the_change_shows_its_deployment_with_esc_keys(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(FIXTURE, data)
    with Database.open(data / "esc.db", upgrade=False) as old:
        assert old.revision() == "0004_callbacks"  # really a pre-change file
    proc = ServerProcess(data, properties=FAST_PROPERTIES).start()
    client = EscClient(proc.netconf_port)
    try:
        dep_id, service_id, state, instances = _deployment(client)
        assert dep_id and state == "SERVICE_ACTIVE_STATE"
        assert len(service_id) == 36  # a UUID given by the migration
        servers = _servers(data)
        assert instances and all(servers[name] == vm_id for name, vm_id in instances.items()), (instances, servers)
        # the monitor's first passes fill in the NIC facts the old record did not have (the network's VIM id)
        deadline = time.monotonic() + 20
        while not _network_ids(client):
            assert time.monotonic() < deadline, "NIC network ids never filled in"
            time.sleep(0.2)
        status = client.call('<get xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><filter type="xpath" '
                             'select="esc_datamodel/opdata/status"/></get>')
        assert status.findtext(".//e:opdata/e:status", namespaces=NS) == "OPER_UP"
    finally:
        client.close()
        proc.stop()
    proc.start()
    client = EscClient(proc.netconf_port)
    try:
        assert _deployment(client)[:2] == (dep_id, service_id)  # migrated once, stable afterwards
        client.edit('<config><esc_datamodel xmlns="http://www.cisco.com/esc/esc"><tenants><tenant><name>legacy</name>'
                    '<deployments><deployment nc:operation="delete" xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0">'
                    '<name>olddep</name></deployment></deployments></tenant></tenants></esc_datamodel></config>')
    finally:
        client.close()
        proc.stop()
