"""Responses of the ESCManager API: snapshot and deployment listings and error documents, in XML or JSON.

XML documents start with ``<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`` as ESC's do, so
``curl ... | xmllint --format -`` prints what the seed prints.  The snapshot listing reuses the northbound's
``snapshots_element`` (the same fields NETCONF opdata shows); its JSON twin is ``{"snapshots": [...]}`` with
every field present (``null`` when unknown).  Errors mirror ``esc_nc_cli``'s ``<error><error_code>…``
document.  Text that came from a request (a tenant name in a URL) is scrubbed of characters XML cannot
carry, so no request can make an error unrenderable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence

from aiohttp import web
from lxml import etree

from esc_netconf.core.backup import SnapshotRecord
from esc_netconf.core.lifecycle import EscCore
from esc_netconf.core.model import DeploymentRecord, VmRecord
from esc_netconf.northbound.snapshot_xml import snapshots_element
from esc_netconf.nsmap import default_namespace
from esc_netconf.rest.negotiate import Format
from esc_netconf.northbound.esc_xml import date_time

__all__ = [
    "ERROR_NS",
    "deployments_response",
    "error_response",
    "snapshots_json",
    "snapshots_response",
    "xml_bytes",
]

ERROR_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
XML_TYPE = "application/xml"
JSON_TYPE = "application/json"

_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """``text`` with the characters XML 1.0 cannot carry replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def xml_bytes(element: etree._Element) -> bytes:
    """A whole XML document, with ESC's declaration."""
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8", standalone=True)


def _json(data: object, status: int = 200) -> web.Response:
    # compact, like the XML: ``json.dumps`` with ``indent`` falls back to the pure-Python encoder (3x slower
    # on a 10,000-snapshot listing); ``curl ... | jq`` formats it as ``xmllint --format`` does the XML
    return web.Response(body=json.dumps(data, separators=(",", ":")).encode("utf-8") + b"\n", status=status,
                        content_type=JSON_TYPE, charset="utf-8")


def _xml(element: etree._Element, status: int = 200) -> web.Response:
    return web.Response(body=xml_bytes(element) + b"\n", status=status, content_type=XML_TYPE, charset="utf-8")


# ---- errors -----------------------------------------------------------------------------------------


def error_response(status: int, message: str, fmt: Format) -> web.Response:
    """``<error><error_code>404</error_code><error_message>…`` or ``{"error_code": 404, "error_message": …}``."""
    if fmt is Format.JSON:
        return _json({"error_code": status, "error_message": message}, status)
    root = etree.Element(f"{{{ERROR_NS}}}error", nsmap=default_namespace(ERROR_NS))
    etree.SubElement(root, f"{{{ERROR_NS}}}error_code").text = str(status)
    etree.SubElement(root, f"{{{ERROR_NS}}}error_message").text = xml_text(message)
    return _xml(root, status)


# ---- snapshots --------------------------------------------------------------------------------------


def snapshots_json(records: Iterable[SnapshotRecord]) -> dict[str, list[dict[str, str | None]]]:
    """``{"snapshots": [...]}`` with CONTRACT section 4's fields."""
    return {"snapshots": [{
        "id": r.id,
        "name": r.name,
        "creation_start_date": date_time(r.creation_start_date),
        "creation_end_date": date_time(r.creation_end_date),
        "status": r.status.value,
        "status_message": r.status_message or None,
        "created_from_generated_vm_name": r.generated_vm_name,
        "vim_id": r.vim_id,
        "tenant": r.tenant,
        "volume_snapshot_id": r.volume_snapshot_id,
    } for r in records]}


def snapshots_response(records: Sequence[SnapshotRecord], fmt: Format) -> web.Response:
    """The snapshot listing, always 200."""
    if fmt is Format.JSON:
        return _json(snapshots_json(records))
    return _xml(snapshots_element(records))


# ---- deployments ------------------------------------------------------------------------------------


def _vm_json(vm: VmRecord) -> dict[str, object]:
    return {
        "name": vm.name,
        "vm_id": vm.server_id,
        "vm_group": vm.group,
        "state": vm.state.value,
        "monitored": vm.monitored,
        "host_id": vm.host_id,
        "hostname": vm.hostname,
        "interfaces": [{"nicid": i.nicid, "network": i.network_id or i.network, "subnet": i.subnet_id,
                        "ip_address": i.ip_address, "mac_address": i.mac_address, "port_id": i.port_id,
                        "netmask": i.netmask, "gateway": i.gateway} for i in vm.interfaces],
    }


def _deployment_json(core: EscCore, dep: DeploymentRecord, vms: list[VmRecord]) -> dict[str, object]:
    return {
        "tenant": dep.tenant,
        "name": dep.name,
        "service_name": dep.service_name,
        "service_version": dep.service_version,
        "deployment_id": dep.dep_id,
        "service_id": dep.service_id or None,
        "state": dep.state.value,
        "busy_with": core.busy_with(dep.dep_id),
        "vms": [_vm_json(vm) for vm in vms],
    }


def _add(parent: etree._Element, name: str, value: object) -> None:
    if value is not None:
        etree.SubElement(parent, name).text = xml_text(str(value).lower() if isinstance(value, bool) else str(value))


def _to_xml(parent: etree._Element, data: dict[str, object]) -> None:
    """JSON-shaped ``data`` as child elements; a list ``xs`` becomes ``<xs><x>…</x></xs>``."""
    for key, value in data.items():
        if isinstance(value, list):
            container = etree.SubElement(parent, key)
            for item in value:
                if isinstance(item, dict):
                    _to_xml(etree.SubElement(container, key.removesuffix("s")), item)
        else:
            _add(parent, key, value)


def deployments_response(core: EscCore, deployments: Sequence[DeploymentRecord], fmt: Format) -> web.Response:
    """``GET /deployments``: each deployment with its state and its VMs."""
    grouped = core.vms_by_deployment()  # one pass over the VMs, not one per deployment
    data = [_deployment_json(core, dep, grouped.get(dep.dep_id, [])) for dep in deployments]
    if fmt is Format.JSON:
        return _json({"deployments": data})
    root = etree.Element("deployments")
    for item in data:
        _to_xml(etree.SubElement(root, "deployment"), item)
    return _xml(root)
