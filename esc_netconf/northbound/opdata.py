"""``esc_datamodel/opdata``: the core's records rendered as the YANG model's state tree.

Built fresh on each ``get`` from the core's in-memory records (no store access), so it is always the
state the core acts on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timezone

from lxml import etree

from esc_netconf.core.lifecycle import EscCore
from esc_netconf.core.model import DeploymentRecord, VmRecord
from esc_netconf.nsmap import default_namespace

ESC_NS = "http://www.cisco.com/esc/esc"


def _q(name: str) -> str:
    return f"{{{ESC_NS}}}{name}"


def _leaf(parent: etree._Element, name: str, value: object | None) -> None:
    if value is not None:
        etree.SubElement(parent, _q(name)).text = str(value)


def _vm_instance(parent: etree._Element, vm: VmRecord) -> None:
    instance = etree.SubElement(parent, _q("vm_instance"))
    _leaf(instance, "vm_id", vm.vm_id)
    _leaf(instance, "name", vm.name)
    _leaf(instance, "host_id", vm.host_id)
    _leaf(instance, "hostname", vm.hostname)
    if vm.interfaces:
        interfaces = etree.SubElement(instance, _q("interfaces"))
        for nic in sorted(vm.interfaces, key=lambda n: n.nicid):
            interface = etree.SubElement(interfaces, _q("interface"))
            _leaf(interface, "nicid", nic.nicid)
            _leaf(interface, "ip_address", nic.ip_address)
            _leaf(interface, "mac_address", nic.mac_address)
            _leaf(interface, "port_id", nic.port_id)
    if vm.history:
        history = etree.SubElement(instance, _q("history"))
        for entry in vm.history:
            row = etree.SubElement(history, _q("entry"))
            _leaf(row, "seq", entry.seq)
            _leaf(row, "time", entry.time.astimezone(timezone.utc).isoformat(timespec="milliseconds"))
            _leaf(row, "type", entry.type)
            _leaf(row, "detail", entry.detail or None)


def _deployment(parent: etree._Element, dep: DeploymentRecord, vms: list[VmRecord]) -> None:
    element = etree.SubElement(parent, _q("deployments"))
    _leaf(element, "deployment_name", dep.name)
    _leaf(element, "deployment_id", dep.dep_id)
    machine = etree.SubElement(element, _q("state_machine"))
    _leaf(machine, "state", dep.state.value)
    if vms:
        vm_machines = etree.SubElement(machine, _q("vm_state_machines"))
        for vm in vms:
            row = etree.SubElement(vm_machines, _q("vm_state_machine"))
            _leaf(row, "vm_name", vm.name)
            _leaf(row, "state", vm.state.value)
    groups: dict[str, list[VmRecord]] = {}
    for vm in vms:
        groups.setdefault(vm.group, []).append(vm)
    for group_name in sorted(groups):
        group = etree.SubElement(element, _q("vm_group"))
        _leaf(group, "name", group_name)
        for vm in groups[group_name]:
            _vm_instance(group, vm)


def opdata_element(core: EscCore, extra: Iterable[Callable[[etree._Element], None]] = ()) -> etree._Element:
    """``<esc_datamodel><opdata>…`` for every tenant the core knows; ``extra`` adds sibling subtrees."""
    root = etree.Element(_q("esc_datamodel"), nsmap=default_namespace(ESC_NS))
    opdata = etree.SubElement(root, _q("opdata"))
    tenants_el = etree.SubElement(opdata, _q("tenants"))
    for tenant in core.tenants():
        tenant_el = etree.SubElement(tenants_el, _q("tenant"))
        _leaf(tenant_el, "name", tenant.name)
        _leaf(tenant_el, "tenant_id", tenant.project_id)
        for dep in core.deployments(tenant.name):
            _deployment(tenant_el, dep, core.vms(dep.dep_id))
    for add in extra:
        add(opdata)
    return root
