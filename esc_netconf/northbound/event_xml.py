"""``EscEvent`` to the ``escEvent`` notification payload (CONTRACT section 3, the seed's examples).

Leaves whose value is unknown are left out rather than sent empty, so a client never has to tell
"no host yet" from an empty host name.
"""

from __future__ import annotations

from lxml import etree

from esc_netconf.core.events import EscEvent, EventInterface
from esc_netconf.nsmap import default_namespace
from esc_netconf.northbound.esc_xml import ESC_NS, leaf, q


def _interfaces(parent: etree._Element, interfaces: tuple[EventInterface, ...]) -> None:
    if not interfaces:
        return
    container = etree.SubElement(parent, q("interfaces"))
    for nic in interfaces:
        row = etree.SubElement(container, q("interface"))
        for name in ("nicid", "type", "port_id", "network", "subnet", "ip_address", "mac_address", "netmask",
                     "gateway"):
            leaf(row, name, getattr(nic, name))


def esc_event_element(event: EscEvent) -> etree._Element:
    """The ``escEvent`` element; ``vm_source`` and ``vm_target`` are always there, empty when not about a VM
    (as in ESC's guides)."""
    root = etree.Element(q("escEvent"), nsmap=default_namespace(ESC_NS))
    leaf(root, "status", event.status.value)
    leaf(root, "status_code", event.status_code)
    leaf(root, "status_message", event.status_message)
    leaf(root, "depname", event.depname)
    leaf(root, "tenant", event.tenant)
    leaf(root, "tenant_id", event.tenant_id)
    leaf(root, "depid", event.depid)
    leaf(root, "vm_group", event.vm_group)
    vm = etree.SubElement(root, q("vm_source"))
    source = event.vm_source
    if source is not None:
        for name in ("vmid", "vmname", "generated_vmname", "vim_id", "vim_project", "vim_project_id", "hostid",
                     "hostname"):
            leaf(vm, name, getattr(source, name))
        _interfaces(vm, source.interfaces)
    target_el = etree.SubElement(root, q("vm_target"))
    target = event.vm_target
    if target is not None:
        for name in ("vmid", "hostid", "hostname"):
            leaf(target_el, name, getattr(target, name))
        _interfaces(target_el, target.interfaces)
    kind = etree.SubElement(root, q("event"))
    leaf(kind, "type", event.event_type.value)
    return root
