"""The ESCManager API in process: every operation, its callbacks with their headers, and every error code."""

from __future__ import annotations

import json

import pytest
from lxml import etree

from esc_netconf.core.states import ServiceState, VmState
from esc_netconf.netconf.xmlsafe import parse_xml
from esc_netconf.rest.callbacks import DestinationState
from esc_netconf.vim.sim import FaultMode
from tests.integration.rest.conftest import Stack
from tests.integration.rest.receiver import CallbackReceiver

V0 = "/ESCManager/v0"
ESC = "http://www.cisco.com/esc/esc"
BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
SERVICE_STOP = (b"<?xml version='1.0' encoding='UTF-8'?>\n<service_operation xmlns='" + BASE.encode()
                + b"'>\n  <operation>stop</operation>\n</service_operation>\n")
JSON_HEADERS = {"Content-Type": "application/json"}


def hooks(receiver: CallbackReceiver) -> dict[str, str]:
    return {"callback": receiver.url, "Callback-ESC-Events": receiver.url}


async def test_service_stop_then_start_with_callbacks_in_order(stack: Stack, receiver: CallbackReceiver) -> None:
    (vm,) = await stack.deploy()
    dep = stack.core.find_deployment("snapshot-tenant", "dep")
    assert dep is not None
    r = await stack.client.post(f"{V0}/snapshot-tenant/deployments/service/{dep.dep_id}", data=SERVICE_STOP,
                                headers={"Content-Type": "application/xml", **hooks(receiver)})
    assert r.status == 200 and await r.read() == b""
    tid = r.headers["ESC-Transaction-Id"]
    await stack.idle()
    await receiver.until(lambda: "SERVICE_STOPPED" in receiver.types(tid))
    assert dep.state is ServiceState.STOPPED
    posts = receiver.of(tid)
    assert [p.event_type for p in posts] == [e.event_type.value for e in stack.events if e.transaction_id == tid]
    assert "VM_STOPPED" in [p.event_type for p in posts]
    for post in posts:  # one POST per URL although both headers name it
        assert post.headers["esc-transaction-id"] == tid
        assert post.headers["esc-status-code"] == post.body["statusCode"]
        assert post.headers["esc-status-message"] == post.body["message"]
        assert post.body["escParameter"]["depname"] == "dep"
    assert len(posts) == len({p.body["stateMachineEventNBInfo"]["id"] for p in posts})
    # by name, with a JSON body
    r = await stack.client.post(f"{V0}/snapshot-tenant/deployments/service/dep", json={"operation": "START"})
    assert r.status == 200
    await stack.idle()
    assert dep.state is ServiceState.ACTIVE and stack.core.find_vm(vm.name).state is VmState.ALIVE


async def test_vm_stop_needs_force_below_min_active(stack: Stack) -> None:
    (vm,) = await stack.deploy()
    url = f"{V0}/snapshot-tenant/deployments/vm/{vm.name}"
    body = b"<vm_operation><operation>stop</operation><force>false</force></vm_operation>"
    r = await stack.client.post(url, data=body, headers={"Accept": "application/json"})
    assert r.status == 409
    assert "min_active" in (await r.json())["error_message"]
    r = await stack.client.post(url, data=body.replace(b"false", b"true"))
    assert r.status == 200
    await stack.idle()
    assert stack.core.find_vm(vm.name).state is VmState.SHUTOFF


async def test_snapshot_create_list_delete_with_callbacks(stack: Stack, receiver: CallbackReceiver) -> None:
    (vm,) = await stack.deploy()
    r = await stack.client.post(f"{V0}/snapshot-tenant/deployments/snapshot-vm/{vm.name}",
                                data=json.dumps({"operation": "snapshot", "name": "my-snapshot-name"}),
                                headers={**JSON_HEADERS, **hooks(receiver)})
    assert r.status == 200 and await r.read() == b""
    created = r.headers["ESC-Transaction-Id"]
    await stack.idle()
    await receiver.until(lambda: "VM_BACKUP_COMPLETE" in receiver.types(created))
    assert receiver.types(created) == ["VM_BACKUP_INIT", "VM_BACKUP_CREATED", "VM_BACKUP_COMPLETE"]
    assert [p.body["statusCode"] for p in receiver.of(created)] == ["200", "202", "200"]

    r = await stack.client.get(f"{V0}/snapshots", params={"internalTenantId": "snapshot-tenant",
                                                          "generatedVMName": vm.name})
    assert r.status == 200 and r.content_type == "application/xml"
    doc = parse_xml(await r.read())
    (snap,) = doc.findall(f"{{{ESC}}}snapshot")
    assert snap.findtext(f"{{{ESC}}}name") == "my-snapshot-name"
    assert snap.findtext(f"{{{ESC}}}created_from_generated_vm_name") == vm.name
    snapshot_id = snap.findtext(f"{{{ESC}}}id")

    r = await stack.client.get(f"{V0}/snapshots", headers={"Accept": "application/json"})
    listing = await r.json()
    assert r.status == 200 and [s["id"] for s in listing["snapshots"]] == [snapshot_id]
    assert set(listing["snapshots"][0]) == {"id", "name", "creation_start_date", "creation_end_date", "status",
                                            "status_message", "created_from_generated_vm_name", "vim_id",
                                            "tenant", "volume_snapshot_id"}
    assert listing["snapshots"][0]["status"] == "active"

    r = await stack.client.delete(f"{V0}/snapshots/my-snapshot-name", headers=hooks(receiver))
    assert r.status == 200 and await r.read() == b""
    deleted = r.headers["ESC-Transaction-Id"]
    await stack.idle()
    await receiver.until(lambda: "VM_SNAPSHOT_DELETED" in receiver.types(deleted))
    assert receiver.types(deleted) == ["VM_SNAPSHOT_DELETING", "VM_SNAPSHOT_DELETED"]
    r = await stack.client.get(f"{V0}/snapshots", headers={"Accept": "application/json"})
    assert (await r.json()) == {"snapshots": []}
    # the snapshot events also went to NETCONF (not callback-only)
    assert all(not e.callback_only for e in stack.events if e.transaction_id in (created, deleted))


async def test_volume_from_snapshot_on_both_spellings(stack: Stack, receiver: CallbackReceiver) -> None:
    (vm,) = await stack.deploy(boot_volume=True)
    stack.snapshots.create_snapshot(vm.name, "boot-snap")
    await stack.idle()
    (record,) = stack.snapshots.list_snapshots()
    assert record.volume_snapshot_id
    for path, name in (("volumes", "vol-a"), ("volume", "vol-b")):
        r = await stack.client.post(f"{V0}/snapshots/{record.id}/{path}",
                                    data=json.dumps({"name": name, "multiattach": True, "colour": "ignored"}),
                                    headers={**JSON_HEADERS, **hooks(receiver)})
        assert r.status == 202 and await r.read() == b""
        tid = r.headers["ESC-Transaction-Id"]
        await stack.idle()
        await receiver.until(lambda: "VM_VOLUME_CREATED_EVENT" in receiver.types(tid))
        accepted, created = receiver.of(tid)
        assert (accepted.event_type, accepted.body["statusCode"]) == ("VM_VOLUME_ACCEPTED_EVENT", "202")
        assert (created.event_type, created.body["statusCode"]) == ("VM_VOLUME_CREATED_EVENT", "201")
        assert created.body["message"] == "Create volume snapshot request completed"
        parameters = created.body["escParameter"]
        assert parameters["name"] == name and parameters["external_volume_id"]
        assert parameters["multiattach"] == "true"
        volume = await stack.sim.get_volume(parameters["external_volume_id"])
        assert volume.name == name
        assert created.body["notificationOnlyEvent"] is True
    volume_events = [e for e in stack.events if e.event_type.value.startswith("VM_VOLUME")]
    assert volume_events and all(e.callback_only for e in volume_events)


async def test_deployments_listing_in_both_formats(stack: Stack) -> None:
    vms = await stack.deploy(count=2)
    r = await stack.client.get(f"{V0}/deployments")
    assert r.status == 200 and r.content_type == "application/xml"
    doc = parse_xml(await r.read())
    assert doc.xpath("/deployments/deployment/name/text()") == ["dep"]
    assert sorted(doc.xpath("//vms/vm/name/text()")) == sorted(v.name for v in vms)
    r = await stack.client.get(f"{V0}/deployments", headers={"Accept": "application/json"})
    (dep,) = (await r.json())["deployments"]
    assert dep["state"] == "SERVICE_ACTIVE_STATE" and {v["state"] for v in dep["vms"]} == {"VM_ALIVE_STATE"}
    r = await stack.client.get(f"{V0}/deployments", params={"internalTenantId": "other"},
                               headers={"Accept": "application/json"})
    assert (await r.json()) == {"deployments": []}


@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "not valid JSON"),
    (b"<service_operation><operation>stop</operation>", "not well-formed XML"),
    (b"<wrong><operation>stop</operation></wrong>", "must be <service_operation>"),
    (b'{"operation": "pause"}', "start, stop or reboot"),
    (b"[1, 2]", "must be an object"),
    (b"", "needs a body"),
    (b"operation=stop", "neither JSON nor XML"),
    (b'<!DOCTYPE x [<!ENTITY e "stop">]><service_operation><operation>&e;</operation></service_operation>',
     "not well-formed XML"),
])
async def test_bad_service_bodies_are_400_with_a_reason(stack: Stack, body: bytes, reason: str) -> None:
    await stack.deploy()
    r = await stack.client.post(f"{V0}/snapshot-tenant/deployments/service/dep", data=body)
    assert r.status == 400
    doc = parse_xml(await r.read())
    assert doc.tag == f"{{{BASE}}}error" and doc.findtext(f"{{{BASE}}}error_code") == "400"
    assert reason in doc.findtext(f"{{{BASE}}}error_message")


async def test_error_codes_for_each_resource(stack: Stack, receiver: CallbackReceiver) -> None:
    (vm,) = await stack.deploy()
    client = stack.client
    async def status(method: str, path: str, **kwargs: object) -> tuple[int, str]:
        r = await client.request(method, V0 + path, headers={"Accept": "application/json",
                                                             **kwargs.pop("headers", {})}, **kwargs)  # type: ignore[arg-type]
        body = await r.json()
        assert body["error_code"] == r.status
        return r.status, body["error_message"]

    stop = {"data": b'{"operation": "stop"}'}
    snap = {"json": {"operation": "snapshot", "name": "s"}}
    assert await status("POST", "/nobody/deployments/service/dep", **stop) == (404, "Tenant [nobody] not found.")
    assert (await status("POST", "/snapshot-tenant/deployments/service/nodep", **stop))[0] == 404
    assert (await status("POST", "/snapshot-tenant/deployments/vm/novm", **stop))[0] == 404
    assert (await status("POST", "/nobody/deployments/snapshot-vm/" + vm.name, **snap))[0] == 404
    assert (await status("POST", "/snapshot-tenant/deployments/snapshot-vm/novm", **snap))[0] == 404
    assert (await status("DELETE", "/snapshots/nosuch"))[0] == 404
    assert (await status("POST", "/snapshots/nosuch/volumes", json={"name": "v"}))[0] == 404
    assert (await status("POST", "/snapshot-tenant/deployments/service/dep",
                         data=b'{"operation": "start"}'))[0] == 409  # already running
    # 400s: wrong operation, missing name, too long, non-boolean flag, bad callback URL
    assert (await status("POST", f"/snapshot-tenant/deployments/snapshot-vm/{vm.name}",
                         json={"operation": "backup", "name": "s"}))[0] == 400
    assert (await status("POST", f"/snapshot-tenant/deployments/snapshot-vm/{vm.name}",
                         json={"operation": "snapshot"}))[0] == 400
    assert (await status("POST", f"/snapshot-tenant/deployments/snapshot-vm/{vm.name}",
                         json={"operation": "snapshot", "name": "n" * 256}))[0] == 400
    assert (await status("POST", "/snapshots/x/volumes", json={"name": "v", "bootable": "maybe"}))[0] == 400
    assert (await status("POST", "/snapshots/x/volumes", json={"name": "v" * 256}))[0] == 400
    assert (await status("POST", "/snapshot-tenant/deployments/service/dep", data=b'{"operation": "stop"}',
                         headers={"callback": "ftp://example"}))[0] == 400
    # 409: a snapshot being created cannot be deleted; two snapshots named alike need the id (400)
    r = await client.post(f"{V0}/snapshot-tenant/deployments/snapshot-vm/{vm.name}", **snap)
    assert r.status == 200
    assert (await status("DELETE", "/snapshots/s"))[0] == 409
    await stack.idle()
    stack.snapshots.create_snapshot(vm.name, "s")
    await stack.idle()
    code, message = await status("DELETE", "/snapshots/s")
    assert code == 400 and "not unique" in message
    # a volume from a snapshot without a volume snapshot
    first = stack.snapshots.list_snapshots()[0]
    assert (await status("POST", f"/snapshots/{first.id}/volume", json={"name": "v"}))[0] == 400
    # unknown paths and methods keep the error format
    assert (await status("GET", "/nothing-here"))[0] == 404
    assert (await status("PUT", "/snapshots"))[0] == 405
    # refused requests send no callbacks
    assert receiver.posts == []


async def test_vim_failure_is_reported_through_callbacks(stack: Stack, receiver: CallbackReceiver) -> None:
    (vm,) = await stack.deploy()
    stack.faults["image.create"] = FaultMode.ERROR
    r = await stack.client.post(f"{V0}/snapshot-tenant/deployments/snapshot-vm/{vm.name}",
                                json={"operation": "snapshot", "name": "doomed"}, headers=hooks(receiver))
    assert r.status == 200
    tid = r.headers["ESC-Transaction-Id"]
    await stack.idle()
    await receiver.until(lambda: "VM_BACKUP_COMPLETE" in receiver.types(tid))
    final = receiver.of(tid)[-1]
    assert final.body["status"] == "FAILURE" and final.body["statusCode"] == "500"
    assert final.headers["esc-status-code"] == "500"


async def test_body_limit_is_413_with_a_reason(stack: Stack) -> None:
    r = await stack.client.post(f"{V0}/snapshots/x/volumes", data=b"{" + b" " * (2 * 2**20) + b"}",
                                headers={"Accept": "application/json"})
    assert r.status == 413
    assert "too large" in (await r.json())["error_message"]


async def test_control_characters_in_the_path_still_render_an_error(stack: Stack) -> None:
    r = await stack.client.post(f"{V0}/t%01x/deployments/service/d", data=b'{"operation": "stop"}',
                                headers={"Accept": "application/xml"})
    assert r.status == 404
    doc = etree.fromstring(await r.read())
    assert "\ufffd" in doc.findtext(f"{{{BASE}}}error_message")


async def test_retried_callbacks_arrive_once_and_in_order(stack: Stack, receiver: CallbackReceiver) -> None:
    (vm,) = await stack.deploy()
    receiver.fail_next(2)
    r = await stack.client.post(f"{V0}/snapshot-tenant/deployments/snapshot-vm/{vm.name}",
                                json={"operation": "snapshot", "name": "retried"}, headers=hooks(receiver))
    tid = r.headers["ESC-Transaction-Id"]
    await stack.idle()
    await receiver.until(lambda: "VM_BACKUP_COMPLETE" in receiver.types(tid))
    assert receiver.refused == 2
    assert receiver.types(tid) == ["VM_BACKUP_INIT", "VM_BACKUP_CREATED", "VM_BACKUP_COMPLETE"]


async def test_dead_receiver_costs_a_log_line_and_nothing_else(stack: Stack, receiver: CallbackReceiver,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    (vm,) = await stack.deploy()
    dead = "http://127.0.0.1:9/nobody-listens"
    r = await stack.client.post(f"{V0}/snapshot-tenant/deployments/snapshot-vm/{vm.name}",
                                json={"operation": "snapshot", "name": "unheard"},
                                headers={"callback": dead, "Callback-ESC-Events": receiver.url})
    assert r.status == 200
    tid = r.headers["ESC-Transaction-Id"]
    await stack.idle()  # the core finished while the dead receiver was being retried
    await receiver.until(lambda: "VM_BACKUP_COMPLETE" in receiver.types(tid))
    await stack.api.dispatcher.drain(5)
    assert stack.api.dispatcher.state(dead) is DestinationState.DOWN
    warnings = [rec for rec in caplog.records if rec.levelname == "WARNING" and dead in rec.getMessage()]
    assert len(warnings) == 1
    r = await stack.client.get(f"{V0}/snapshots", headers={"Accept": "application/json"})
    assert r.status == 200 and len((await r.json())["snapshots"]) == 1


async def test_openapi_description_is_served(stack: Stack) -> None:
    r = await stack.client.get(f"{V0}/openapi.yaml")
    assert r.status == 200 and r.content_type == "application/yaml"
    text = await r.text()
    assert text.startswith("openapi: 3.0.3") and "/snapshots/{snapshot_id}/volumes:" in text
