"""``EscEvent`` to the ``escEvent`` notification payload (CONTRACT section 3, the seed's examples).

Leaves whose value is unknown are left out rather than sent empty, so a client never has to tell
"no host yet" from an empty host name.
"""

from __future__ import annotations

from lxml import etree

from esc_netconf.core.events import EscEvent
from esc_netconf.nsmap import default_namespace

ESC_NS = "http://www.cisco.com/esc/esc"


def _q(name: str) -> str:
    return f"{{{ESC_NS}}}{name}"


def _leaf(parent: etree._Element, name: str, value: object | None) -> None:
    if value is not None:
        etree.SubElement(parent, _q(name)).text = str(value)


def esc_event_element(event: EscEvent) -> etree._Element:
    root = etree.Element(_q("escEvent"), nsmap=default_namespace(ESC_NS))
    _leaf(root, "status", event.status.value)
    _leaf(root, "status_code", event.status_code)
    _leaf(root, "status_message", event.status_message)
    _leaf(root, "depname", event.depname)
    _leaf(root, "tenant", event.tenant)
    _leaf(root, "tenant_id", event.tenant_id)
    _leaf(root, "depid", event.depid)
    _leaf(root, "vm_group", event.vm_group)
    source = event.vm_source
    if source is not None:
        vm = etree.SubElement(root, _q("vm_source"))
        for name in ("vmid", "vmname", "generated_vmname", "vim_id", "vim_project", "vim_project_id", "hostid", "hostname"):
            _leaf(vm, name, getattr(source, name))
    kind = etree.SubElement(root, _q("event"))
    _leaf(kind, "type", event.event_type.value)
    return root
