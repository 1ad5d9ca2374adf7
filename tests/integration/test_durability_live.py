"""kill -9 in the middle of work: after a restart the server converges, with no duplicate VMs in the VIM."""

from __future__ import annotations

import asyncio
import threading
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


def _round_edit(round_: int, tenants: int) -> str:
    """Round ``round_``: every tenant's description says the round, and tenant ``extra-<round>`` is new:
    one edit-config that writes ``tenants + 1`` parts of the stored configuration."""
    body = "".join(f"<tenant><name>t{i}</name><description>round-{round_}</description></tenant>"
                   for i in range(tenants))
    return (f'<config><esc_datamodel xmlns="{samples.ESC_NS}"><tenants>{body}<tenant><name>extra-{round_}</name>'
            "<managed_resource>false</managed_resource></tenant></tenants></esc_datamodel></config>")


def test_kill_during_edits_loses_no_acknowledged_edit_and_never_keeps_half_of_one(tmp_path: Path) -> None:
    tenants = 6
    proc = ServerProcess(tmp_path / "data", properties=FAST_PROPERTIES).start()
    acknowledged: list[int] = []
    stop = threading.Event()

    def edit_forever() -> None:
        client = EscClient(proc.netconf_port)
        round_ = 0
        try:
            while not stop.is_set():
                client.edit(_round_edit(round_, tenants))
                acknowledged.append(round_)
                round_ += 1
        except Exception:  # the kill cuts the session mid-RPC: the edits acknowledged so far are what counts
            return

    writer = threading.Thread(target=edit_forever, daemon=True)
    writer.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.kill()  # edits keep coming: the kill lands in or between commits
    stop.set()
    writer.join(timeout=10)
    assert len(acknowledged) >= 5, "the server should have acknowledged a few edits before the kill"

    proc.start()
    client = EscClient(proc.netconf_port)
    try:
        config = client.call('<get-config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><source><running/>'
                             "</source></get-config>")
    finally:
        client.close()
        proc.stop()
    ns = {"e": samples.ESC_NS}
    rounds = {t.findtext("e:description", namespaces=ns) for t in config.iterfind(".//e:tenant", ns)
              if (t.findtext("e:name", namespaces=ns) or "").startswith("t")}
    assert len(rounds) == 1, f"half an edit survived: {rounds}"
    last = int(next(iter(rounds)).removeprefix("round-"))
    assert last >= acknowledged[-1], "an acknowledged edit was lost"
    assert last <= acknowledged[-1] + 1  # at most the edit in flight, committed before its reply went out
    extras = sorted(int(n.removeprefix("extra-")) for n in config.xpath(".//e:tenant/e:name/text()", namespaces=ns)
                    if n.startswith("extra-"))
    assert extras == list(range(last + 1)), "the new tenant of each edit kept, exactly up to the last round"
