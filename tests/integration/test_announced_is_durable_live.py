"""The core commits its records in batches; whatever a subscriber was told is on disk when the server dies.

A live server deploys twelve VMs at once (their steps share commits); as soon as a few VM_ALIVE events have
arrived over NETCONF the server is killed with SIGKILL, and the records left on disk are read: every VM an
event announced as deployed has its server id and a state past DEPLOYING, every VM announced alive is
ALIVE. A server that announced before committing would fail this whenever the kill lands between the two.
"""

from __future__ import annotations

from pathlib import Path

from esc_netconf.core.states import VmState
from esc_netconf.store import Database, SqlCoreStore
from tests.integration import samples
from tests.integration.conftest import FAST_PROPERTIES
from tests.integration.esc_client import EscClient, EventWatcher
from tests.integration.server_process import ServerProcess

TENANT = "announced"


def test_every_announced_vm_step_survives_a_kill(tmp_path: Path) -> None:
    # VMs come up over about a second, so the kill lands while others are still being built
    proc = ServerProcess(tmp_path / "data", properties={**FAST_PROPERTIES, "vim.sim.delay.scale": "0.1"}).start()
    client, watcher = EscClient(proc.netconf_port), EventWatcher(proc.netconf_port)
    try:
        client.edit(samples.deployment(TENANT, "dep", [samples.vm_group("g", min_active=12, max_active=12)]))
        events = watcher.until("VM_ALIVE", count=3)
    finally:
        proc.kill()
        client.close()
        watcher.close()
    deployed = {e.vmname: e.fields["vm_source"].get("vmid") for e in events if e.type == "VM_DEPLOYED"}
    alive = {e.vmname for e in events if e.type == "VM_ALIVE"}
    assert len(alive) >= 3 and alive <= set(deployed)

    with Database.open_data_dir(proc.data_dir) as db:
        vms = {vm.name: vm for vm in SqlCoreStore(db).load().vms.values()}
    assert len(vms) == 12, "the intents of all twelve VMs were committed before their servers were requested"
    for name, server_id in deployed.items():
        assert vms[name].server_id == server_id, name
        assert vms[name].state is not VmState.DEPLOYING, name
    for name in alive:
        assert vms[name].state is VmState.ALIVE, name
