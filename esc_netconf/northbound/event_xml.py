"""``EscEvent`` to the ``escEvent`` notification payload (CONTRACT section 3, the seed's examples).

Leaves whose value is unknown are left out rather than sent empty, so a client never has to tell
"no host yet" from an empty host name.

A deploy of 10,000 VMs publishes 20,000 escEvents and more, so the payload is a copy of a template with
every leaf in place, whose values are then set and whose unknown leaves are removed: lxml resolves the
namespace of every ``SubElement`` it is given, and an event with two NICs (about 40 elements) took 128-139 us
built node by node against 56 us copied (``bench/event_xml.py``); writing it as text and parsing that was
62 us. They are built on the notification hub's writer thread, where they are stored (``domain``), not on
the loop: the templates are only read there, and each copy is a document of its own.
"""

from __future__ import annotations

from copy import deepcopy

from lxml import etree

from esc_netconf.core.events import EscEvent, EventInterface, VmSource, VmTarget
from esc_netconf.northbound.esc_xml import ESC_NS, q
from esc_netconf.nsmap import default_namespace

_TOP = ("status", "status_code", "status_message", "depname", "tenant", "tenant_id", "depid", "vm_group")
_VM_SOURCE = ("vmid", "vmname", "generated_vmname", "vim_id", "vim_project", "vim_project_id", "hostid", "hostname")
_VM_TARGET = ("vmid", "hostid", "hostname")
_NIC = ("nicid", "type", "port_id", "network", "subnet", "ip_address", "mac_address", "netmask", "gateway")


def _template() -> etree._Element:
    root = etree.Element(q("escEvent"), nsmap=default_namespace(ESC_NS))
    for name in _TOP:
        etree.SubElement(root, q(name))
    for tag, names in (("vm_source", _VM_SOURCE), ("vm_target", _VM_TARGET)):
        vm = etree.SubElement(root, q(tag))
        for name in names:
            etree.SubElement(vm, q(name))
    etree.SubElement(etree.SubElement(root, q("event")), q("type"))
    return root


def _nic_template() -> etree._Element:
    row = etree.Element(q("interface"), nsmap=default_namespace(ESC_NS))
    for name in _NIC:
        etree.SubElement(row, q(name))
    return row


_EVENT = _template()
_INTERFACE = _nic_template()


def _fill(parent: etree._Element, leaves: list[etree._Element], values: list[object | None]) -> None:
    """Each leaf gets its value as text; a leaf whose value is unknown goes."""
    for leaf, value in zip(leaves, values):
        if value is None:
            parent.remove(leaf)
        else:
            leaf.text = str(value)


def _vm(element: etree._Element, vm: VmSource | VmTarget | None, names: tuple[str, ...]) -> None:
    if vm is None:
        for leaf in list(element):
            element.remove(leaf)
        return
    _fill(element, list(element), [getattr(vm, name) for name in names])
    if vm.interfaces:
        _interfaces(etree.SubElement(element, q("interfaces")), vm.interfaces)


def _interfaces(container: etree._Element, interfaces: tuple[EventInterface, ...]) -> None:
    for nic in interfaces:
        row = deepcopy(_INTERFACE)
        _fill(row, list(row), [getattr(nic, name) for name in _NIC])
        container.append(row)


def esc_event_element(event: EscEvent) -> etree._Element:
    """The ``escEvent`` element; ``vm_source`` and ``vm_target`` are always there, empty when not about a VM
    (as in ESC's guides).

    :raises ValueError: a value holds a character XML cannot carry.
    """
    root = deepcopy(_EVENT)
    children = list(root)
    _fill(root, children[:len(_TOP)], [event.status.value, event.status_code, event.status_message, event.depname,
                                       event.tenant, event.tenant_id, event.depid, event.vm_group])
    source, target, kind = children[len(_TOP):]
    _vm(source, event.vm_source, _VM_SOURCE)
    _vm(target, event.vm_target, _VM_TARGET)
    kind[0].text = event.event_type.value
    return root
