"""Request bodies to typed requests: the seed's XML, JSON, and every refusal (no sockets)."""

from __future__ import annotations

import pytest

from esc_netconf.core.states import ActionType
from esc_netconf.rest import payloads
from esc_netconf.rest.errors import BadRequest

SEED_SERVICE = b"""<?xml version='1.0' encoding='UTF-8'?>
<service_operation xmlns='urn:ietf:params:xml:ns:netconf:base:1.0'>
  <operation>stop</operation>
</service_operation>
"""
SEED_VM = b"""<?xml version='1.0' encoding='UTF-8'?>
<vm_operation xmlns='urn:ietf:params:xml:ns:netconf:base:1.0'>
  <operation>stop</operation>
  <force>true</force>
</vm_operation>
"""


def test_seed_service_payload() -> None:
    fields = payloads.read_fields(SEED_SERVICE, "application/xml", "service_operation")
    assert payloads.service_operation(fields) == payloads.ServiceOperation(ActionType.STOP)


def test_seed_vm_payload_and_its_json_twins() -> None:
    expected = payloads.VmOperation(ActionType.STOP, True)
    assert payloads.vm_operation(payloads.read_fields(SEED_VM, None, "vm_operation")) == expected
    for body in (b'{"operation": "stop", "force": true}', b'{"vm_operation": {"operation": "Stop", "force": "true"}}'):
        assert payloads.vm_operation(payloads.read_fields(body, "application/json", "vm_operation")) == expected
    plain = payloads.read_fields(b"<vm_operation><operation>reboot</operation></vm_operation>", None, "vm_operation")
    assert payloads.vm_operation(plain) == payloads.VmOperation(ActionType.REBOOT, False)


def test_seed_placeholder_force_is_refused() -> None:
    fields = payloads.read_fields(SEED_VM.replace(b">true<", b">true/false<"), None, "vm_operation")
    with pytest.raises(BadRequest, match="force must be true or false"):
        payloads.vm_operation(fields)


def test_curl_form_content_type_is_sniffed() -> None:
    fields = payloads.read_fields(b'{"operation":"snapshot","name":"x"}', "application/x-www-form-urlencoded",
                                  "snapshot_operation")
    assert payloads.snapshot_request(fields) == payloads.SnapshotRequest("x")


@pytest.mark.parametrize(("body", "content_type", "message"), [
    (b"", None, "needs a body"),
    (b"   \n", None, "needs a body"),
    (b"name=x", None, "neither JSON nor XML"),
    (b"{", "application/json", "not valid JSON"),
    (b'"just a string"', "application/json", "must be an object"),
    (b"\xff\xfe", "application/json", "not valid JSON"),
    (b"<a><b>", "application/xml", "not well-formed XML"),
    (b"<other/>", None, "must be <service_operation>"),
])
def test_unreadable_bodies(body: bytes, content_type: str | None, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        payloads.read_fields(body, content_type, "service_operation")


def test_repeated_xml_fields_are_refused_only_when_used() -> None:
    body = (b"<service_operation><x>1</x><x>2</x><operation>stop</operation></service_operation>")
    assert payloads.service_operation(payloads.read_fields(body, None, "service_operation")).action is ActionType.STOP
    body = b"<service_operation><operation>stop</operation><operation>start</operation></service_operation>"
    with pytest.raises(BadRequest, match="not given more than once"):
        payloads.service_operation(payloads.read_fields(body, None, "service_operation"))


@pytest.mark.parametrize("fields", [{}, {"operation": "pause"}, {"operation": 3}, {"operation": None}])
def test_wrong_operations(fields: dict[str, object]) -> None:
    with pytest.raises(BadRequest, match="start, stop or reboot"):
        payloads.service_operation(fields)


def test_snapshot_payload_rules() -> None:
    assert payloads.snapshot_request({"operation": "SNAPSHOT", "name": "n" * 255}).name == "n" * 255
    with pytest.raises(BadRequest, match='must be "snapshot"'):
        payloads.snapshot_request({"operation": "export", "name": "x"})
    with pytest.raises(BadRequest, match="missing"):
        payloads.snapshot_request({"operation": "snapshot"})
    with pytest.raises(BadRequest, match="at most 255"):
        payloads.snapshot_request({"operation": "snapshot", "name": "n" * 256})
    with pytest.raises(BadRequest, match="non-empty string"):
        payloads.snapshot_request({"operation": "snapshot", "name": 7})
    with pytest.raises(BadRequest, match="control characters"):
        payloads.snapshot_request({"operation": "snapshot", "name": "a\x00b"})


def test_volume_payload_defaults_flags_and_ignored_attributes() -> None:
    volume = payloads.volume_request({"name": "v", "multiattach": True, "operation": "snapshot", "size": 9})
    assert volume == payloads.VolumeRequest("v", None, True, True)
    volume = payloads.volume_request({"name": "v", "volume_type": "LVM", "bootable": "false"})
    assert volume == payloads.VolumeRequest("v", "LVM", False, False)
    for bad in ({"name": "v", "multiattach": 1}, {"name": "v", "volume_type": ""}, {"name": "v", "volume_type": 5},
                {"volume_type": "LVM"}, {"name": ""}):
        with pytest.raises(BadRequest):
            payloads.volume_request(bad)


def test_entities_are_not_expanded() -> None:
    body = b'<!DOCTYPE s [<!ENTITY x "stop">]><service_operation><operation>&x;</operation></service_operation>'
    with pytest.raises(BadRequest):
        payloads.read_fields(body, "application/xml", "service_operation")
