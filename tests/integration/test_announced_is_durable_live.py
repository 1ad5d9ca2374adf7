"""The core commits its records in batches; whatever a subscriber was told is on disk when the server dies.

A live server deploys twelve VMs at once (their steps share commits); as soon as a few VM_ALIVE events have
arrived over NETCONF the server is killed with SIGKILL, and the records left on disk are read: every VM an
event announced as deployed has its server id and a state past DEPLOYING, every VM announced alive is
ALIVE. A server that announced before committing would fail this whenever the kill lands between the two.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from lxml import etree

from esc_netconf.core.states import VmState
from esc_netconf.store import Database, SqlCoreStore
from tests.integration import samples
from tests.integration.conftest import FAST_PROPERTIES
from tests.integration.esc_client import EscClient, EventWatcher, parse_event, replay_esc_events
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


def test_events_committed_before_a_kill_are_replayed_exactly_once(tmp_path: Path) -> None:
    """A bulk deploy on a VIM with no delays (events come in bursts, many held at once), kill -9 after a
    random number of events; after the restart a replay holds every event once, those seen before the
    kill included, and the journal is empty."""
    seed = random.randrange(1_000_000)
    kill_after = random.Random(seed).randint(3, 90)
    fast = {**FAST_PROPERTIES, "vim.sim.delay.scale": "0"}
    groups = [samples.vm_group(f"g{i}", min_active=8, max_active=8) for i in range(6)]
    proc = ServerProcess(tmp_path / "data", properties=fast).start()
    client, watcher = EscClient(proc.netconf_port), EventWatcher(proc.netconf_port)
    try:
        client.edit(samples.deployment(TENANT, "bulk", groups))
        while len(watcher.events) < kill_after:
            watcher.until(watcher.events[-1].type if watcher.events else "VM_DEPLOYED")
    except TimeoutError:
        pass  # fewer events than kill_after before SERVICE_ALIVE: the kill lands after the last
    finally:
        proc.kill()
        client.close()
    seen = [etree.tostring(p, method="c14n") for p in watcher.payloads]
    watcher.close()
    with Database.open_data_dir(proc.data_dir) as db:
        journaled_at_kill = len(SqlCoreStore(db).pending_events())

    proc.start()
    client = EscClient(proc.netconf_port)
    try:
        deadline = time.monotonic() + 60
        while client.service_state(TENANT, "bulk") != "SERVICE_ACTIVE_STATE":
            assert time.monotonic() < deadline, f"seed {seed}: {client.service_state(TENANT, 'bulk')}"
            time.sleep(0.1)
        events = [(time, etree.tostring(body, method="c14n"))
                  for time, body in replay_esc_events(proc.netconf_port)]
    finally:
        client.close()
        proc.stop()
    note = f"seed {seed}, kill after {kill_after} events, {journaled_at_kill} journaled at the kill"
    assert len(events) == len(set(events)), f"{note}: an event was stored twice"
    bodies = [body for _t, body in events]
    assert all(body in bodies for body in seen), f"{note}: an event a subscriber saw is missing from the replay"
    types = [parse_event(etree.fromstring(body)).type for body in bodies]
    assert types.count("VM_ALIVE") >= 48 and "SERVICE_ALIVE" in types, f"{note}: {types}"
    with Database.open_data_dir(proc.data_dir) as db:
        assert SqlCoreStore(db).pending_events() == [], note
