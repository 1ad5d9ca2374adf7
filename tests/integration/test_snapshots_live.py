"""VM snapshots through NETCONF on a live server: vmBackupAction, snapshotAction, opdata, failures, restart."""

from __future__ import annotations

import asyncio
import hashlib
import json
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
from tests.integration.esc_client import BASE, ESC, NS, EscClient, Event, EventWatcher, RpcFailed, replayed_esc_events
from tests.integration.rest.live_helpers import http
from tests.integration.rest.receiver import CallbackReceiver
from tests.integration.server_process import ServerProcess
from tests.integration.test_kpi_monitoring_live import set_guest

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
        cloud = SimCloud(server.data_dir / "sim", lambda: SimSettings())
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


def test_export_writes_the_image_with_its_checksum(live: tuple[ServerProcess, EscClient, EventWatcher]) -> None:
    server, client, watcher = live
    vm = deploy(client, watcher, "exported")
    target = server.data_dir / "exports" / "exported.qcow2"
    backup(client, vm, "exp", action="EXPORT", destination=str(target))
    complete = watcher.until("VM_BACKUP_COMPLETE")[-1]
    assert complete.status == "SUCCESS", complete
    ((status, checksum),) = images_named(server, "exp")
    assert status == "active"
    assert hashlib.md5(target.read_bytes()).hexdigest() == checksum
    assert target.stat().st_mode & 0o777 == 0o600


def sim_temporaries(server: ServerProcess) -> tuple[list[str], list[str]]:
    """Names of the temporary volumes (not yet deleting) and images an export made, still in the VIM."""
    async def run() -> tuple[list[str], list[str]]:
        cloud = SimCloud(server.data_dir / "sim", lambda: SimSettings())
        try:
            volumes = [v.name for v in await cloud.list_volumes()
                       if v.name.startswith("esc-export-") and v.status.value != "deleting"]
            images = [i.name for i in await cloud.list_images() if i.name.startswith("esc-export-")]
            return volumes, images
        finally:
            await cloud.close()

    return asyncio.run(run())


def test_volume_backed_export_writes_the_volume_data(live: tuple[ServerProcess, EscClient, EventWatcher]) -> None:
    """The VM boots from a volume made from cirros: its snapshot image is empty, its export is not."""
    server, client, watcher = live
    vm = deploy(client, watcher, "bfv-export", boot_volume=True)
    backup(client, vm, "bfv-exp", action="EXPORT", destination="bfv/out.raw")
    complete = watcher.until("VM_BACKUP_COMPLETE")[-1]
    assert (complete.status, complete.status_code) == ("SUCCESS", "200"), complete
    ((status, checksum),) = images_named(server, "bfv-exp")
    assert status == "active" and checksum == hashlib.md5(b"").hexdigest()  # the snapshot image holds nothing
    target = server.data_dir / "exports" / "bfv" / "out.raw"
    data = target.read_bytes()
    ((_, cirros_md5),) = images_named(server, "cirros")
    assert len(data) > 0 and hashlib.md5(data).hexdigest() == cirros_md5
    assert target.stat().st_mode & 0o777 == 0o600
    assert f"md5 {cirros_md5} verified" in complete.status_message and "volume snapshot [" in complete.status_message
    (entry,) = snapshots(client)
    assert entry["status"] == "active" and entry["volume_snapshot_id"]
    assert sim_temporaries(server) == ([], [])


def test_export_destinations_are_confined(live: tuple[ServerProcess, EscClient, EventWatcher],
                                          tmp_path: Path) -> None:
    server, client, watcher = live
    vm = deploy(client, watcher, "confined")
    outside = tmp_path / "outside"
    outside.mkdir()
    exports = server.data_dir / "exports"
    exports.mkdir(exist_ok=True)
    (exports / "escape").symlink_to(outside)
    for destination in (str(outside / "x.img"), "/etc/cron.d/x", "../esc.db", "a/../../../x.img", "escape/x.img"):
        started = time.monotonic()
        with pytest.raises(RpcFailed) as refused:
            backup(client, vm, "nope", action="EXPORT", destination=destination)
        assert time.monotonic() - started < 2
        assert (refused.value.error_code, refused.value.tag) == ("400", "invalid-value")
        assert refused.value.message == (
            f"Export destination [{destination}] is outside the export directory [{exports.resolve()}]; "
            f"exports may only be written inside it (relative paths are taken from it).")
    assert snapshots(client) == [] and list(outside.iterdir()) == []
    backup(client, vm, "inside", action="EXPORT", destination="escape-free/")  # a fresh subdirectory is fine
    assert watcher.until("VM_BACKUP_COMPLETE")[-1].status == "SUCCESS"
    assert [p.name for p in (exports / "escape-free").iterdir()] == ["inside.qcow2"]


def test_failed_volume_export_reports_failure_and_cleans_up(tmp_path: Path) -> None:
    """Fault injection: Cinder's upload fails (the image is killed). FAILURE, no file, no temporaries.
    The server runs with --export-dir; an absolute destination inside it is accepted."""
    export_dir = tmp_path / "custom-exports"
    proc = ServerProcess(tmp_path / "data", properties={**FAST_PROPERTIES, "vim.sim.fault.volume.upload": "error"},
                         extra_args=["--export-dir", str(export_dir)]).start()
    client, watcher = EscClient(proc.netconf_port), EventWatcher(proc.netconf_port)
    try:
        vm = deploy(client, watcher, "upload-fails", boot_volume=True)
        backup(client, vm, "doomed", action="EXPORT", destination=str(export_dir / "doomed.raw"))
        events = watcher.until("VM_BACKUP_COMPLETE")
        assert backup_events(events) == [("VM_BACKUP_INIT", "SUCCESS", "200"), ("VM_BACKUP_CREATED", "SUCCESS", "202"),
                                         ("VM_BACKUP_COMPLETE", "FAILURE", "500")]
        assert "failed in the VIM (image status killed)" in events[-1].status_message
        assert not export_dir.exists() or list(export_dir.rglob("*")) == []
        assert sim_temporaries(proc) == ([], [])
        (entry,) = snapshots(client)
        assert entry["status"] == "active"  # the snapshot itself is fine and can still be used
        with pytest.raises(RpcFailed) as refused:  # the default directory is not the configured one
            backup(client, vm, "elsewhere", action="EXPORT", destination=str(proc.data_dir / "exports" / "x.raw"))
        assert refused.value.error_code == "400"
    finally:
        client.close()
        watcher.close()
        proc.stop()


def test_snapshot_events_survive_kills_exactly_once(tmp_path: Path) -> None:
    """kill -9 right after a snapshot create is accepted (the VIM slowed so the create is in flight), and
    again right after its delete is accepted: each time the step is stored and its event may not be
    delivered yet.  After each restart the work finishes, and the NETCONF replay log and the REST callbacks
    hold each snapshot event exactly once (callbacks counted by event id, as their receiver would)."""
    proc = ServerProcess(tmp_path / "data", properties=FAST_PROPERTIES).start()
    with CallbackReceiver() as receiver:
        client, watcher = EscClient(proc.netconf_port), EventWatcher(proc.netconf_port)
        try:
            vm = deploy(client, watcher, "durable-snap")
        finally:
            client.close()
            watcher.close()
        set_guest(proc, "vim.sim.delay.scale=0.2")  # not persisted: the restarted server is fast again
        created = http("POST", f"{proc.rest_url}/{TENANT}/deployments/snapshot-vm/{vm}",
                       json.dumps({"operation": "snapshot", "name": "in-flight"}).encode(),
                       {"Content-Type": "application/json", "callback": receiver.url})
        proc.kill()
        assert created.status == 200, created
        proc.start()
        client = EscClient(proc.netconf_port)
        try:
            deadline = time.monotonic() + 30
            while (listed := snapshots(client)) and listed[0]["status"] != "active":
                assert time.monotonic() < deadline, listed
                time.sleep(0.1)
            (entry,) = listed
            assert [status for status, _ in images_named(proc, "in-flight")] == ["active"]
            deleted = http("DELETE", f"{proc.rest_url}/snapshots/{entry['id']}", None, {"callback": receiver.url})
            proc.kill()
            assert deleted.status == 200, deleted
        finally:
            client.close()
        proc.start()
        client = EscClient(proc.netconf_port)
        try:
            deadline = time.monotonic() + 30
            while snapshots(client):
                assert time.monotonic() < deadline, snapshots(client)
                time.sleep(0.1)
            assert images_named(proc, "in-flight") == []
            expected = [("VM_BACKUP_INIT", "SUCCESS", "200"), ("VM_BACKUP_CREATED", "SUCCESS", "202"),
                        ("VM_BACKUP_COMPLETE", "SUCCESS", "200"), ("VM_SNAPSHOT_DELETING", "SUCCESS", "202"),
                        ("VM_SNAPSHOT_DELETED", "SUCCESS", "200")]
            assert backup_events(replayed_esc_events(proc.netconf_port)) == expected
            tids = {created.headers["esc-transaction-id"], deleted.headers["esc-transaction-id"]}
            receiver.wait(lambda: len({p.headers["esc-event-id"] for p in receiver.posts}) >= len(expected),
                          timeout=20)
            ids_by_type: dict[str, set[str]] = {}
            for post in receiver.posts:
                assert post.headers["esc-transaction-id"] in tids
                ids_by_type.setdefault(post.event_type, set()).add(post.headers["esc-event-id"])
            assert {t: len(ids) for t, ids in ids_by_type.items()} == {t: 1 for t, _, _ in expected}
        finally:
            client.close()
            proc.stop()
