"""VM snapshots through NETCONF on a live server: vmBackupAction, snapshotAction, opdata, failures, restart."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from esc_netconf.vim.sim import SimCloud, SimSettings
from tests.integration import samples
from tests.integration.conftest import FAST_PROPERTIES
from tests.integration.esc_client import BASE, ESC, NS, EscClient, Event, EventWatcher, RpcFailed
from tests.integration.server_process import ServerProcess

TENANT = "snapshot-tenant"


def backup(client: EscClient, vm: str, name: str, action: str = "SNAPSHOT", destination: str | None = None) -> None:
    dest = f"<destination>{destination}</destination>" if destination else ""
    client.call(
        f'<vmBackupAction xmlns="{ESC}"><vmName>{vm}</vmName><backupName>{name}</backupName>'
        f"<actionType>{action}</actionType>{dest}</vmBackupAction>"
    )


def delete(client: EscClient, ref: str) -> None:
    client.call(f'<snapshotAction xmlns="{ESC}"><actionType>DELETE</actionType><snapshot>{ref}</snapshot></snapshotAction>')


def snapshots(client: EscClient) -> list[dict[str, str]]:
    reply = client.call(
        f'<get xmlns="{BASE}"><filter type="xpath" select="esc_datamodel/opdata/snapshots"/></get>'
    )
    return [
        {etree.QName(leaf).localname: leaf.text or "" for leaf in entry}
        for entry in reply.findall(".//e:snapshots/e:snapshot", namespaces=NS)
    ]


def deploy(client: EscClient, watcher: EventWatcher, name: str, *, boot_volume: bool = False) -> str:
    client.edit(samples.deployment(TENANT, name, [samples.vm_group("g", boot_volume=boot_volume)]))
    events = watcher.until("SERVICE_ALIVE")
    assert events[-1].status == "SUCCESS", events[-1]
    return next(e.vmname for e in events if e.type == "VM_ALIVE")  # type: ignore[return-value]


@pytest.fixture
def live(server: ServerProcess) -> Iterator[tuple[ServerProcess, EscClient, EventWatcher]]:
    client, watcher = EscClient(server.netconf_port), EventWatcher(server.netconf_port)
    yield server, client, watcher
    client.close()
    watcher.close()


def images_named(server: ServerProcess, name: str) -> list[tuple[str, str | None]]:
    """(status, checksum) of the VIM's images with that name, as ``openstack image list`` shows them."""
    async def run() -> list[tuple[str, str | None]]:
        cloud = SimCloud(server.data_dir / "vim-sim", lambda: SimSettings())
        try:
            return [(i.status.value, i.checksum) for i in await cloud.list_images(name=name)]
        finally:
            await cloud.close()

    return asyncio.run(run())


def backup_events(events: list[Event]) -> list[tuple[str, str, str]]:
    return [(e.type, e.status, e.status_code) for e in events if e.type.startswith(("VM_BACKUP", "VM_SNAPSHOT"))]


def test_snapshot_list_and_delete(live: tuple[ServerProcess, EscClient, EventWatcher]) -> None:
    server, client, watcher = live
    vm = deploy(client, watcher, "plain")
    backup(client, vm, "my-snapshot-name")
    events = watcher.until("VM_BACKUP_COMPLETE")
    assert backup_events(events) == [
        ("VM_BACKUP_INIT", "SUCCESS", "200"),
        ("VM_BACKUP_CREATED", "SUCCESS", "202"),
        ("VM_BACKUP_COMPLETE", "SUCCESS", "200"),
    ]
    complete = events[-1]
    assert complete.fields["depname"] == "plain" and complete.fields["tenant"] == TENANT
    assert complete.fields["vm_source"]["generated_vmname"] == vm
    assert f"[{vm}] is active" in complete.status_message

    (entry,) = snapshots(client)
    assert entry["name"] == "my-snapshot-name" and entry["status"] == "active"
    assert entry["created_from_generated_vm_name"] == vm and entry["tenant"] == TENANT
    assert entry["creation_start_date"] <= entry["creation_end_date"]
    assert "volume_snapshot_id" not in entry  # not booted from a volume

    delete(client, "my-snapshot-name")
    events = watcher.until("VM_SNAPSHOT_DELETED")
    assert backup_events(events) == [("VM_SNAPSHOT_DELETING", "SUCCESS", "202"), ("VM_SNAPSHOT_DELETED", "SUCCESS", "200")]
    assert f"Snapshot image [{entry['id']}] has been deleted." == events[-1].status_message
    assert snapshots(client) == []
    with pytest.raises(RpcFailed) as missing:
        delete(client, "my-snapshot-name")
    assert missing.value.error_code == "404"
    assert missing.value.message == "Snapshot image [my-snapshot-name] not found."


def test_boot_from_volume_vm_gets_a_volume_snapshot_too(live: tuple[ServerProcess, EscClient, EventWatcher]) -> None:
    server, client, watcher = live
    vm = deploy(client, watcher, "bfv", boot_volume=True)
    backup(client, vm, "bfv-snap")
    assert watcher.until("VM_BACKUP_COMPLETE")[-1].status == "SUCCESS"
    (entry,) = snapshots(client)
    assert entry["volume_snapshot_id"]


def test_names_ambiguity_lengths_and_states(live: tuple[ServerProcess, EscClient, EventWatcher]) -> None:
    server, client, watcher = live
    vm = deploy(client, watcher, "rules")
    backup(client, vm, "x" * 255)
    watcher.until("VM_BACKUP_COMPLETE")
    with pytest.raises(RpcFailed) as too_long:
        backup(client, vm, "x" * 256)
    assert too_long.value.tag == "invalid-value"  # refused by the YANG length before the core sees it
    for _ in range(2):  # names need not be unique...
        backup(client, vm, "twin")
        watcher.until("VM_BACKUP_COMPLETE")
    with pytest.raises(RpcFailed) as ambiguous:  # ...but then deleting by name is refused
        delete(client, "twin")
    assert ambiguous.value.error_code == "400" and "twin" in (ambiguous.value.message or "")
    twins = [s["id"] for s in snapshots(client) if s["name"] == "twin"]
    delete(client, twins[0])  # by id it works
    watcher.until("VM_SNAPSHOT_DELETED")

    with pytest.raises(RpcFailed) as unknown_vm:
        backup(client, "no-such-vm", "s")
    assert unknown_vm.value.error_code == "404"

    client.service_action("STOP", TENANT, "rules")
    watcher.until("SERVICE_STOPPED")
    backup(client, vm, "stopped-is-fine")  # VM_SHUTOFF_STATE allows snapshots
    assert watcher.until("VM_BACKUP_COMPLETE")[-1].status == "SUCCESS"
    client.edit(samples.delete_deployment(TENANT, "rules"))
    watcher.until("SERVICE_UNDEPLOYED")
    with pytest.raises(RpcFailed) as gone:
        backup(client, vm, "after-undeploy")
    assert gone.value.error_code == "404"


def test_vim_failure_and_timeout(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path / "data", properties={
        **FAST_PROPERTIES, "vim.sim.fault.image.create": "error",
        "vim.asyncpoller.snapshot.create.timeout.mins": "0.02",
    }).start()
    client, watcher = EscClient(proc.netconf_port), EventWatcher(proc.netconf_port)
    try:
        vm = deploy(client, watcher, "faulty")
        backup(client, vm, "doomed")
        complete = watcher.until("VM_BACKUP_COMPLETE")[-1]
        assert (complete.status, complete.status_code) == ("FAILURE", "500")
        assert complete.status_message
        proc.write_properties({**FAST_PROPERTIES, "vim.sim.fault.image.create": "timeout",
                               "vim.asyncpoller.snapshot.create.timeout.mins": "0.02"})
        reload = subprocess.run(
            [str(Path(sys.executable).parent / "escadm"), "--url", proc.rest_url, "vimmanager", "restart"],
            capture_output=True, text=True, timeout=60)
        assert reload.returncode == 0, reload.stderr
        backup(client, vm, "slow")
        complete = watcher.until("VM_BACKUP_COMPLETE", timeout=60)[-1]
        assert (complete.status, complete.status_code) == ("FAILURE", "500")
        assert "did not complete within 0.02 minute(s)" in complete.status_message
    finally:
        client.close()
        watcher.close()
        proc.stop()


def test_export_writes_the_image_with_its_checksum(live: tuple[ServerProcess, EscClient, EventWatcher],
                                                   tmp_path: Path) -> None:
    server, client, watcher = live
    vm = deploy(client, watcher, "exported")
    target = tmp_path / "exported.qcow2"
    backup(client, vm, "exp", action="EXPORT", destination=str(target))
    complete = watcher.until("VM_BACKUP_COMPLETE")[-1]
    assert complete.status == "SUCCESS", complete
    deadline = time.monotonic() + 10
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    ((status, checksum),) = images_named(server, "exp")
    assert status == "active"
    assert hashlib.md5(target.read_bytes()).hexdigest() == checksum
    assert target.stat().st_mode & 0o777 == 0o600  # as private as the VM's disk


def test_snapshot_in_flight_survives_kill(tmp_path: Path) -> None:
    slow = {**FAST_PROPERTIES, "vim.sim.delay.scale": "1"}
    proc = ServerProcess(tmp_path / "data", properties=FAST_PROPERTIES).start()
    client, watcher = EscClient(proc.netconf_port), EventWatcher(proc.netconf_port)
    vm = deploy(client, watcher, "durable-snap")
    client.close()
    watcher.close()
    proc.stop()
    proc.write_properties(slow)
    proc.start()
    client, watcher = EscClient(proc.netconf_port), EventWatcher(proc.netconf_port)
    backup(client, vm, "in-flight")
    watcher.until("VM_BACKUP_CREATED")
    client.close()
    watcher.close()
    proc.kill()

    proc.write_properties(FAST_PROPERTIES)
    proc.start()
    client, watcher = EscClient(proc.netconf_port), EventWatcher(proc.netconf_port)
    try:
        deadline = time.monotonic() + 60
        while True:
            (entry,) = snapshots(client)
            if entry["status"] == "active":
                break
            assert time.monotonic() < deadline, entry
            time.sleep(0.1)
        assert images_named(proc, "in-flight") == [("active", images_named(proc, "in-flight")[0][1])]
    finally:
        client.close()
        watcher.close()
        proc.stop()
