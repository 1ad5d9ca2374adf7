"""``EscEvent`` to the ``escEvent`` notification payload (CONTRACT section 3, the seed's examples).

Leaves whose value is unknown are left out rather than sent empty, so a client never has to tell
"no host yet" from an empty host name.

The payload is written as text (each value escaped) and parsed once by lxml, rather than built element by
element: lxml resolves the namespace of every ``SubElement`` it is given, and an event with two NICs, about
40 elements, took 128-139 us that way against 62 us as text (``bench/event_xml.py``). Every escEvent is
built on the event loop, 20,000 and more for a deploy of 10,000 VMs. A value that is not XML text (a
control character) fails here as it failed in ``SubElement``: with ``ValueError``.
"""

from __future__ import annotations

from lxml import etree

from esc_netconf.core.events import EscEvent, EventInterface
from esc_netconf.northbound.esc_xml import ESC_NS

_VM_SOURCE = ("vmid", "vmname", "generated_vmname", "vim_id", "vim_project", "vim_project_id", "hostid", "hostname")
_VM_TARGET = ("vmid", "hostid", "hostname")
_NIC = ("nicid", "type", "port_id", "network", "subnet", "ip_address", "mac_address", "netmask", "gateway")
#: Text from our own code only (the escaping above, no DOCTYPE): no entities to resolve, no network.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _escaped(text: str) -> str:
    """Character data; ``\r`` too, which a parser would read as a line end and hand back as ``\n``. (Chained
    ``replace`` calls: ``str.translate`` with a table of strings costs more than the whole element.)"""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _leaf(parts: list[str], name: str, value: object | None) -> None:
    if value is not None:
        parts.append(f"<{name}>{_escaped(str(value))}</{name}>")


def _interfaces(parts: list[str], interfaces: tuple[EventInterface, ...]) -> None:
    if not interfaces:
        return
    parts.append("<interfaces>")
    for nic in interfaces:
        parts.append("<interface>")
        for name in _NIC:
            _leaf(parts, name, getattr(nic, name))
        parts.append("</interface>")
    parts.append("</interfaces>")


def esc_event_element(event: EscEvent) -> etree._Element:
    """The ``escEvent`` element; ``vm_source`` and ``vm_target`` are always there, empty when not about a VM
    (as in ESC's guides).

    :raises ValueError: a value holds a character XML cannot carry.
    """
    parts = [f'<escEvent xmlns="{ESC_NS}">']
    _leaf(parts, "status", event.status.value)
    _leaf(parts, "status_code", event.status_code)
    _leaf(parts, "status_message", event.status_message)
    _leaf(parts, "depname", event.depname)
    _leaf(parts, "tenant", event.tenant)
    _leaf(parts, "tenant_id", event.tenant_id)
    _leaf(parts, "depid", event.depid)
    _leaf(parts, "vm_group", event.vm_group)
    for tag, vm, names in (("vm_source", event.vm_source, _VM_SOURCE), ("vm_target", event.vm_target, _VM_TARGET)):
        parts.append(f"<{tag}>")
        if vm is not None:
            for name in names:
                _leaf(parts, name, getattr(vm, name))
            _interfaces(parts, vm.interfaces)
        parts.append(f"</{tag}>")
    parts.append("<event>")
    _leaf(parts, "type", event.event_type.value)
    parts.append("</event></escEvent>")
    try:
        return etree.fromstring("".join(parts).encode(), _PARSER)
    except etree.XMLSyntaxError as exc:  # only a character XML 1.0 excludes gets here: the rest is escaped
        raise ValueError(f"an escEvent value is not XML text: {exc}") from exc
