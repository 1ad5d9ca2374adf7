"""kill -9 in the middle of work: after a restart the server converges, with no duplicate VMs in the VIM."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from lxml import etree

from esc_netconf.vim.sim import SimCloud, SimSettings
from tests.integration import samples
from tests.integration.conftest import FAST_PROPERTIES
from tests.integration.esc_client import EscClient, EventWatcher
from tests.integration.server_process import ServerProcess

TENANT = "durable"


def servers_named(data_dir: Path, prefix: str) -> list[str]:
    async def names() -> list[str]:
        cloud = SimCloud(data_dir / "sim", lambda: SimSettings())
        try:
            return [s.name for s in await cloud.list_servers() if s.name.startswith(prefix)]
        finally:
            await cloud.close()

    return asyncio.run(names())


def test_kill_during_deploy_converges_without_duplicates(tmp_path: Path) -> None:
    # slow VIM steps so the kill lands while servers are still building
    slow = {**FAST_PROPERTIES, "vim.sim.delay.scale": "0.5"}
    proc = ServerProcess(tmp_path / "data", properties=slow).start()
    client = EscClient(proc.netconf_port)
    client.edit(samples.deployment(TENANT, "dep", [samples.vm_group("g", min_active=3, max_active=3)]))
    deadline = time.monotonic() + 20
    while not servers_named(proc.data_dir, "dep_g_") and time.monotonic() < deadline:
        time.sleep(0.05)
    client.close()
    proc.kill()
    in_vim_at_kill = servers_named(proc.data_dir, "dep_g_")
    assert in_vim_at_kill, "the kill should land after the first create_server"

    proc.write_properties(FAST_PROPERTIES)
    proc.start()
    client, watcher = EscClient(proc.netconf_port), EventWatcher(proc.netconf_port)
    try:
        deadline = time.monotonic() + 60
        while client.service_state(TENANT, "dep") != "SERVICE_ACTIVE_STATE":
            assert time.monotonic() < deadline, client.service_state(TENANT, "dep")
            time.sleep(0.1)
        vms = client.vm_states(TENANT, "dep")
        assert len(vms) == 3 and set(vms.values()) == {"VM_ALIVE_STATE"}
        names = servers_named(proc.data_dir, "dep_g_")
        assert sorted(names) == sorted(vms), "one server per VM record, none duplicated"
        assert set(in_vim_at_kill) <= set(names), "servers created before the kill were adopted, not recreated"
    finally:
        client.close()
        watcher.close()
        proc.stop()


def test_config_and_state_survive_kill(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path / "data", properties=FAST_PROPERTIES).start()
    client, watcher = EscClient(proc.netconf_port), EventWatcher(proc.netconf_port)
    client.edit(samples.deployment(TENANT, "kept", [samples.vm_group("g")]))
    watcher.until("SERVICE_ALIVE")
    client.service_action("STOP", TENANT, "kept")
    watcher.until("SERVICE_STOPPED")
    client.close()
    watcher.close()
    proc.kill()

    proc.start()
    client = EscClient(proc.netconf_port)
    try:
        config = client.call(
            '<get-config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><source><running/></source></get-config>'
        )
        assert b"<name>kept</name>" in etree.tostring(config)
        assert client.service_state(TENANT, "kept") == "SERVICE_STOPPED_STATE"
        assert set(client.vm_states(TENANT, "kept").values()) == {"VM_SHUTOFF_STATE"}
    finally:
        client.close()
        proc.stop()
