"""Content negotiation, listings and error documents (no sockets)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from lxml import etree

from esc_netconf.core.backup import SnapshotRecord, SnapshotStatus
from esc_netconf.core.errors import NotFound, StateConflict, VimOperationFailed
from esc_netconf.netconf.xmlsafe import parse_xml
from esc_netconf.rest.errors import BadRequest, http_status
from esc_netconf.rest.negotiate import Format, content_format, preferred_format
from esc_netconf.rest.render import error_response, snapshots_json, snapshots_response, xml_text
from esc_netconf.vim.base import VimFailure, VimNotFound

ESC = "http://www.cisco.com/esc/esc"
BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"


@pytest.mark.parametrize(("accept", "expected"), [
    (None, None),
    ("*/*", None),
    ("application/json", Format.JSON),
    ("application/xml", Format.XML),
    ("text/xml, application/json", Format.XML),
    ("application/xml;q=0.5, application/json", Format.JSON),
    ("application/json;q=0, application/xml;q=0.1", Format.XML),
    ("application/json;q=nonsense", None),
    ("application/problem+json", Format.JSON),
])
def test_preferred_format(accept: str | None, expected: Format | None) -> None:
    assert preferred_format(accept) is expected


def test_content_format_trusts_only_json_or_xml_types() -> None:
    assert content_format("application/json; charset=utf-8", b"<x/>") is Format.JSON
    assert content_format("application/x-www-form-urlencoded", b'  {"a": 1}') is Format.JSON
    assert content_format(None, b"\n<x/>") is Format.XML
    assert content_format("text/plain", b"a=b") is None


def _record(**changes: object) -> SnapshotRecord:
    record = SnapshotRecord(
        id="7813c20b-94b6-492b-ae74-0bd36c1168dc", name="my-snapshot-name", tenant="snapshot-tenant",
        generated_vm_name="dep_g_0_af01", vm_id="vm-1", server_id="srv-1", deployment="dep", dep_id="dep-1",
        vm_group="g", vim_id="default_openstack_vim", status=SnapshotStatus.ACTIVE,
        status_message="Snapshot image for VM [dep_g_0_af01] is active.",
        creation_start_date=datetime(2021, 7, 20, 11, 26, 47, 532000, tzinfo=timezone.utc))
    for key, value in changes.items():
        setattr(record, key, value)
    return record


def test_snapshot_listing_xml_is_the_seed_shape() -> None:
    response = snapshots_response([_record(volume_snapshot_id="c3cd")], Format.XML)
    assert response.status == 200 and response.content_type == "application/xml"
    body = response.body
    assert isinstance(body, bytes)
    assert body.startswith(b'<?xml version=\'1.0\' encoding=\'UTF-8\' standalone=\'yes\'?>')
    doc = parse_xml(body)
    snap = doc.find(f"{{{ESC}}}snapshot")
    assert snap is not None
    assert [etree.QName(c).localname for c in snap] == [
        "id", "name", "creation_start_date", "status", "status_message", "created_from_generated_vm_name",
        "vim_id", "tenant", "volume_snapshot_id"]
    assert snap.findtext(f"{{{ESC}}}creation_start_date") == "2021-07-20T11:26:47.532+00:00"


def test_snapshot_listing_json_has_every_field() -> None:
    (entry,) = snapshots_json([_record()])["snapshots"]
    assert entry["creation_end_date"] is None and entry["volume_snapshot_id"] is None
    assert entry["created_from_generated_vm_name"] == "dep_g_0_af01" and entry["status"] == "active"


def test_error_documents() -> None:
    xml = error_response(404, "Snapshot image [x] not found.", Format.XML)
    doc = parse_xml(xml.body)  # type: ignore[arg-type]
    assert (doc.tag, doc.findtext(f"{{{BASE}}}error_code")) == (f"{{{BASE}}}error", "404")
    assert doc.findtext(f"{{{BASE}}}error_message") == "Snapshot image [x] not found."
    js = error_response(409, "busy", Format.JSON)
    assert js.status == 409 and js.body == b'{"error_code":409,"error_message":"busy"}\n'


def test_xml_text_replaces_what_xml_cannot_carry() -> None:
    assert xml_text("a\x00b\x1fc\ttab\ud800") == "a\ufffdb\ufffdc\ttab\ufffd"


@pytest.mark.parametrize(("error", "status"), [
    (BadRequest("x"), 400),
    (NotFound("x"), 404),
    (StateConflict("x"), 409),
    (VimOperationFailed("x"), 500),
    (VimFailure("quota"), 502),
    (VimNotFound("gone"), 404),
])
def test_one_place_maps_errors_to_statuses(error: Exception, status: int) -> None:
    assert http_status(error)[0] == status  # type: ignore[arg-type]
