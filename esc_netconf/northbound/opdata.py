"""``esc_datamodel/opdata``: the core's records rendered as the YANG model's state tree.

Shaped as ESC shows it: ``status`` (``OPER_UP``); each tenant from the moment it exists, with its VIM project
id as ``tenant_id``; ``deployments`` keyed by name, ``service_name`` and ``service_version`` (``-`` without a
service registration) with ``deployment_id`` and ``service_id``; each ``vm_instance`` keyed by the VIM's
server id, its NICs with their network and subnet ids.

Built fresh on each ``get`` from the core's in-memory records (no store access), so it is always the
state the core acts on. Only what the ``get``'s filter can reach is built: its :class:`ListScope` over
tenants and their deployments (``OPDATA_LEVELS``) names the entries, and the filter then runs on that
smaller tree, with the same result as on the whole one (``netconf.filters.list_scope`` says why).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from lxml import etree

from esc_netconf.core.lifecycle import EscCore
from esc_netconf.core.model import DeploymentRecord, VmRecord
from esc_netconf.netconf.filters import ListLevel, ListScope
from esc_netconf.nsmap import default_namespace
from esc_netconf.northbound.esc_xml import ESC_NS, date_time, leaf, q


def _vm_instance(parent: etree._Element, vm: VmRecord) -> None:
    if vm.server_id is None:
        return  # no server yet: the VM shows in vm_state_machines only (vm_id is the VIM's server id)
    instance = etree.SubElement(parent, q("vm_instance"))
    leaf(instance, "vm_id", vm.server_id)
    leaf(instance, "name", vm.name)
    leaf(instance, "host_id", vm.host_id)
    leaf(instance, "hostname", vm.hostname)
    if vm.interfaces:
        interfaces = etree.SubElement(instance, q("interfaces"))
        for nic in sorted(vm.interfaces, key=lambda n: n.nicid):
            interface = etree.SubElement(interfaces, q("interface"))
            leaf(interface, "nicid", nic.nicid)
            leaf(interface, "port_id", nic.port_id)
            leaf(interface, "network", nic.network_id or nic.network)
            leaf(interface, "subnet", nic.subnet_id)
            leaf(interface, "ip_address", nic.ip_address)
            leaf(interface, "mac_address", nic.mac_address)
            leaf(interface, "netmask", nic.netmask)
            leaf(interface, "gateway", nic.gateway)
    if vm.history:
        history = etree.SubElement(instance, q("history"))
        for entry in vm.history:
            row = etree.SubElement(history, q("entry"))
            leaf(row, "seq", entry.seq)
            leaf(row, "time", date_time(entry.time))
            leaf(row, "type", entry.type)
            leaf(row, "detail", entry.detail or None)


def _deployment(parent: etree._Element, dep: DeploymentRecord, vms: list[VmRecord]) -> None:
    element = etree.SubElement(parent, q("deployments"))
    leaf(element, "deployment_name", dep.name)
    leaf(element, "service_name", dep.service_name)
    leaf(element, "service_version", dep.service_version)
    leaf(element, "deployment_id", dep.dep_id)
    leaf(element, "service_id", dep.service_id or None)
    machine = etree.SubElement(element, q("state_machine"))
    leaf(machine, "state", dep.state.value)
    if vms:
        vm_machines = etree.SubElement(machine, q("vm_state_machines"))
        for vm in vms:
            row = etree.SubElement(vm_machines, q("vm_state_machine"))
            leaf(row, "vm_name", vm.name)
            leaf(row, "state", vm.state.value)
    groups: dict[str, list[VmRecord]] = {}
    for vm in vms:
        groups.setdefault(vm.group, []).append(vm)
    for group_name in sorted(groups):
        group = etree.SubElement(element, q("vm_group"))
        leaf(group, "name", group_name)
        for vm in groups[group_name]:
            _vm_instance(group, vm)


#: ``opdata/status`` while the server serves (it renders opdata only then).
OPER_UP = "OPER_UP"


#: The lists a filter's scope is worked out for: tenants by name, then their deployments by name.
OPDATA_LEVELS = (
    ListLevel((q("esc_datamodel"), q("opdata"), q("tenants"), q("tenant")), q("name")),
    ListLevel((q("deployments"),), q("deployment_name")),
)

#: Above this many deployments, their VMs are grouped in one pass over all VMs rather than looked up one
#: deployment at a time (each lookup scans every VM).
_GROUP_VMS_ABOVE = 4


def opdata_element(core: EscCore, extra: Iterable[Callable[[etree._Element], None]] = (),
                   scope: ListScope | None = None) -> etree._Element:
    """``<esc_datamodel><opdata>…`` for the tenants and deployments in ``scope`` (None: every one the core
    knows); ``extra`` adds sibling subtrees."""
    root = etree.Element(q("esc_datamodel"), nsmap=default_namespace(ESC_NS))
    opdata = etree.SubElement(root, q("opdata"))
    leaf(opdata, "status", OPER_UP)
    tenants_el = etree.SubElement(opdata, q("tenants"))
    tenants = [t for t in core.tenants() if scope is None or scope.wants(t.name)]
    chosen: list[tuple[etree._Element, list[DeploymentRecord]]] = []
    by_tenant: dict[str, list[DeploymentRecord]] = {}
    if tenants:
        for dep in core.deployments():
            by_tenant.setdefault(dep.tenant, []).append(dep)
    for tenant in tenants:
        tenant_el = etree.SubElement(tenants_el, q("tenant"))
        leaf(tenant_el, "name", tenant.name)
        leaf(tenant_el, "tenant_id", tenant.project_id)
        inner = scope.inner(tenant.name) if scope is not None else None
        deps = [d for d in by_tenant.get(tenant.name, ()) if inner is None or inner.wants(d.name)]
        chosen.append((tenant_el, deps))
    if sum(len(deps) for _, deps in chosen) > _GROUP_VMS_ABOVE:
        grouped = core.vms_by_deployment()
        vms_of: Callable[[str], list[VmRecord]] = lambda dep_id: grouped.get(dep_id, [])
    else:
        vms_of = core.vms
    for tenant_el, deps in chosen:
        for dep in deps:
            _deployment(tenant_el, dep, vms_of(dep.dep_id))
    for add in extra:
        add(opdata)
    return root
