"""Day-0 configuration end to end: a guide-style deployment with ``config_data`` sent with ncclient to a live
server; each simulated server's boot data (read back through the admin REST route) holds its own rendering.

Templates come inline, from an http server on 127.0.0.1 and from a file:// URL.  Pool values are handed
out one per VM, a scale-out takes a new one, a scale-in gives it back, a restart keeps them, and a template
that cannot be fetched fails the deployment with a FAILURE escEvent naming the URL.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ncclient import manager

from esc_netconf.cli.admin_client import AdminClient
from esc_netconf.vim.sim import SimCloud, SimSettings
from tests.integration import samples
from tests.integration.conftest import FAST_PROPERTIES
from tests.integration.esc_client import EscClient, EventWatcher, RpcFailed
from tests.integration.server_process import ServerProcess

NETCONF_CONSOLE = Path(sys.executable).parent / "netconf-console2"
TENANT = "day0"
HOSTNAMES = ("vnf-a", "vnf-b", "vnf-c")
ADDRESSES = ("10.10.5.1", "10.10.5.2", "10.10.5.3")
HTTP_TEMPLATE = "hostname ${HOSTNAME}\ninterface GigabitEthernet1\n ip address ${NICID_0_IP_ADDRESS} ${NICID_0_NETMASK}\n"
FILE_TEMPLATE = "Welcome to $VM_NAME (gateway ${NICID_0_GATEWAY}); $HOME stays as written.\n"


@pytest.fixture
def templates(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(http URL, file URL) of the two file templates; the http server runs on 127.0.0.1 for the test."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "day0.cfg").write_text(HTTP_TEMPLATE)
    motd = tmp_path / "motd.txt"
    motd.write_text(FILE_TEMPLATE)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/day0.cfg", motd.as_uri()
    finally:
        httpd.shutdown()
        httpd.server_close()


def deployment(http_url: str, file_url: str, *, min_active: int, max_active: int = 3) -> str:
    pool = "".join(f"<ip_address>{a}</ip_address>" for a in ADDRESSES)
    names = "".join(f"<val>{n}</val>" for n in HOSTNAMES)
    group = f"""
<vm_group>
  <name>csr</name>
  <image>cirros</image>
  <flavor>m1.tiny</flavor>
  <bootup_time>60</bootup_time>
  <recovery_wait_time>5</recovery_wait_time>
  <interfaces><interface><nicid>0</nicid><network>net-mgmt</network></interface></interfaces>
  <scaling>
    <min_active>{min_active}</min_active><max_active>{max_active}</max_active><elastic>true</elastic>
    <static_ip_address_pool><network>net-mgmt</network><gateway>10.10.0.1</gateway>
      <netmask>255.255.0.0</netmask>{pool}</static_ip_address_pool>
  </scaling>
  <config_data>
    <configuration>
      <dst>--user-data</dst>
      <data>#cloud-config
hostname: ${{HOSTNAME}}
fqdn: $HOSTNAME.${{DOMAIN_NAME}}
</data>
      <variable><name>HOSTNAME</name>{names}</variable>
      <variable><name>DOMAIN_NAME</name><val>cisco.com</val></variable>
    </configuration>
    <configuration>
      <dst>iosxe_config.txt</dst>
      <file>{http_url}</file>
      <variable><name>HOSTNAME</name>{names}</variable>
    </configuration>
    <configuration>
      <dst>/etc/motd</dst>
      <file>{file_url}</file>
    </configuration>
  </config_data>
</vm_group>"""
    return samples.deployment(TENANT, "dep", [group])


def boot_data(proc: ServerProcess) -> dict[str, dict[str, Any]]:
    """Generated VM name -> what its server was booted with, through ``GET .../admin/sim/servers/{id}/boot``."""
    async def servers() -> dict[str, str]:
        cloud = SimCloud(proc.data_dir / "sim", lambda: SimSettings())
        try:
            return {s.name: s.id for s in await cloud.list_servers() if s.name.startswith("dep_csr_")}
        finally:
            await cloud.close()

    admin = AdminClient(proc.rest_url, "admin", "admin")
    return {name: admin.request("GET", f"/ESCManager/admin/sim/servers/{sid}/boot").body
            for name, sid in asyncio.run(servers()).items()}


def hostnames(boots: dict[str, dict[str, Any]]) -> list[str]:
    return sorted(b["user_data"].splitlines()[1].removeprefix("hostname: ") for b in boots.values())


def test_each_vm_boots_with_its_own_rendering_through_scale_and_restart(tmp_path: Path,
                                                                       templates: tuple[str, str]) -> None:
    http_url, file_url = templates
    proc = ServerProcess(tmp_path / "data", properties=FAST_PROPERTIES).start()
    watcher = EventWatcher(proc.netconf_port)
    nc = manager.connect(host="127.0.0.1", port=proc.netconf_port, username="admin", password="admin",
                         hostkey_verify=False, allow_agent=False, look_for_keys=False, timeout=20)
    try:
        nc.edit_config(target="running", config=deployment(http_url, file_url, min_active=2))
        watcher.until("SERVICE_ALIVE")
        boots = boot_data(proc)
        assert len(boots) == 2 and hostnames(boots) == ["vnf-a", "vnf-b"]
        for name, boot in boots.items():
            host = boot["user_data"].splitlines()[1].removeprefix("hostname: ")
            assert boot["config_drive"] is True
            assert boot["user_data"] == f"#cloud-config\nhostname: {host}\nfqdn: {host}.cisco.com\n"
            ip = ADDRESSES[HOSTNAMES.index(host)]
            assert boot["files"] == {
                "iosxe_config.txt": f"hostname {host}\ninterface GigabitEthernet1\n ip address {ip} 255.255.0.0\n",
                "/etc/motd": f"Welcome to {name} (gateway 10.10.0.1); $HOME stays as written.\n",
            }

        nc.edit_config(target="running", config=deployment(http_url, file_url, min_active=3))  # scale out
        watcher.until("SERVICE_UPDATED")
        assert hostnames(boot_data(proc)) == ["vnf-a", "vnf-b", "vnf-c"]

        nc.edit_config(target="running", config=deployment(http_url, file_url, min_active=1, max_active=1))
        events = watcher.until("SERVICE_UPDATED")
        assert [e.status for e in events if e.type == "VM_SCALE_IN_COMPLETE"] == ["SUCCESS", "SUCCESS"]
        assert hostnames(boot_data(proc)) == ["vnf-a"]
    finally:
        nc.close_session()
        watcher.close()

    proc.kill()  # kill -9: the allocations are kept with the VMs, so the restart hands out only what is free
    proc.start()
    watcher = EventWatcher(proc.netconf_port)
    client = EscClient(proc.netconf_port)
    try:
        client.edit(deployment(http_url, file_url, min_active=2))
        events = watcher.until("SERVICE_UPDATED")
        assert events[-1].status == "SUCCESS"
        assert hostnames(boot_data(proc)) == ["vnf-a", "vnf-b"]
    finally:
        client.close()
        watcher.close()
        proc.stop()


def test_an_unreachable_template_fails_the_deployment_naming_the_url(tmp_path: Path,
                                                                     templates: tuple[str, str]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{probe.getsockname()[1]}/gone.cfg"
    _, file_url = templates
    proc = ServerProcess(tmp_path / "data", properties=FAST_PROPERTIES).start()
    watcher, client = EventWatcher(proc.netconf_port), EscClient(proc.netconf_port)
    try:
        with pytest.raises(RpcFailed) as refused:  # a URL no fetch can ever read is refused at commit
            client.edit(deployment("ftp://127.0.0.1/day0.cfg", file_url, min_active=1))
        assert (refused.value.tag, refused.value.error_code) == ("invalid-value", "400")
        assert refused.value.message is not None and "day-0 configuration [iosxe_config.txt]: Day-0 template URL " \
            "[ftp://127.0.0.1/day0.cfg] must be an http, https or file URL." in refused.value.message
        client.edit(deployment(dead_url, file_url, min_active=1))
        events = watcher.until("SERVICE_ALIVE")
        events = [e for e in events if e.type != "CREATE_TENANT"]  # the tenant is made before its deployment
        failed = [(e.type, e.status, e.status_code) for e in events]
        assert failed == [("VM_DEPLOYED", "FAILURE", "500"), ("SERVICE_ALIVE", "FAILURE", "500")]
        assert f"cannot fetch template [{dead_url}]" in events[0].status_message
        assert client.service_state(TENANT, "dep") == "SERVICE_ERROR_STATE"
        assert boot_data(proc) == {}  # no server was requested
    finally:
        client.close()
        watcher.close()
        proc.stop()


def test_guide_style_file_through_netconf_console2(server: ServerProcess, tmp_path: Path,
                                                   templates: tuple[str, str]) -> None:
    """The deployment kept in a file as operators keep it, sent with netconf-console2, read back unchanged."""
    http_url, file_url = templates
    document = tmp_path / "dep.xml"
    document.write_text(samples.without_config_wrapper(deployment(http_url, file_url, min_active=1)))
    watcher = EventWatcher(server.netconf_port)
    try:
        edit = subprocess.run([str(NETCONF_CONSOLE), "--host", "127.0.0.1", "--port", str(server.netconf_port),
                               "-u", "admin", "-p", "admin", "--edit-config", str(document)],
                              capture_output=True, text=True, timeout=60)
        assert edit.returncode == 0, edit.stderr + edit.stdout
        assert watcher.until("SERVICE_ALIVE")[-1].status == "SUCCESS"
    finally:
        watcher.close()
    got = subprocess.run([str(NETCONF_CONSOLE), "--host", "127.0.0.1", "--port", str(server.netconf_port),
                          "-u", "admin", "-p", "admin", "--get-config", "-x",
                          "esc_datamodel/tenants/tenant/deployments/deployment/vm_group/config_data"],
                         capture_output=True, text=True, timeout=60)
    assert got.returncode == 0, got.stderr
    assert "<val>vnf-a</val>\n" in got.stdout and got.stdout.index("vnf-a") < got.stdout.index("vnf-c")
    assert f"<file>{http_url}</file>" in got.stdout and "<dst>--user-data</dst>" in got.stdout
    (boot,) = boot_data(server).values()
    assert boot["user_data"] == "#cloud-config\nhostname: vnf-a\nfqdn: vnf-a.cisco.com\n"
