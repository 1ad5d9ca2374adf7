"""Day-0 on a real OpenStack: Nova shows each server's config drive and its own rendered user data.

A guide-style group with two ``config_data`` entries is deployed through NETCONF: ``--user-data`` (inline,
with a value pool) becomes Nova's user data, read back with openstacksdk as ``OS-EXT-SRV-ATTR:user_data``;
``day0/iosxe_config.txt`` goes to the config drive as a personality file (compute microversion 2.56), which
Nova accepted if the server went ACTIVE (Nova does not show personality afterwards).  Interface 1 has no
fixed address, yet its address and MAC are in the user data: the port was made in Neutron before the server,
and the undeploy deletes it.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator

import pytest
from tests.functional import test_lifecycle_openstack as lifecycle
from tests.functional.conftest import configured_cloud
from tests.integration import samples
from tests.integration.esc_client import EscClient, EventWatcher
from tests.integration.server_process import ServerProcess

from esc_netconf.vim.base import ServerStatus, VimDriver

pytestmark = pytest.mark.timeout(900)

tenant = lifecycle.tenant
vim = lifecycle.vim
esc = lifecycle.esc


@pytest.fixture
def nova() -> Iterator[object]:
    """An openstacksdk connection to read what Nova keeps about a server (admin: user data is shown)."""
    import openstack

    conn = openstack.connect(cloud=configured_cloud())
    yield conn
    conn.close()


def day0_group(pool: list[str]) -> str:
    addresses = "".join(f"<ip_address>{a}</ip_address>" for a in pool)
    return f"""
<vm_group>
  <name>csr</name><image>cirros</image><flavor>m1.tiny</flavor>
  <bootup_time>240</bootup_time><recovery_wait_time>5</recovery_wait_time>
  <interfaces>
    <interface><nicid>0</nicid><network>net-data</network></interface>
    <interface><nicid>1</nicid><network>net-mgmt</network></interface>
  </interfaces>
  <scaling><min_active>2</min_active><max_active>2</max_active><elastic>true</elastic>
    <static_ip_address_pool><network>net-data</network>{addresses}</static_ip_address_pool></scaling>
  <config_data>
    <configuration><dst>--user-data</dst>
      <data>#cloud-config
hostname: ${{HOSTNAME}}
write_files:
  - path: /etc/esc-ip
    content: "${{NICID_0_IP_ADDRESS}}/${{NICID_0_CIDR_PREFIX}} via ${{NICID_0_GATEWAY}}"
mgmt: ${{NICID_1_IP_ADDRESS}} ${{NICID_1_MAC_ADDRESS}}
</data>
      <variable><name>HOSTNAME</name><val>csr-a</val><val>csr-b</val></variable>
    </configuration>
    <configuration><dst>day0/iosxe_config.txt</dst>
      <data>hostname ${{HOSTNAME}}
ip address ${{NICID_0_IP_ADDRESS}} ${{NICID_0_NETMASK}}
</data>
      <variable><name>HOSTNAME</name><val>csr-a</val><val>csr-b</val></variable>
    </configuration>
  </config_data>
</vm_group>"""


async def test_config_drive_and_user_data_reach_nova(
    esc: tuple[ServerProcess, EscClient, EventWatcher], vim: VimDriver, tenant: str, nova: object
) -> None:
    _, client, watcher = esc
    subnet = f"10.20.{random.randint(1, 254)}"  # static addresses are per network: a random /24 keeps runs apart
    pool = [f"{subnet}.2", f"{subnet}.3"]
    client.edit(samples.deployment(tenant, "day0", [day0_group(pool)]))
    events = watcher.until("SERVICE_ALIVE", timeout=lifecycle.STEP_TIMEOUT)
    lifecycle.assert_success(events)
    cloud = await lifecycle.servers_of(vim, tenant)
    assert len(cloud) == 2 and {s.status for s in cloud.values()} == {ServerStatus.ACTIVE}
    seen = {}
    ports: list[str] = []
    for server in cloud.values():
        shown = nova.compute.get_server(server.id)  # type: ignore[attr-defined]
        assert str(shown.has_config_drive).lower() in ("true", "1"), shown.has_config_drive
        user_data = base64.b64decode(shown.user_data).decode()
        ip, mgmt = server.address(0), server.address(1)
        assert ip is not None and mgmt is not None
        host = user_data.splitlines()[1].removeprefix("hostname: ")
        assert user_data == (f"#cloud-config\nhostname: {host}\nwrite_files:\n  - path: /etc/esc-ip\n"
                             f'    content: "{ip.fixed_ip}/16 via 10.20.0.1"\n'
                             f"mgmt: {mgmt.fixed_ip} {mgmt.mac}\n")
        seen[host] = ip.fixed_ip
        ports.append(mgmt.port_id)
    assert sorted(seen) == ["csr-a", "csr-b"] and sorted(seen.values()) == pool
    made = {p.id: p.name for p in nova.network.ports(device_owner="compute:nova")}  # type: ignore[attr-defined]
    assert all(made[p].startswith("day0_csr_") for p in ports)  # the ports the core made, named after the VM

    client.edit(samples.delete_deployment(tenant, "day0"))
    lifecycle.assert_success(watcher.until("SERVICE_UNDEPLOYED", timeout=lifecycle.STEP_TIMEOUT))
    for port in ports:
        assert nova.network.find_port(port) is None  # type: ignore[attr-defined]
