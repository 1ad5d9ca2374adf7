"""The seed's ``curl`` examples, run as printed against a live server, with a local callback receiver.

Each command is the seed's text with only the ports changed (8080 -> the server's, 9009 -> the receiver's),
the example ids replaced by real ones, and ``-w '\\n%{http_code}'`` appended so the status can be checked
(curl exits 0 whatever the status).  XML output goes through ``xmllint --format -`` as in the seed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.esc_client import EventWatcher
from tests.integration.rest.live_helpers import deploy, http, require_tool, shell, wait_until_idle
from tests.integration.rest.receiver import CallbackReceiver, Post
from tests.integration.server_process import ServerProcess

SEED_VM = "new-deployment-n_new-gr_0_af0148e2-e74c-4be7-b8c1-49bd53def6ba"
SEED_SNAPSHOT_ID = "7813c20b-94b6-492b-ae74-0bd36c1168dc"
SEED_VOLUME_SNAPSHOT_ID = "171ffa7d-8318-47d1-acab-b01db4501a39"

CREATE = ("curl -X POST -d @snapshot.json -H 'Content-Type: application/json' -H "
          "'callback: http://localhost:9009' -H 'Callback-ESC-Events: http://localhost:9009' "
          f"'http://localhost:8080/ESCManager/v0/snapshot-tenant/deployments/snapshot-vm/{SEED_VM}'")
LIST_XML = ('curl -X GET --header "Accept: application/xml" '
            f'"http://localhost:8080/ESCManager/v0/snapshots?internalTenantId=snapshot-tenant-generatedVMName={SEED_VM}"'
            " | xmllint --format -")
DELETE = ("curl -X DELETE -H 'callback: http://localhost:9009' -H "
          "'Callback-ESC-Events: http://localhost:9009' "
          f'"http://localhost:8080/ESCManager/v0/snapshots/{SEED_SNAPSHOT_ID}"')
LIST_TENANT = ('curl -s "http://localhost:8080/ESCManager/v0/snapshots?internalTenantId=dave-2000" | xmllint --format '
               "-")
VOLUME = ("curl -X POST -d @volume_from_volume_snapshot.json -H 'Content-Type: "
          "application/json' -H 'callback: http://localhost:9009' -H 'Callback-ESC-Events: "
          "http://localhost:9009' "
          f'"http://localhost:8080/ESCManager/v0/snapshots/{SEED_VOLUME_SNAPSHOT_ID}/volume"')
SNAPSHOT_JSON = '{\n  "operation": "snapshot",\n  "name": "my-snapshot-name"\n}\n'
VOLUME_JSON = '{\n  "name": "my-bootable-volume-from-snapshot-volume",\n  "multiattach": true\n}\n'
STATUS = " -w '\\n%{http_code}'"


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    with CallbackReceiver() as r:
        yield r


def localized(command: str, server: ServerProcess, receiver: CallbackReceiver, **ids: str) -> str:
    command = command.replace("localhost:8080", f"localhost:{server.rest_port}")
    command = command.replace("http://localhost:9009", f"http://localhost:{receiver.port}")
    for seed, real in ids.items():
        command = command.replace(seed, real)
    return command


def run_with_status(command: str, cwd: Path) -> tuple[str, int]:
    result = shell(command + STATUS, cwd)
    assert result.returncode == 0, result.stderr
    body, _, status = result.stdout.rpartition("\n")
    return body, int(status)


def check_sequence(posts: list[Post], expected: list[tuple[str, str]]) -> None:
    assert [(p.event_type, p.body["statusCode"]) for p in posts] == expected
    tids = {p.body["escTransactionId"] for p in posts}
    assert len(tids) == 1 and None not in tids
    for post in posts:
        assert post.headers["esc-transaction-id"] == post.body["escTransactionId"]
        assert post.headers["esc-status-code"] == post.body["statusCode"]
        assert post.headers["esc-status-message"] == post.body["message"]
        assert post.headers["content-type"].startswith("application/json")
        assert post.body["status"] == "SUCCESS"


def test_seed_snapshot_examples(server: ServerProcess, receiver: CallbackReceiver, tmp_path: Path) -> None:
    require_tool("curl")
    require_tool("xmllint")
    vm = deploy(server, "snapshot-tenant", "new-deployment-n")["vms"][0]["name"]
    assert vm.startswith("new-deployment-n_new-gr_0_")
    (tmp_path / "snapshot.json").write_text(SNAPSHOT_JSON)
    watcher = EventWatcher(server.netconf_port)
    try:
        body, status = run_with_status(localized(CREATE, server, receiver, **{SEED_VM: vm}), tmp_path)
        assert (body, status) == ("", 200)
        receiver.wait(lambda: "VM_BACKUP_COMPLETE" in receiver.types())
        check_sequence(receiver.posts, [("VM_BACKUP_INIT", "200"), ("VM_BACKUP_CREATED", "202"),
                                        ("VM_BACKUP_COMPLETE", "200")])
        netconf = watcher.until("VM_BACKUP_COMPLETE")
        assert [e.type for e in netconf if e.type.startswith("VM_BACKUP")] == [
            "VM_BACKUP_INIT", "VM_BACKUP_CREATED", "VM_BACKUP_COMPLETE"]

        listing = shell(localized(LIST_XML, server, receiver, **{SEED_VM: vm}), tmp_path)
        assert listing.returncode == 0, listing.stderr
        assert listing.stdout.startswith('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<snapshots')
        assert "<name>my-snapshot-name</name>" in listing.stdout
        assert f"<created_from_generated_vm_name>{vm}</created_from_generated_vm_name>" in listing.stdout
        snapshot_id = listing.stdout.split("<id>")[1].split("</id>")[0]

        before = len(receiver.posts)
        body, status = run_with_status(localized(DELETE, server, receiver, **{SEED_SNAPSHOT_ID: snapshot_id}),
                                       tmp_path)
        assert (body, status) == ("", 200)
        receiver.wait(lambda: "VM_SNAPSHOT_DELETED" in receiver.types())
        check_sequence(receiver.posts[before:], [("VM_SNAPSHOT_DELETING", "202"), ("VM_SNAPSHOT_DELETED", "200")])
        netconf = watcher.until("VM_SNAPSHOT_DELETED")
        assert [e.type for e in netconf if e.type.startswith("VM_SNAPSHOT")] == [
            "VM_SNAPSHOT_DELETING", "VM_SNAPSHOT_DELETED"]
        listing = shell(localized(LIST_XML, server, receiver, **{SEED_VM: vm}), tmp_path)
        assert listing.returncode == 0 and "<snapshot>" not in listing.stdout and "<snapshots" in listing.stdout
    finally:
        watcher.close()


def test_seed_volume_from_snapshot_example(server: ServerProcess, receiver: CallbackReceiver,
                                           tmp_path: Path) -> None:
    require_tool("curl")
    require_tool("xmllint")
    vm = deploy(server, "dave-2000", "new-dep-4", boot_volume=True)["vms"][0]["name"]
    reply = http("POST", f"{server.rest_url}/dave-2000/deployments/snapshot-vm/{vm}",
                 json.dumps({"operation": "snapshot", "name": "my-snapshot-name"}).encode(),
                 {"Content-Type": "application/json"})
    assert reply.status == 200, reply
    listing = shell(localized(LIST_TENANT, server, receiver), tmp_path)
    for _ in range(200):
        if "<status>active</status>" in listing.stdout:
            break
        listing = shell(localized(LIST_TENANT, server, receiver), tmp_path)
    assert listing.returncode == 0 and "<volume_snapshot_id>" in listing.stdout, listing.stdout
    snapshot_id = listing.stdout.split("<id>")[1].split("</id>")[0]
    (tmp_path / "volume_from_volume_snapshot.json").write_text(VOLUME_JSON)
    watcher = EventWatcher(server.netconf_port)
    try:
        body, status = run_with_status(
            localized(VOLUME, server, receiver, **{SEED_VOLUME_SNAPSHOT_ID: snapshot_id}), tmp_path)
        assert (body, status) == ("", 202)
        receiver.wait(lambda: "VM_VOLUME_CREATED_EVENT" in receiver.types())
        check_sequence(receiver.posts, [("VM_VOLUME_ACCEPTED_EVENT", "202"), ("VM_VOLUME_CREATED_EVENT", "201")])
        created = receiver.posts[-1].body
        assert created["message"] == "Create volume snapshot request completed"
        assert created["escParameter"]["name"] == "my-bootable-volume-from-snapshot-volume"
        assert created["escParameter"]["external_volume_id"]
        # volume events are for callbacks only: a later snapshot event is the next thing NETCONF sees
        http("DELETE", f"{server.rest_url}/snapshots/{snapshot_id}")
        netconf = watcher.until("VM_SNAPSHOT_DELETED")
        assert not [e for e in netconf if e.type.startswith("VM_VOLUME")]
    finally:
        watcher.close()


def test_seed_service_and_vm_payloads_with_curl(server: ServerProcess, receiver: CallbackReceiver,
                                                tmp_path: Path) -> None:
    require_tool("curl")
    dep = deploy(server, "snapshot-tenant", "new-deployment-n")
    vm = dep["vms"][0]["name"]
    (tmp_path / "service.xml").write_text("<?xml version='1.0' encoding='UTF-8'?>\n<service_operation "
                                          "xmlns='urn:ietf:params:xml:ns:netconf:base:1.0'>\n  <operation>stop"
                                          "</operation>\n</service_operation>\n")
    url = f"http://localhost:{server.rest_port}/ESCManager/v0/snapshot-tenant/deployments"
    hooks = f"-H 'callback: {receiver.url}'"
    body, status = run_with_status(f"curl -s -X POST -d @service.xml {hooks} '{url}/service/{dep['deployment_id']}'",
                                   tmp_path)
    assert (body, status) == ("", 200)
    wait_until_idle(server, "snapshot-tenant", "new-deployment-n", "SERVICE_STOPPED_STATE")
    receiver.wait(lambda: "SERVICE_STOPPED" in receiver.types())
    assert {"VM_STOPPED", "SERVICE_STOPPED"} <= set(receiver.types())
    (tmp_path / "vm.xml").write_text("<?xml version='1.0' encoding='UTF-8'?>\n<vm_operation "
                                     "xmlns='urn:ietf:params:xml:ns:netconf:base:1.0'>\n  <operation>start"
                                     "</operation>\n  <force>false</force>\n</vm_operation>\n")
    body, status = run_with_status(f"curl -s -X POST -d @vm.xml -H 'Accept: application/json' '{url}/vm/{vm}'",
                                   tmp_path)
    assert status == 409 and "SERVICE_STOPPED_STATE" in json.loads(body)["error_message"]
    (tmp_path / "start.xml").write_text((tmp_path / "service.xml").read_text().replace("stop", "start"))
    body, status = run_with_status(f"curl -s -X POST -d @start.xml '{url}/service/new-deployment-n'", tmp_path)
    assert (body, status) == ("", 200)
    wait_until_idle(server, "snapshot-tenant", "new-deployment-n", "SERVICE_ACTIVE_STATE")

