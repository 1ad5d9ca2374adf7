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
from copy import deepcopy

from lxml import etree

from esc_netconf.core.lifecycle import EscCore
from esc_netconf.core.model import DeploymentRecord, VmRecord
from esc_netconf.netconf.filters import ListLevel, ListScope
from esc_netconf.nsmap import default_namespace
from esc_netconf.northbound.esc_xml import ESC_NS, date_time, leaf, q


VmValues = tuple[object, ...]
"""Everything a ``vm_instance`` shows, as plain values: equal values render equal XML."""


def _vm_values(vm: VmRecord) -> VmValues:
    nics = tuple((n.nicid, n.port_id, n.network_id or n.network, n.subnet_id, n.ip_address, n.mac_address,
                  n.netmask, n.gateway) for n in sorted(vm.interfaces, key=lambda n: n.nicid))
    history = tuple((e.seq, e.time, e.type, e.detail) for e in vm.history)
    return vm.server_id, vm.name, vm.host_id, vm.hostname, nics, history


def _render_vm_instance(values: VmValues) -> etree._Element:
    server_id, name, host_id, hostname, nics, history = values
    instance = etree.Element(q("vm_instance"), nsmap=default_namespace(ESC_NS))
    leaf(instance, "vm_id", server_id)
    leaf(instance, "name", name)
    leaf(instance, "host_id", host_id)
    leaf(instance, "hostname", hostname)
    assert isinstance(nics, tuple) and isinstance(history, tuple)
    if nics:
        interfaces = etree.SubElement(instance, q("interfaces"))
        for nicid, port_id, network, subnet, ip_address, mac_address, netmask, gateway in nics:
            interface = etree.SubElement(interfaces, q("interface"))
            leaf(interface, "nicid", nicid)
            leaf(interface, "port_id", port_id)
            leaf(interface, "network", network)
            leaf(interface, "subnet", subnet)
            leaf(interface, "ip_address", ip_address)
            leaf(interface, "mac_address", mac_address)
            leaf(interface, "netmask", netmask)
            leaf(interface, "gateway", gateway)
    if history:
        history_el = etree.SubElement(instance, q("history"))
        for seq, time, type_, detail in history:
            row = etree.SubElement(history_el, q("entry"))
            leaf(row, "seq", seq)
            leaf(row, "time", date_time(time))
            leaf(row, "type", type_)
            leaf(row, "detail", detail or None)
    return instance


DeploymentValues = tuple[object, ...]
"""Everything a ``deployments`` entry shows (its VMs included), as plain values: equal values render equal XML."""


def _deployment_values(dep: DeploymentRecord, vms: list[VmRecord]) -> DeploymentValues:
    return (dep.name, dep.service_name, dep.service_version, dep.dep_id, dep.service_id or None, dep.state.value,
            tuple((vm.group, vm.state.value, _vm_values(vm)) for vm in vms))


def _render_deployment(values: DeploymentValues) -> etree._Element:
    name, service_name, service_version, dep_id, service_id, state, vms = values
    assert isinstance(vms, tuple)
    element = etree.Element(q("deployments"), nsmap=default_namespace(ESC_NS))
    leaf(element, "deployment_name", name)
    leaf(element, "service_name", service_name)
    leaf(element, "service_version", service_version)
    leaf(element, "deployment_id", dep_id)
    leaf(element, "service_id", service_id)
    machine = etree.SubElement(element, q("state_machine"))
    leaf(machine, "state", state)
    if vms:
        vm_machines = etree.SubElement(machine, q("vm_state_machines"))
        for _group, vm_state, vm in vms:
            row = etree.SubElement(vm_machines, q("vm_state_machine"))
            leaf(row, "vm_name", vm[1])
            leaf(row, "state", vm_state)
    groups: dict[str, list[VmValues]] = {}
    for group_name, _state, vm in vms:
        groups.setdefault(group_name, []).append(vm)
    for group_name in sorted(groups):
        group = etree.SubElement(element, q("vm_group"))
        leaf(group, "name", group_name)
        for vm in groups[group_name]:
            if vm[0] is not None:  # no server yet: the VM shows in vm_state_machines only (vm_id is its server id)
                group.append(_render_vm_instance(vm))
    return element


class _RenderedDeployments:
    """Rendered ``deployments`` entries by deployment id, each with the values it was rendered from.

    Rendering is most of what a full ``get`` costs (10,000 VMs make some 300,000 elements), while a
    deployment's values (its VMs' included) rarely change: one whose values equal the remembered ones gets a
    copy of its element (one C call), any other is rendered again. Equal values render equal XML, so the
    reply is what rendering afresh gives. Entries of deployments that are gone are dropped at the next build
    of every deployment.
    """

    def __init__(self) -> None:
        self._rendered: dict[str, tuple[DeploymentValues, etree._Element]] = {}

    def add(self, parent: etree._Element, dep: DeploymentRecord, vms: list[VmRecord]) -> None:
        values = _deployment_values(dep, vms)
        known = self._rendered.get(dep.dep_id)
        if known is None or known[0] != values:
            known = values, _render_deployment(values)
            self._rendered[dep.dep_id] = known
        parent.append(deepcopy(known[1]))

    def keep_only(self, dep_ids: set[str]) -> None:
        """Forget the deployments not in ``dep_ids`` (every deployment there is)."""
        for dep_id in [d for d in self._rendered if d not in dep_ids]:
            del self._rendered[dep_id]


#: ``opdata/status`` while the server serves (it renders opdata only then).
OPER_UP = "OPER_UP"


#: The lists a filter's scope is worked out for: tenants by name, then their deployments by name.
OPDATA_LEVELS = (
    ListLevel((q("esc_datamodel"), q("opdata"), q("tenants"), q("tenant")), q("name")),
    ListLevel((q("deployments"),), q("deployment_name")),
)

#: Above this many deployments (and for a build of all), their VMs are grouped in one pass over all VMs
#: rather than looked up one deployment at a time (each lookup scans every VM).
_GROUP_VMS_ABOVE = 4


class OpdataBuilder:
    """Builds ``<esc_datamodel><opdata>…`` from one core's records; one per server (it keeps rendered
    deployments)."""

    def __init__(self, core: EscCore) -> None:
        self._core = core
        self._deployments = _RenderedDeployments()

    def element(self, extra: Iterable[Callable[[etree._Element], None]] = (),
                scope: ListScope | None = None) -> etree._Element:
        """The opdata of the tenants and deployments in ``scope`` (None: every one the core knows);
        ``extra`` adds sibling subtrees."""
        core = self._core
        root = etree.Element(q("esc_datamodel"), nsmap=default_namespace(ESC_NS))
        opdata = etree.SubElement(root, q("opdata"))
        leaf(opdata, "status", OPER_UP)
        tenants_el = etree.SubElement(opdata, q("tenants"))
        tenants = [t for t in core.tenants() if scope is None or scope.wants(t.name)]
        chosen: list[tuple[etree._Element, list[DeploymentRecord]]] = []
        by_tenant: dict[str, list[DeploymentRecord]] | None = None
        for tenant in tenants:
            tenant_el = etree.SubElement(tenants_el, q("tenant"))
            leaf(tenant_el, "name", tenant.name)
            leaf(tenant_el, "tenant_id", tenant.project_id)
            inner = scope.inner(tenant.name) if scope is not None else None
            names = inner.keys() if inner is not None else None
            if names is not None:  # named deployments: looked up, not sorted out of all of them
                found = {d.dep_id: d for d in (core.find_deployment(tenant.name, n) for n in names) if d is not None}
                deps = sorted((d for d in found.values() if d.tenant == tenant.name and inner is not None
                               and inner.wants(d.name)), key=lambda d: d.name)
            else:
                if by_tenant is None:
                    by_tenant = {}
                    for dep in core.deployments():
                        by_tenant.setdefault(dep.tenant, []).append(dep)
                deps = [d for d in by_tenant.get(tenant.name, ()) if inner is None or inner.wants(d.name)]
            chosen.append((tenant_el, deps))
        many = scope is None or sum(len(deps) for _, deps in chosen) > _GROUP_VMS_ABOVE
        grouped = core.vms_by_deployment() if many else None
        for tenant_el, deps in chosen:
            for dep in deps:
                vms = grouped.get(dep.dep_id, []) if grouped is not None else core.vms(dep.dep_id)
                self._deployments.add(tenant_el, dep, vms)
        if scope is None:
            self._deployments.keep_only({dep.dep_id for _, deps in chosen for dep in deps})
        for add in extra:
            add(opdata)
        return root
