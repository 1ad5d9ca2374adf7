"""SIGTERM in the middle of a bulk deploy: a quiet, clean exit, then every deployment converges after the
restart and a replay holds every escEvent exactly once.

Why: the stop used to close the database while the event bus still had events to hand to the replay log
(released a slice per loop turn), so a stop mid-burst logged ``StoreClosedError`` tracebacks (the events
stayed journaled and came at the next start, so nothing was lost, but an operator reads a traceback as a
failure).  The stop now drains the core's group commit and the bus before the store closes.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from lxml import etree

from esc_netconf.store import Database, SqlCoreStore
from tests.integration import samples
from tests.integration.conftest import FAST_PROPERTIES
from tests.integration.esc_client import EscClient, EventWatcher, parse_event, replay_esc_events
from tests.integration.server_process import ServerProcess

TENANTS = ("stop-a", "stop-b")
DEPLOYMENTS = 24
VMS = 3


def _bulk_edit() -> str:
    tenants = "".join(
        f"<tenant><name>{tenant}</name><deployments>"
        + "".join(f"<deployment><name>d{i}</name>{samples.vm_group('g', min_active=VMS, max_active=VMS)}</deployment>"
                  for i in range(DEPLOYMENTS) if i % len(TENANTS) == t)
        + "</deployments></tenant>"
        for t, tenant in enumerate(TENANTS))
    return (f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><esc_datamodel xmlns="{samples.ESC_NS}">'
            f"<tenants>{tenants}</tenants></esc_datamodel></config>")


def test_sigterm_mid_bulk_deploy_exits_cleanly_and_loses_or_repeats_no_event(tmp_path: Path) -> None:
    # short VIM delays: 72 VMs come up over seconds, so events are held and being released when the stop lands
    fast = {**FAST_PROPERTIES, "vim.sim.delay.scale": "0.1"}
    proc = ServerProcess(tmp_path / "data", properties=fast).start()
    client, watcher = EscClient(proc.netconf_port), EventWatcher(proc.netconf_port)
    try:
        client.edit(_bulk_edit())
        watcher.until("VM_ALIVE", count=6)
    finally:
        client.close()
        code = proc.stop()
    seen = [etree.tostring(p, method="c14n") for p in watcher.payloads]
    watcher.close()
    log = "".join(proc.output)
    assert code == 0, log
    assert "Traceback" not in log and "StoreClosedError" not in log, log
    assert sum(e.type == "SERVICE_ALIVE" for e in watcher.events) < DEPLOYMENTS, "SIGTERM should come mid-deploy"

    proc.start()
    client = EscClient(proc.netconf_port)
    try:
        deadline = time.monotonic() + 90
        for tenant_index, tenant in enumerate(TENANTS):
            for i in range(tenant_index, DEPLOYMENTS, len(TENANTS)):
                while client.service_state(tenant, f"d{i}") != "SERVICE_ACTIVE_STATE":
                    assert time.monotonic() < deadline, f"{tenant}/d{i}: {client.service_state(tenant, f'd{i}')}"
                    time.sleep(0.1)
        replayed = [etree.tostring(body, method="c14n") for _, body in replay_esc_events(proc.netconf_port)]
    finally:
        client.close()
        assert proc.stop() == 0
    assert "Traceback" not in "".join(proc.output)
    assert len(replayed) == len(set(replayed)), "an event was stored twice"
    assert all(body in replayed for body in seen), "an event a subscriber saw before the stop is missing"
    events = [parse_event(etree.fromstring(body)) for body in replayed]
    per_vm = Counter((e.type, e.vmname) for e in events if e.type in ("VM_DEPLOYED", "VM_ALIVE"))
    assert len(per_vm) == 2 * DEPLOYMENTS * VMS and set(per_vm.values()) == {1}, per_vm
    alive = Counter((e.fields.get("tenant"), e.fields.get("depname")) for e in events if e.type == "SERVICE_ALIVE")
    assert len(alive) == DEPLOYMENTS and set(alive.values()) == {1}, alive
    assert Counter(e.fields.get("tenant") for e in events if e.type == "CREATE_TENANT") == dict.fromkeys(TENANTS, 1)
    with Database.open_data_dir(proc.data_dir) as db:
        assert SqlCoreStore(db).pending_events() == []
